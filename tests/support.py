"""Helper modules of the tests, loaded by file path (tests/ is no package).

The root conftest.py registers this module as ``eventlake_tests_support``; a conftest or test
module then writes ``import eventlake_tests_support as support`` and asks for a helper.
Each helper is loaded once, under a stable name in ``sys.modules``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parent


def load_helper(name: str, path: Path) -> ModuleType:
    """The module at ``path``, imported once as ``name``."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def lakedata() -> ModuleType:
    """tests/unit/warehouse/lakedata.py: a writer that commits to a lake like the lander."""
    return load_helper("eventlake_tests_lakedata", TESTS / "unit" / "warehouse" / "lakedata.py")


def serving() -> ModuleType:
    """tests/integration/serve/serving.py: a sample warehouse and the serve app in a thread."""
    return load_helper("eventlake_tests_serving", TESTS / "integration" / "serve" / "serving.py")


def api_support() -> ModuleType:
    """tests/integration/sources/api_support.py: the pinball API in a thread, settings."""
    return load_helper(
        "eventlake_tests_api_support", TESTS / "integration" / "sources" / "api_support.py"
    )


def students() -> ModuleType:
    """examples/students/student_data.py: the student CSV generator and the five questions."""
    return load_helper(
        "eventlake_tests_student_data", TESTS.parent / "examples" / "students" / "student_data.py"
    )


def project_settings(project: Path, lake: Path, **warehouse: Any) -> Any:
    """Settings of a throwaway project on ``lake`` with the default tracking plan, one
    warehouse thread (``warehouse`` adds warehouse settings: backend, url...)."""
    import eventlake
    from eventlake.config import Settings

    plan = Path(eventlake.__file__).parent / "templates" / "tracking-plan.yaml"
    project.mkdir(parents=True, exist_ok=True)
    (project / "tracking-plan.yaml").write_text(plan.read_text(encoding="utf-8"))
    return Settings(
        base_dir=project,
        lake={"path": str(lake)},
        warehouse={"threads": 1, **warehouse},
        models={"user_models_dir": None},
    )


def new_postgres_database(url: str, prefix: str = "db") -> str:
    """A new empty database in the cluster of ``url`` (the ``postgres_url`` fixture's);
    returns its URL."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + "/" + name


def build_duckdb_in_place(db: Path, settings: Any, **kwargs: Any) -> Any:
    """The dbt build on the DuckDB file ``db`` itself, no write transaction (the model tests
    own their file): ``build_models`` with the settings' DbtConfig and DuckDB's target."""
    from eventlake.warehouse.dbt import build_models
    from eventlake.warehouse.dbt_project import DbtConfig
    from eventlake.warehouse.duckdb import DuckDBDbtTarget

    target = DuckDBDbtTarget(db, settings.warehouse.threads)
    return build_models(DbtConfig.from_settings(settings), target, **kwargs)


def reset_spark(settings: Any) -> None:
    """Empty the Spark catalog of ``settings`` (every database but ``default``) and forget
    the last publish: the shared session's metastore as a fresh warehouse."""
    from eventlake.warehouse.factory import resolved_config
    from eventlake.warehouse.spark import PUBLISHED_FILE, spark_session

    config = resolved_config(settings.warehouse, settings.base_dir)
    spark = spark_session(config)
    for db in spark.catalog.listDatabases():
        if db.name != "default":
            spark.sql(f"DROP DATABASE IF EXISTS `{db.name}` CASCADE")
    (Path(config.spark_dir) / PUBLISHED_FILE).unlink(missing_ok=True)


def run_cli(project: Path, env: dict[str, str], *args: str, timeout: float = 600) -> str:
    """``python -m eventlake ARGS`` in ``project``; its stdout (a non-zero exit fails)."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "eventlake", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"eventlake {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@contextlib.contextmanager
def serve_process(project: Path, env: dict[str, str], timeout: float = 30) -> Iterator[str]:
    """``eventlake serve`` in ``project`` on a free port; yields its URL once ``/healthz``
    answers 200, and stops it after."""
    import subprocess
    import tempfile
    import time

    import httpx

    port = api_support().free_port()
    log = tempfile.TemporaryFile()  # not a pipe: an unread pipe would block serve's logging
    serve = subprocess.Popen(
        [sys.executable, "-m", "eventlake", "serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if serve.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                err = log.read().decode(errors="replace")
                raise RuntimeError(f"eventlake serve did not start: {err[-4000:]}")
            time.sleep(0.2)
        yield url
    finally:
        serve.terminate()
        serve.wait(15)
        log.close()


def check_previous_reads(settings: Any) -> dict[str, Any]:
    """Assert that every model reading another's previous rows (``previous_relation``) is
    that model's ancestor in the built project's manifest, so dbt runs the other one after
    it and the rows are the last run's; at least three such reads exist. Returns the
    manifest."""
    import json
    import re

    project = settings.resolve(settings.models.dbt_dir) / "project"
    manifest: dict[str, Any] = json.loads(
        (project / "target" / "manifest.json").read_text(encoding="utf-8")
    )
    parents: dict[str, list[str]] = manifest["parent_map"]

    def ancestors(node: str) -> set[str]:
        seen: set[str] = set()
        todo = list(parents.get(node, []))
        while todo:
            parent = todo.pop()
            if parent not in seen:
                seen.add(parent)
                todo.extend(parents.get(parent, []))
        return seen

    reads = 0
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        for name in re.findall(r"previous_relation\('(\w+)'\)", node["raw_code"]):
            reads += 1
            assert unique_id in ancestors(f"model.eventlake.{name}"), (node["name"], name)
    assert reads >= 3
    return manifest
