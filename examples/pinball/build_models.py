"""Build the pinball dbt project into the eventlake warehouse (seeds, models, data tests).

The build runs inside one write transaction of the project's warehouse, whatever its engine
(``eventlake.warehouse.open_warehouse``: DuckDB, PostgreSQL or Spark), with the dbt target
that engine gives (``tx.dbt_target()``). On DuckDB the published file is never opened for
writing: the build runs on a private copy, published atomically only if every model and
test passed; on PostgreSQL dbt swaps each model in. Usage, after
``eventlake sources api run pinball``, from this folder::

    python build_models.py                      # the warehouse of ./eventlake.toml
    python build_models.py -c path/to/eventlake.toml
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import yaml

from eventlake.config import Settings, load_config
from eventlake.errors import ModelBuildError
from eventlake.warehouse import open_warehouse

__all__ = ["PROJECT_DIR", "build", "main"]

PROJECT_DIR = Path(__file__).resolve().parent / "dbt"


def build(settings: Settings, work_dir: Path | None = None) -> list[str]:
    """``dbt build`` the pinball project into the warehouse of ``settings``; returns the
    nodes that ran.

    Raises:
        ModelBuildError: a model or data test failed (named); on DuckDB nothing is
            published.
    """
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(work_dir or tmp)
        with open_warehouse(settings).transaction() as tx:
            target = tx.dbt_target()
            profiles = work / "profiles"
            profiles.mkdir(parents=True, exist_ok=True)
            profile = {"pinball": {"target": "dev", "outputs": {"dev": target.profile_output()}}}
            (profiles / "profiles.yml").write_text(yaml.safe_dump(profile), encoding="utf-8")
            target.before_build()
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
                target.after_build()
            results = list(getattr(res.result, "results", None) or [])
            failed = [r.node.name for r in results if str(r.status) in _FAILED]
            if res.exception is not None or not res.success or failed:
                detail = ", ".join(failed) or str(res.exception)
                raise ModelBuildError(f"pinball dbt build failed: {detail}")
            return [r.node.name for r in results]


_FAILED = {"error", "fail", "runtime error"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build the pinball dbt project.")
    ap.add_argument("-c", "--config", type=Path, default=Path("eventlake.toml"))
    a = ap.parse_args(argv)
    settings = load_config(a.config)
    nodes = build(settings)
    print(f"built {len(nodes)} nodes into the {settings.warehouse.backend} warehouse")


if __name__ == "__main__":
    main()
