"""What a run knows of the batch sources: which commits the models were built from, which
raw tables a source loads, and the dbt selection of the models that read them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml

from eventlake.config import load_config
from eventlake.pipeline import PipelineState, SourceTracking
from eventlake.sources import source_tables
from eventlake.warehouse.dbt import source_selection


def test_pending_streams_are_those_with_commits_not_built_from() -> None:
    tracking = SourceTracking(
        built={"sources.a": frozenset({"1", "2"}), "sources.b": frozenset({"9"})},
        tables={"sources.a": (("raw", "a"),), "sources.c": (("raw", "c1"), ("raw", "c2"))},
    )
    current = {
        "sources.a": frozenset({"1", "2"}),
        "sources.b": frozenset({"9", "10"}),
        "sources.c": frozenset({"x"}),
    }
    assert tracking.pending(current) == ("sources.b", "sources.c")
    assert tracking.pending({"sources.a": frozenset({"1"})}) == ()
    assert tracking.tables_of(["sources.c", "sources.a"]) == [
        ("raw", "a"),
        ("raw", "c1"),
        ("raw", "c2"),
    ]
    assert tracking.tables_of(["sources.b"]) is None  # not a configured source: all models
    assert SourceTracking(built={}).tables_of(["sources.a"]) is None


def test_built_sources_survive_a_restart_and_a_torn_file_means_one_more_build(
    tmp_path: Path,
) -> None:
    state = PipelineState(tmp_path)
    assert state.built_sources() == {}
    state.record_built_sources({"sources.a": frozenset({"2", "1"})})
    assert PipelineState(tmp_path).built_sources() == {"sources.a": frozenset({"1", "2"})}
    (tmp_path / "built-sources.json").write_text('{"streams": {"sources.a": [')
    assert PipelineState(tmp_path).built_sources() == {}


def test_source_tables_names_every_configured_sources_tables(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(
        yaml.safe_dump(
            {
                "base_url": "http://127.0.0.1:1",
                "resources": {
                    "orders": {"path": "/o", "primary_key": "id"},
                    "items": {"path": "/i", "primary_key": "id", "table": "shop_items"},
                },
            }
        )
    )
    (tmp_path / "eventlake.toml").write_text(
        '[sources.api.shop]\ndefinition = "shop.yaml"\n'
        '[sources.csv.grades]\ninput_dir = "drop"\nschema_file = "s.yaml"\ntable = "x.grades"\n'
    )
    tables = source_tables(load_config(tmp_path / "eventlake.toml"))
    assert tables == {
        "sources.grades": (("x", "grades"),),
        "sources.shop": (("raw", "shop_items"), ("raw", "shop__orders")),
    }


def _source(name: str, table: str, identifier: str | None, schema: str = "raw") -> object:
    return SimpleNamespace(source_name=name, name=table, identifier=identifier, schema=schema)


def test_source_selection_picks_the_dbt_sources_declared_on_the_tables() -> None:
    manifest = SimpleNamespace(
        sources={
            "a": _source("pinball", "players", "pinball__players"),
            "b": _source("pinball", "results", "pinball__results"),
            "c": _source("raw", "events", None),
            "d": _source("other", "players", "pinball__players", schema="elsewhere"),
        }
    )
    assert source_selection(manifest, [("raw", "pinball__players"), ("raw", "events")]) == (
        "@source:pinball.players @source:raw.events"
    )
    # no declared source reads them: None, the caller builds every model
    assert source_selection(manifest, [("raw", "students")]) is None
