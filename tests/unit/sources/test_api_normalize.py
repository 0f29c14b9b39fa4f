"""Flattening records, inferring column types and describing schema drift."""

from __future__ import annotations

import json

import pyarrow as pa

from eventlake.sources.api.normalize import (
    compare_schemas,
    flatten_record,
    merge_schema,
    to_table,
)
from eventlake.sources.api.spec import NestedSpec


def test_nested_objects_flatten_or_stay_json_by_rule() -> None:
    rec = {
        "id": 1,
        "rating": {"value": 1.5, "rank": 3},
        "loc": {"lat": 1, "lon": 2},
        "tags": ["a"],
        "deep": {"a": {"b": {"c": 1}}},
    }
    row = flatten_record(rec, NestedSpec(json_fields=["loc"], max_depth=2))
    assert row["rating__value"] == 1.5 and row["rating__rank"] == 3
    assert json.loads(row["loc"]) == {"lat": 1, "lon": 2}
    assert row["tags"] == '["a"]'
    assert json.loads(row["deep__a"]) == {"b": {"c": 1}}  # deeper than max_depth
    as_json = flatten_record(rec, NestedSpec(default="json"))
    assert json.loads(as_json["rating"]) == {"rank": 3, "value": 1.5}


def test_types_are_inferred_per_column_and_mixed_ones_become_string() -> None:
    rows = [{"a": 1, "b": 1, "c": True, "d": None, "e": 1}, {"a": 2, "b": 2.5, "e": "x"}]
    table, schema, mixed = to_table(rows)
    assert schema == {"a": "int64", "b": "double", "c": "bool", "d": "null", "e": "string"}
    assert mixed == ["e"]
    assert table.column("e").to_pylist() == ["1", "x"]
    assert table.schema.field("d").type == pa.null()
    assert table.column("c").to_pylist() == [True, None]


def test_drift_names_new_columns_and_changed_types_but_not_nulls() -> None:
    known = {"a": "int64", "b": "null"}
    assert compare_schemas(known, {"a": "string", "b": "double", "c": "bool", "d": "null"}) == [
        "column 'a' changed type int64 -> string",
        "new column 'c' (bool)",
    ]
    assert compare_schemas({}, {"a": "int64"}) == []  # the first batch is not drift
    merge_schema(known, [("b", "double"), ("a", "null"), ("z", "null")])
    assert known == {"a": "int64", "b": "double", "z": "null"}
