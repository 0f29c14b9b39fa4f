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


def test_without_events_our_models_seeds_and_tests_are_off_but_not_the_users(
    tmp_path: Path,
) -> None:
    own = tmp_path / "models" / "staging"
    own.mkdir(parents=True)
    (own / "stg_players.sql").write_text("select 1 as player_id\n")
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "calendar.csv").write_text("month_start\n2026-01-01\n")
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "mine.sql").write_text("{% macro mine() %}1{% endmacro %}\n")
    config = _settings(tmp_path, events="off")
    assert config.events is False
    project = prepare_project(config)
    yml = yaml.safe_load((project / "dbt_project.yml").read_text())
    assert yml["model-paths"] == ["models", "user_models"]
    assert yml["seed-paths"] == ["seeds", "user_seeds"]
    assert yml["macro-paths"] == ["macros", "user_macros"]
    assert (project / "user_seeds" / "calendar.csv").is_file()
    assert (project / "user_macros" / "mine.sql").is_file()
    staging = yml["models"]["eventlake"]["staging"]
    # ours by name; the folder keeps its schema for the user's stg_players
    assert staging["stg_events"] == {"+enabled": False} and "+enabled" not in staging
    assert staging["+schema"] == "staging" and "stg_players" not in staging
    assert yml["models"]["eventlake"]["metrics"]["daily_active_users"] == {"+enabled": False}
    assert yml["seeds"]["eventlake"]["exchange_rates"]["+enabled"] is False
    assert yml["data_tests"]["eventlake"]["identity_map_converged"] == {"+enabled": False}
    disabled = sum(
        1
        for section in ("intermediate", "staging", "marts", "metrics")
        for v in yml["models"]["eventlake"][section].values()
        if v == {"+enabled": False}
    )
    assert disabled == len(list((PACKAGED_PROJECT / "models").rglob("*.sql")))
    # on again: nothing disabled, the user's folders stay listed
    project = prepare_project(_settings(tmp_path, events="on"))
    yml = yaml.safe_load((project / "dbt_project.yml").read_text())
    assert "data_tests" not in yml and "stg_events" not in yml["models"]["eventlake"]["staging"]
    assert yml["seed-paths"] == ["seeds", "user_seeds"]


def test_a_removed_user_seeds_folder_leaves_the_mirror(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "x.csv").write_text("a\n1\n")
    project = prepare_project(_settings(tmp_path))
    assert (project / "user_seeds" / "x.csv").is_file()
    (tmp_path / "seeds" / "x.csv").unlink()
    (tmp_path / "seeds").rmdir()
    project = prepare_project(_settings(tmp_path))
    assert not (project / "user_seeds").exists()
    assert yaml.safe_load((project / "dbt_project.yml").read_text())["seed-paths"] == ["seeds"]
