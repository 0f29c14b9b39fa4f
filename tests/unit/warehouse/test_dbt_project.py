"""The dbt working folder: mirrored project, user models, generated profile, vars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from eventlake.config import ModelsConfig, Settings, WarehouseConfig
from eventlake.errors import ConfigError
from eventlake.warehouse import open_warehouse
from eventlake.warehouse.dbt_project import (
    PACKAGED_PROJECT,
    USER_MODELS_FOLDER,
    DbtConfig,
    build_vars,
    prepare_project,
    tracking_plan_var,
    write_profile,
)
from eventlake.warehouse.duckdb import DuckDBDbtTarget
from eventlake.warehouse.postgres import PostgresDbtTarget

PLAN = """
unplanned_events: allow
events:
  Item Purchased:
    properties:
      item: {type: string, required: true, allowed: [sword, bow]}
      price: {type: number, required: true}
  Level Completed:
    properties:
      level: {type: integer}
"""


def _settings(tmp_path: Path, **models: object) -> DbtConfig:
    settings = Settings(base_dir=tmp_path, models=ModelsConfig(**models))  # type: ignore[arg-type]
    return DbtConfig.from_settings(settings)


def test_packaged_project_has_every_layer() -> None:
    for folder in ("staging", "marts", "metrics", "intermediate"):
        assert list((PACKAGED_PROJECT / "models" / folder).glob("*.sql"))
    config = yaml.safe_load((PACKAGED_PROJECT / "dbt_project.yml").read_text())
    assert config["name"] == "eventlake" and config["profile"] == "eventlake"


def test_prepare_project_mirrors_package_without_user_models(tmp_path: Path) -> None:
    project = prepare_project(_settings(tmp_path, user_models_dir=None))
    assert project == tmp_path / "data" / "dbt" / "project"
    assert (project / "models" / "staging" / "stg_events.sql").read_bytes() == (
        PACKAGED_PROJECT / "models" / "staging" / "stg_events.sql"
    ).read_bytes()
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    assert config["model-paths"] == ["models"]


def test_prepare_project_adds_user_models_and_removes_stale_ones(tmp_path: Path) -> None:
    user = tmp_path / "models"
    user.mkdir()
    (user / "mine.sql").write_text("select 1 as x")
    settings = _settings(tmp_path)
    project = prepare_project(settings)
    assert (project / USER_MODELS_FOLDER / "mine.sql").read_text() == "select 1 as x"
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    assert config["model-paths"] == ["models", USER_MODELS_FOLDER]
    (user / "mine.sql").unlink()
    (user / "other.sql").write_text("select 2 as y")
    prepare_project(settings)
    assert not (project / USER_MODELS_FOLDER / "mine.sql").exists()
    assert (project / USER_MODELS_FOLDER / "other.sql").exists()
    for path in list(user.iterdir()):
        path.unlink()
    user.rmdir()
    prepare_project(settings)
    assert not (project / USER_MODELS_FOLDER).exists()


def test_prepare_project_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    settings = _settings(tmp_path, user_models_dir=None)
    project = prepare_project(settings)
    target = project / "models" / "staging" / "stg_events.sql"
    before = target.stat().st_mtime_ns
    (project / "target").mkdir()
    (project / "target" / "partial_parse.msgpack").write_bytes(b"x")
    prepare_project(settings)
    assert target.stat().st_mtime_ns == before
    assert (project / "target" / "partial_parse.msgpack").exists()


def test_profile_points_at_the_working_copy(tmp_path: Path) -> None:
    config = _settings(tmp_path)
    db = tmp_path / "warehouse.duckdb.next"
    target = DuckDBDbtTarget(db, threads=2)
    folder = write_profile(config.dbt_dir, target.name, target.profile_output())
    profile = yaml.safe_load((folder / "profiles.yml").read_text())
    output = profile["eventlake"]["outputs"][profile["eventlake"]["target"]]
    assert profile["eventlake"]["target"] == "duckdb"
    assert output["type"] == "duckdb"
    assert output["path"] == str(db.resolve())
    assert output["settings"]["TimeZone"] == "UTC"


def test_every_engine_writes_its_own_profile_target(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="warehouse.url"):
        open_warehouse(Settings(base_dir=tmp_path, warehouse=WarehouseConfig(backend="postgres")))
    target = PostgresDbtTarget("postgresql://u@h/d", threads=3)
    folder = write_profile(tmp_path / "dbt", target.name, target.profile_output())
    profile = yaml.safe_load((folder / "profiles.yml").read_text())
    assert profile["eventlake"]["target"] == "postgres"
    assert profile["eventlake"]["outputs"]["postgres"]["type"] == "postgres"


def test_tracking_plan_var_keeps_types_and_allowed_values(tmp_path: Path) -> None:
    (tmp_path / "tracking-plan.yaml").write_text(PLAN)
    plan = tracking_plan_var(_settings(tmp_path).tracking_plan)
    assert plan["Item Purchased"]["properties"]["item"] == {
        "type": "string",
        "allowed": ["sword", "bow"],
    }
    assert plan["Level Completed"]["properties"]["level"] == {"type": "integer"}


def test_tracking_plan_var_without_a_plan_is_empty(tmp_path: Path) -> None:
    assert tracking_plan_var(_settings(tmp_path).tracking_plan) == {}


def test_tracking_plan_var_names_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "tracking-plan.yaml").write_text("events: [unclosed")
    with pytest.raises(ConfigError, match="tracking-plan.yaml"):
        tracking_plan_var(_settings(tmp_path).tracking_plan)


def test_build_vars_carry_changed_days_and_session_timeout(tmp_path: Path) -> None:
    settings = _settings(tmp_path, session_timeout_minutes=45)
    data = json.loads(build_vars(settings, ["2026-03-01"]))
    assert data["changed_days"] == ["2026-03-01"]
    assert data["session_timeout_minutes"] == 45
    assert json.loads(build_vars(settings, None))["changed_days"] is None


@pytest.mark.parametrize(
    "module",
    ["eventlake.warehouse.dbt", "eventlake.warehouse.dbt_project", "eventlake.warehouse.catalog"],
)
def test_models_modules_document_their_role_and_public_names(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


def test_importing_the_build_module_does_not_import_dbt() -> None:
    import subprocess
    import sys

    code = "import sys, eventlake.warehouse.dbt; print('dbt.cli' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
