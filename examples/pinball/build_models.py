"""Build the pinball dbt project into the eventlake warehouse (seeds, models, data tests).

The published DuckDB file is never opened for writing: the build runs on a private copy
inside ``write_transaction`` and is published atomically only if every model and test
passed. Usage, after ``eventlake sources api run pinball``::

    python examples/pinball/build_models.py --warehouse examples/pinball/data/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from eventlake.errors import ModelBuildError
from eventlake.warehouse.duckdb import write_transaction

__all__ = ["PROJECT_DIR", "build", "main"]

PROJECT_DIR = Path(__file__).resolve().parent / "dbt"


def build(warehouse: Path, work_dir: Path | None = None, threads: int = 2) -> list[str]:
    """``dbt build`` the pinball project into ``warehouse``; returns the nodes that ran.

    Raises:
        ModelBuildError: a model or data test failed (named); nothing is published.
    """
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(work_dir or tmp)
        with write_transaction(Path(warehouse)) as db:
            profiles = work / "profiles"
            profiles.mkdir(parents=True, exist_ok=True)
            (profiles / "profiles.yml").write_text(
                "pinball:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                f"      path: '{db}'\n      schema: main\n      threads: {threads}\n"
            )
            try:
                res = dbtRunner().invoke(
                    [
                        "build",
                        "--project-dir",
                        str(PROJECT_DIR),
                        "--profiles-dir",
                        str(profiles),
                        "--target-path",
                        str(work / "target"),
                        "--log-path",
                        str(work / "logs"),
                        "--quiet",
                    ]
                )
            finally:
                _close_duckdb_connection()
            results = list(getattr(res.result, "results", None) or [])
            failed = [r.node.name for r in results if str(r.status) in _FAILED]
            if res.exception is not None or not res.success or failed:
                detail = ", ".join(failed) or str(res.exception)
                raise ModelBuildError(f"pinball dbt build failed: {detail}")
            return [r.node.name for r in results]


_FAILED = {"error", "fail", "runtime error"}


def _close_duckdb_connection() -> None:
    """dbt-duckdb keeps one connection per process; close it so the copy can be published."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            try:
                env.close()
            finally:
                DuckDBConnectionManager._ENV = None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build the pinball dbt project.")
    ap.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    a = ap.parse_args(argv)
    nodes = build(a.warehouse)
    print(f"built {len(nodes)} nodes into {a.warehouse}")


if __name__ == "__main__":
    main()
