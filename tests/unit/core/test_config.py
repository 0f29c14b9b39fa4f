"""The typed configuration: file, environment overrides, errors, documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlake.config import load_config, settings_reference
from eventlake.errors import ConfigError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_defaults_without_a_file_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_config()
    assert s.collect.host == "127.0.0.1"
    assert s.lake_uri() == str(tmp_path / "data" / "lake")
    assert s.resolve(s.warehouse.path) == tmp_path / "data" / "warehouse.duckdb"


def test_file_values_and_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "proj" / "eventlake.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        '[collect]\nport = 9123\n[lake]\npath = "lk"\n'
        '[sources.csv.students]\ninput_dir = "in"\nschema_file = "s.yaml"\ntable = "students"\n'
    )
    s = load_config(cfg)
    assert s.collect.port == 9123
    assert s.lake_uri() == str(tmp_path / "proj" / "lk")
    assert s.sources.csv["students"].table == "students"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text("[collect]\nport = 9123\n")
    monkeypatch.setenv("EVENTLAKE_COLLECT__PORT", "9999")
    monkeypatch.setenv("EVENTLAKE_COLLECT__WRITE_KEYS", '{"k1": "web"}')
    s = load_config(cfg)
    assert s.collect.port == 9999
    assert s.write_keys() == {"k1": "web"}


def test_config_file_found_through_eventlake_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text("[serve]\nport = 8123\n")
    monkeypatch.setenv("EVENTLAKE_CONFIG", str(cfg))
    assert load_config().serve.port == 8123


def test_invalid_value_names_the_key_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text('[collect]\nport = "eighty"\n')
    with pytest.raises(ConfigError, match=r"collect\.port.*eventlake\.toml"):
        load_config(cfg)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text("[collect]\nprot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config(cfg)


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text("[collect\n")
    with pytest.raises(ConfigError):
        load_config(cfg)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_write_keys_file_is_merged(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# comment\nabc = ios\n\ndef = web\n")
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text(f'[collect]\nwrite_keys_file = "{keys}"\nwrite_keys = {{ "x" = "y" }}\n')
    assert load_config(cfg).write_keys() == {"x": "y", "abc": "ios", "def": "web"}


def test_bad_write_keys_file_line_names_file_and_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("abc = ios\nnot a pair\n")
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text(f'[collect]\nwrite_keys_file = "{keys}"\n')
    with pytest.raises(ConfigError, match=r"keys:2"):
        load_config(cfg).write_keys()


def test_every_setting_has_help_text() -> None:
    missing = [key for key, _default, help_ in settings_reference() if not help_.strip()]
    assert missing == []


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    undocumented = [key for key, _d, _h in settings_reference() if f"`{key}`" not in text]
    assert undocumented == [], "run: python scripts/config_reference.py"


def test_example_config_written_by_init_loads(tmp_path: Path) -> None:
    from eventlake.project import write_example_project

    written = write_example_project(tmp_path)
    assert {p.name for p in written} == {"eventlake.toml", "tracking-plan.yaml"}
    s = load_config(tmp_path / "eventlake.toml")
    assert s.write_keys() == {"dev-write-key": "dev"}
    assert s.resolve(s.spec.tracking_plan or "") == tmp_path / "tracking-plan.yaml"
