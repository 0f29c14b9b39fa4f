"""Parsing and checking REST API source definitions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eventlake.errors import ConfigError
from eventlake.sources.api.spec import load_definition

PINBALL = Path(__file__).resolve().parents[3] / "examples" / "pinball" / "pinball.yaml"


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "api.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_the_pinball_definition_parses_with_parents_first() -> None:
    d = load_definition(PINBALL, base_url="http://127.0.0.1:1")
    assert d.base_url == "http://127.0.0.1:1"
    assert d.ordered() == ["players", "tournaments", "results"]
    assert d.resources["results"].primary_key == ["tournament_id", "position"]
    assert d.resources["players"].primary_key == ["player_id"]  # a string becomes a list
    assert d.root_of("results") == "tournaments"


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"base_url": "x", "resources": {"a": {"path": "/a", "primary_key": "id", "pagnation": {}}}},
    )
    with pytest.raises(ConfigError, match=r"resources\.a\.pagnation"):
        load_definition(path)


def test_unknown_parent_and_cycles_are_refused(tmp_path: Path) -> None:
    child = {"path": "/c", "primary_key": "id", "parent": {"resource": "x", "fields": {}}}
    with pytest.raises(ConfigError, match="unknown parent 'x'"):
        load_definition(_write(tmp_path, {"base_url": "u", "resources": {"c": child}}))
    a = {"path": "/a", "primary_key": "id", "parent": {"resource": "b", "fields": {}}}
    b = {"path": "/b", "primary_key": "id", "parent": {"resource": "a", "fields": {}}}
    with pytest.raises(ConfigError, match="cycle"):
        load_definition(_write(tmp_path, {"base_url": "u", "resources": {"a": a, "b": b}}))


def test_cursor_pagination_needs_its_path(tmp_path: Path) -> None:
    res = {"path": "/a", "primary_key": "id", "pagination": {"type": "cursor"}}
    with pytest.raises(ConfigError, match="cursor_path"):
        load_definition(_write(tmp_path, {"base_url": "u", "resources": {"a": res}}))


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_definition(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_url: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_definition(bad)
