"""JSON records -> Arrow tables for the REST API source, and schema drift between batches.

Nested objects are flattened into ``parent__child`` columns or kept as JSON text, by rule
(:class:`~eventlake.sources.api.spec.NestedSpec`); lists are always JSON text. Each column's
type is inferred from its values (bool, int64, float64, string; a column of only nulls is
Arrow ``null`` so a later batch can give it any type). A column whose values disagree (an int
here, a string there) becomes string and is reported: drift is data, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from eventlake.sources.api.spec import NestedSpec

__all__ = ["compare_schemas", "flatten_record", "merge_schema", "to_table"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def flatten_record(record: Mapping[str, Any], rule: NestedSpec) -> dict[str, Any]:
    """One flat row: nested objects as ``a__b`` columns or JSON text, lists as JSON text."""
    out: dict[str, Any] = {}
    keep_json = set(rule.json_fields)

    def walk(obj: Mapping[str, Any], prefix: str, column: str, depth: int) -> None:
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            col = f"{column}__{key}" if column else str(key)
            if isinstance(value, dict):
                if (
                    rule.default == "flatten"
                    and path not in keep_json
                    and depth < rule.max_depth
                    and value
                ):
                    walk(value, path, col, depth + 1)
                else:
                    out[col] = _json(value)
            elif isinstance(value, list | tuple):
                out[col] = _json(value)
            else:
                out[col] = value

    walk(record, "", "", 1)
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64" if _INT64_MIN <= value <= _INT64_MAX else "string"
    if isinstance(value, float):
        return "double"
    return "string"


_ARROW = {"bool": pa.bool_(), "int64": pa.int64(), "double": pa.float64(), "string": pa.string()}


def to_table(
    rows: list[dict[str, Any]], extra: Mapping[str, pa.Array] | None = None
) -> tuple[pa.Table, dict[str, str], list[str]]:
    """Columnar Arrow table of flat rows.

    Returns:
        the table, its schema as ``{column: type}`` (``null`` for all-null columns), and
        the columns whose values had mixed types (stored as string).
    """
    columns: dict[str, list[Any]] = {}
    n = len(rows)
    for i, row in enumerate(rows):
        for key, value in row.items():
            col = columns.get(key)
            if col is None:
                col = columns[key] = [None] * n
            col[i] = value
    arrays: dict[str, pa.Array] = {}
    schema: dict[str, str] = {}
    mixed: list[str] = []
    for name, values in columns.items():
        kinds = {_kind(v) for v in values if v is not None}
        if not kinds:
            kind = "null"
        elif len(kinds) == 1:
            kind = kinds.pop()
        elif kinds == {"int64", "double"}:
            kind = "double"
        else:
            kind = "string"
            mixed.append(name)
        if kind == "null":
            arrays[name] = pa.nulls(n)
        elif kind == "string":
            arrays[name] = pa.array(
                [v if v is None or isinstance(v, str) else _json(v) for v in values],
                pa.string(),
            )
        else:
            arrays[name] = pa.array(values, _ARROW[kind])
        schema[name] = kind
    for name, array in (extra or {}).items():
        arrays[name] = array
    return pa.table(arrays) if arrays else pa.table({"_empty": pa.nulls(n)}), schema, mixed


def compare_schemas(known: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Human-readable drift of ``new`` against ``known`` (new columns, changed types)."""
    out = []
    for name, kind in new.items():
        old = known.get(name)
        if kind == "null":
            continue
        if old is None:
            if known:
                out.append(f"new column {name!r} ({kind})")
        elif old not in (kind, "null"):
            out.append(f"column {name!r} changed type {old} -> {kind}")
    return out


def merge_schema(known: dict[str, str], new: Iterable[tuple[str, str]]) -> None:
    """Fold a batch's schema into the known one (typed columns win over null)."""
    for name, kind in new:
        if kind != "null" or name not in known:
            known[name] = kind
