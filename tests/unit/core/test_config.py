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
    assert {p.name for p in written} == {
        "eventlake.toml",
        "tracking-plan.yaml",
        "exchange-rates.csv",
    }
    s = load_config(tmp_path / "eventlake.toml")
    assert s.write_keys() == {"dev-write-key": "dev"}
    assert s.resolve(s.spec.tracking_plan or "") == tmp_path / "tracking-plan.yaml"


def test_config_file_is_found_in_a_parent_folder_like_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventlake.config import find_config_file

    (tmp_path / "eventlake.toml").write_text('[lake]\npath = "lk"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_config_file() == tmp_path / "eventlake.toml"
    s = load_config()
    assert s.base_dir == tmp_path and s.lake_uri() == str(tmp_path / "lk")
    nearer = tmp_path / "a" / "eventlake.toml"
    nearer.write_text("")
    assert find_config_file() == nearer, "the nearest project wins"


def test_an_invalid_environment_value_names_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text("[collect]\nport = 9123\n")
    monkeypatch.setenv("EVENTLAKE_COLLECT__PORT", "abc")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    message = str(info.value)
    assert "EVENTLAKE_COLLECT__PORT" in message and "collect.port" in message
    assert "eventlake.toml" not in message


def test_a_bad_file_value_is_blamed_on_the_file_even_with_variables_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text('[collect]\nport = "eighty"\n')
    monkeypatch.setenv("EVENTLAKE_COLLECT__WRITE_KEYS", '{"k": "web"}')
    with pytest.raises(ConfigError, match=r"collect\.port.*in .*eventlake\.toml") as info:
        load_config(cfg)
    assert "EVENTLAKE_" not in str(info.value)


def test_a_lower_case_variable_is_named_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("eventlake_bus__partitions", "many")
    with pytest.raises(ConfigError, match="eventlake_bus__partitions"):
        load_config(None)


def test_an_entry_built_from_variables_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAKE_SOURCES__CSV__S1__INPUT_DIR", "drop")
    with pytest.raises(ConfigError, match="EVENTLAKE_SOURCES__CSV__S1__INPUT_DIR"):
        load_config(None)


def test_a_variable_that_is_not_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAKE_COLLECT__WRITE_KEYS", "dev-write-key=dev")
    with pytest.raises(ConfigError, match="EVENTLAKE_COLLECT__WRITE_KEYS.*JSON"):
        load_config(None)


def test_unknown_eventlake_variables_are_reported_with_a_suggestion() -> None:
    from eventlake.config import unknown_environment_variables

    env = {
        # settings: never reported
        "EVENTLAKE_COLLECT__PORT": "9000",
        "EVENTLAKE_COLLECT": "{}",
        "EVENTLAKE_BASE_DIR": "/srv",
        "EVENTLAKE_COLLECT__WRITE_KEYS__ios-key": "ios",
        "EVENTLAKE_BUS__CLIENT_OPTIONS__sasl.mechanism": "PLAIN",
        "EVENTLAKE_SOURCES__CSV__my_data__INPUT_DIR": "drop",
        "eventlake_serve__token": "x",
        # read on purpose, not settings: never reported
        "EVENTLAKE_CONFIG": "/srv/eventlake.toml",
        "EVENTLAKE_WRITE_KEY": "dev-write-key",
        "EVENTLAKE_COLLECTOR_URL": "http://127.0.0.1:8088",
        "EVENTLAKE_TRACKER_BUFFER": ".buffer",
        "EVENTLAKE_PINBALL_TOKEN": "secret",  # a REST source's auth.env, say
        "OTHER_COLECT__PORT": "1",
        # typos
        "EVENTLAKE_COLECT__PORT": "9000",
        "EVENTLAKE_SERVE_TOKEN": "x",
        "EVENTLAKE_WAREHOSE": "{}",
    }
    found = dict(unknown_environment_variables(env))
    assert found == {
        "EVENTLAKE_COLECT__PORT": "EVENTLAKE_COLLECT__PORT",
        "EVENTLAKE_SERVE_TOKEN": "EVENTLAKE_SERVE__TOKEN",
        "EVENTLAKE_WAREHOSE": "EVENTLAKE_WAREHOUSE",
    }


def test_every_documented_variable_example_is_a_setting() -> None:
    """The docs' EVENTLAKE_* examples would themselves be warned about if they were wrong."""
    import re

    from eventlake.config import NON_SETTING_VARIABLES, unknown_environment_variables

    root = Path(__file__).resolve().parents[3]
    texts = [p.read_text(encoding="utf-8") for p in (root / "docs").glob("*.md")]
    texts.append((root / "README.md").read_text(encoding="utf-8"))
    names = {n for t in texts for n in re.findall(r"\bEVENTLAKE_[A-Z0-9_]*[A-Z0-9]", t)}
    names -= {"EVENTLAKE_", "EVENTLAKE_COLECT__PORT"}  # the docs' example of a typo
    assert names, "the docs name some variables"
    unknown = unknown_environment_variables({n: "x" for n in names - NON_SETTING_VARIABLES})
    assert unknown == []
    assert unknown_environment_variables({"EVENTLAKE_COLECT__PORT": "1"}) != []
