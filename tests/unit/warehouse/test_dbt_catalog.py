"""The metrics catalog derived from a dbt manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventlake.warehouse.catalog import metrics_catalog, write_metrics_catalog


def _node(name: str, meta: dict[str, Any] | None, schema: str = "metrics") -> dict[str, Any]:
    return {
        "resource_type": "model",
        "name": name,
        "alias": name,
        "schema": schema,
        "description": f"{name} described",
        "config": {"meta": {"eventlake": meta} if meta is not None else {}},
        "columns": {
            "day": {"name": "day", "data_type": "date", "description": "The day."},
            "platform": {"name": "platform", "data_type": None, "description": "OS."},
            "dau": {"name": "dau", "data_type": "bigint", "description": "Users."},
        },
    }


MANIFEST = {
    "nodes": {
        "model.x.daily": _node("daily", {"date_column": "day", "dimensions": ["platform"]}),
        "model.x.staged": _node("staged", None, schema="staging"),
        "test.x.t": {"resource_type": "test", "name": "t"},
        "model.x.custom": _node(
            "custom", {"date_column": None, "dimensions": [], "measures": ["dau"]}, "main"
        ),
    }
}


def test_only_models_with_eventlake_meta_are_listed() -> None:
    names = [m["name"] for m in metrics_catalog(MANIFEST)["metrics"]]
    assert names == ["custom", "daily"]


def test_entry_has_the_documented_shape() -> None:
    daily = {m["name"]: m for m in metrics_catalog(MANIFEST)["metrics"]}["daily"]
    assert daily == {
        "name": "daily",
        "description": "daily described",
        "relation": "metrics.daily",
        "date_column": "day",
        "dimensions": ["platform"],
        "measures": ["dau"],
        "columns": [
            {"name": "day", "type": "date", "description": "The day."},
            {"name": "platform", "type": None, "description": "OS."},
            {"name": "dau", "type": "bigint", "description": "Users."},
        ],
    }


def test_declared_measures_win_and_relation_uses_the_schema() -> None:
    custom = {m["name"]: m for m in metrics_catalog(MANIFEST)["metrics"]}["custom"]
    assert custom["measures"] == ["dau"]
    assert custom["relation"] == "main.custom"
    assert custom["date_column"] is None


def test_warehouse_types_fill_and_extend_columns() -> None:
    types = {("metrics", "daily"): {"day": "date", "platform": "varchar", "extra": "double"}}
    daily = {m["name"]: m for m in metrics_catalog(MANIFEST, types)["metrics"]}["daily"]
    cols = {c["name"]: c["type"] for c in daily["columns"]}
    assert cols == {"day": "date", "platform": "varchar", "dau": "bigint", "extra": "double"}
    assert daily["measures"] == ["dau", "extra"]


def test_write_is_atomic_and_readable(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    out = tmp_path / "metrics_catalog.json"
    written = write_metrics_catalog(manifest, out)
    assert json.loads(out.read_text()) == written
    assert not list(tmp_path.glob(".*.tmp"))
