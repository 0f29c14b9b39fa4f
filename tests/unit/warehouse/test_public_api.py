"""Every public name of the warehouse and pipeline packages is importable and documented."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "eventlake.warehouse",
        "eventlake.warehouse.raw",
        "eventlake.warehouse.base",
        "eventlake.warehouse.factory",
        "eventlake.warehouse.duckdb",
        "eventlake.warehouse.postgres",
        "eventlake.warehouse.spark",
        "eventlake.warehouse.query",
        "eventlake.warehouse.sample",
        "eventlake.serve.data",
        "eventlake.pipeline",
        "eventlake.pipeline.results",
        "eventlake.pipeline.state",
        "eventlake.pipeline.run",
        "eventlake.pipeline.status",
        "eventlake.cli.pipeline",
    ],
)
def test_public_names_exist_and_modules_say_their_role(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


def test_pipeline_verbs_are_registered_in_the_cli() -> None:
    from eventlake.cli import COMMANDS

    for verb in ("build", "run", "backfill", "status", "query"):
        module, _, attr = COMMANDS[verb][0].partition(":")
        assert getattr(importlib.import_module(module), attr).name == verb


def test_importing_the_warehouse_imports_no_engine(tmp_path) -> None:
    """Engines are imported by the engine module that needs them, when it needs them: not by
    importing the warehouse, serve, the CLI or the demo, nor by building the serve app
    before its first query (a PostgreSQL reader imports its driver, nothing else)."""
    import subprocess
    import sys

    code = (
        "import sys, eventlake.warehouse, eventlake.warehouse.duckdb, "
        "eventlake.warehouse.postgres, eventlake.warehouse.spark, eventlake.pipeline, "
        "eventlake.serve, eventlake.serve.app, eventlake.serve.api, eventlake.serve.data, "
        "eventlake.cli, eventlake.cli.pipeline, eventlake.cli.serve, eventlake.demo\n"
        "from eventlake.config import load_config\n"
        "from eventlake.serve import create_app\n"
        "def engines():\n"
        "    return sorted(m for m in ('duckdb', 'psycopg', 'psycopg_pool', 'pyspark', 'dbt')"
        " if m in sys.modules)\n"
        "print(engines())\n"
        f"base = {str(tmp_path)!r}\n"
        "create_app(load_config(None, base_dir=base, serve={'query_enabled': True, "
        "'query_token': 't'}))\n"
        "create_app(load_config(None, base_dir=base, warehouse={'backend': 'spark'}))\n"
        "print(engines())\n"
        "create_app(load_config(None, base_dir=base, warehouse={'backend': 'postgres', "
        "'url': 'postgresql://u@127.0.0.1:1/db'}))\n"
        "print(engines())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["[]", "[]", "['psycopg', 'psycopg_pool']"]


def test_only_the_factory_reads_the_backend_setting() -> None:
    """No module outside eventlake/warehouse/factory.py branches on warehouse.backend, and
    neither the pipeline nor the sources hold SQL or import an engine module: they reach
    the warehouse through ``open_warehouse`` and its protocol."""
    import re
    from pathlib import Path

    import eventlake

    root = Path(eventlake.__file__).parent
    readers = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel == "warehouse/factory.py":
            continue
        if re.search(
            r"warehouse\.backend\s*(==|!=|in\b)|\bbackend\s*==\s*['\"](duckdb|postgres|spark)",
            path.read_text(),
        ):
            readers.append(rel)
    assert readers == []
    sql = re.compile(r"\b(SELECT|INSERT|DELETE|CREATE|duckdb_tables)\b.*\b(FROM|INTO|TABLE)\b")
    engines = re.compile(
        r"^\s*(import|from)\s+(duckdb|psycopg|pyspark|eventlake\.warehouse\.(duckdb|postgres|"
        r"spark|_\w+))\b",
        re.MULTILINE,
    )
    stages = [*(root / "pipeline").rglob("*.py"), *(root / "sources").rglob("*.py")]
    assert stages and any(p.parent.name == "csv" for p in stages)
    for path in stages:
        text = path.read_text()
        assert not sql.search(text), f"SQL in {path.relative_to(root)}"
        assert not engines.search(text), f"an engine imported in {path.relative_to(root)}"


def test_serve_cli_and_demo_know_no_engine() -> None:
    """serve/, cli/ and demo.py read the warehouse through ``open_warehouse(...).reader()``:
    they import no engine, use no engine's classes and never ask which engine it is."""
    import re
    from pathlib import Path

    import eventlake

    root = Path(eventlake.__file__).parent
    files = [*(root / "serve").rglob("*.py"), *(root / "cli").rglob("*.py"), root / "demo.py"]
    engine_import = re.compile(
        r"^\s*(import|from)\s+(duckdb|psycopg|psycopg_pool|pyspark)\b"
        r"|^\s*from\s+eventlake\.warehouse\.(duckdb|postgres|spark|_\w+)\s+import",
        re.MULTILINE,
    )
    engine_use = re.compile(r"\b(duckdb|psycopg|pyspark)\.[A-Za-z_]+")
    branch = re.compile(
        r"\bengine\s*(==|!=|in\b)|warehouse\.backend|\bbackend\s*==|"
        r"isinstance\([^)]*(DuckDB|Postgres|Spark)\w*"
    )
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in (engine_import, engine_use, branch):
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(root)}: {match.group(0).strip()}")
    assert found == []
