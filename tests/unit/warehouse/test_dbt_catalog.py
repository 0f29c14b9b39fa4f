"""The metrics catalog derived from a dbt manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventlake.errors import ModelBuildError
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
        "kind": "table",
        "relation": "metrics.daily",
        "date_column": "day",
        "time_grain": "day",
        "dimensions": ["platform"],
        "measures": [{"name": "dau", "agg": None}],
        "funnel": None,
        "columns": [
            {"name": "day", "type": "date", "description": "The day."},
            {"name": "platform", "type": None, "description": "OS."},
            {"name": "dau", "type": "bigint", "description": "Users."},
        ],
    }


def test_declared_measures_win_and_relation_uses_the_schema() -> None:
    custom = {m["name"]: m for m in metrics_catalog(MANIFEST)["metrics"]}["custom"]
    assert custom["measures"] == [{"name": "dau", "agg": None}]
    assert custom["relation"] == "main.custom"
    assert custom["date_column"] is None


def test_warehouse_types_fill_and_extend_columns() -> None:
    types = {("metrics", "daily"): {"day": "date", "platform": "varchar", "extra": "double"}}
    daily = {m["name"]: m for m in metrics_catalog(MANIFEST, types)["metrics"]}["daily"]
    cols = {c["name"]: c["type"] for c in daily["columns"]}
    assert cols == {"day": "date", "platform": "varchar", "dau": "bigint", "extra": "double"}
    assert daily["measures"] == [{"name": "dau", "agg": None}, {"name": "extra", "agg": None}]


def test_write_is_atomic_and_readable(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    out = tmp_path / "metrics_catalog.json"
    written = write_metrics_catalog(manifest, out)
    assert json.loads(out.read_text()) == written
    assert not list(tmp_path.glob(".*.tmp"))


def _declared(measures: list[Any]) -> dict[str, Any]:
    manifest = {
        "nodes": {
            "model.x.daily": _node(
                "daily", {"date_column": "day", "dimensions": ["platform"], "measures": measures}
            ),
            "model.eventlake.int_user_days": _node("int_user_days", None, schema="staging"),
        }
    }
    return {m["name"]: m for m in metrics_catalog(manifest)["metrics"]}["daily"]


def test_declared_aggregations_are_normalised_with_the_grain_relation() -> None:
    daily = _declared(
        [
            {
                "name": "dau",
                "agg": "count_distinct",
                "entity": "user_key",
                "grain": "int_user_days",
                "additive_across": ["platform"],
            }
        ]
    )
    assert daily["measures"] == [
        {
            "name": "dau",
            "agg": "count_distinct",
            "entity": "user_key",
            "grain": "staging.int_user_days",
            "when_positive": [],
            "additive_across": ["platform"],
        }
    ]


@pytest.mark.parametrize(
    ("measure", "message"),
    [
        ({"name": "dau", "agg": "median"}, "agg must be one of"),
        ({"name": "dau", "agg": "count_distinct"}, "needs an entity"),
        ({"name": "dau", "agg": "count_distinct", "entity": "u", "grain": "nope"}, "no model"),
        ({"name": "dau", "agg": "ratio", "numerator": "dau"}, "needs a denominator"),
        ({"name": "dau", "agg": "sum", "additive_across": ["country"]}, "neither the date"),
        ({"name": "nope", "agg": "sum"}, "not a column"),
        ({"name": "dau", "agg": "sum", "colour": 1}, "unknown key"),
    ],
)
def test_invalid_declarations_fail_naming_the_model(measure: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelBuildError, match="daily") as info:
        _declared([measure])
    assert message in str(info.value)
