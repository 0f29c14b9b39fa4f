"""The metrics catalog: which metric models exist and how to read them (warehouse -> serve).

Written to ``<models.dbt_dir>/metrics_catalog.json`` after every successful build, from the
dbt manifest (never by hand)::

    {"metrics": [{"name", "description", "relation": "metrics.<name>",
                  "date_column": str | null, "dimensions": [str], "measures": [str],
                  "columns": [{"name", "type", "description"}]}]}

A model is in the catalog when its YAML sets ``config: meta: eventlake: {...}`` (our
``models/metrics`` and any user model that opts in). ``measures`` defaults to the columns
that are neither the date column nor a dimension. A column's type is the warehouse's own
(lower-case), or its YAML ``data_type`` when the warehouse was not read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eventlake.fsutil import write_atomic

__all__ = ["CATALOG_FILE", "metrics_catalog", "write_metrics_catalog"]

CATALOG_FILE = "metrics_catalog.json"


def metrics_catalog(
    manifest: Mapping[str, Any],
    warehouse_types: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Build the catalog from a parsed ``manifest.json``.

    Args:
        manifest: the manifest as loaded from JSON.
        warehouse_types: (schema, relation) -> {column: type} read from the warehouse; they
            win over the YAML ``data_type`` and add the columns the YAML omits.
    """
    metrics: list[dict[str, Any]] = []
    types = warehouse_types or {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        config = node.get("config") or {}
        meta = (config.get("meta") or {}).get("eventlake") or (node.get("meta") or {}).get(
            "eventlake"
        )
        if not isinstance(meta, dict):
            continue
        schema = node.get("schema") or "metrics"
        relation_name = node.get("alias") or node["name"]
        found = types.get((schema, relation_name), {})
        declared = node.get("columns") or {}
        columns: list[dict[str, Any]] = []
        names = list(declared) + [c for c in found if c not in declared]
        for col in names:
            spec = declared.get(col) or {}
            columns.append(
                {
                    "name": col,
                    "type": found.get(col) or spec.get("data_type"),
                    "description": spec.get("description") or "",
                }
            )
        date_column = meta.get("date_column")
        dimensions = [str(d) for d in meta.get("dimensions") or []]
        measures = meta.get("measures")
        if measures is None:
            skip = set(dimensions) | {date_column}
            measures = [c["name"] for c in columns if c["name"] not in skip]
        metrics.append(
            {
                "name": node["name"],
                "description": node.get("description") or "",
                "relation": f"{schema}.{relation_name}",
                "date_column": date_column,
                "dimensions": dimensions,
                "measures": [str(m) for m in measures],
                "columns": columns,
            }
        )
    metrics.sort(key=lambda m: m["name"])
    return {"metrics": metrics}


def write_metrics_catalog(
    manifest_path: Path,
    out_path: Path,
    warehouse_types: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Write the catalog atomically (temp file, fsync, rename); return it."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    catalog = metrics_catalog(manifest, warehouse_types)
    write_atomic(out_path, (json.dumps(catalog, indent=2, sort_keys=False) + "\n").encode())
    return catalog
