"""The metrics catalog: which metric models exist and how to read them (warehouse -> serve).

Written to ``<models.dbt_dir>/metrics_catalog.json`` after every successful build, from the
dbt manifest (never by hand)::

    {"reporting_currency": "USD", "calendar": "marts.dim_date",
     "coverage": "marts.data_coverage",
     "metrics": [{"name", "description", "kind": "table" | "funnel",
                  "relation": "metrics.<name>", "date_column": str | null,
                  "time_grain": "day" | "week" | "month", "dimensions": [str],
                  "measures": [{"name", "agg", ...}], "funnel": {...} | null,
                  "columns": [{"name", "type", "description"}]}]}

A model is in the catalog when its YAML sets ``config: meta: eventlake: {...}`` (our
``models/metrics`` and any user model that opts in). Measures are declared with their
aggregation (:mod:`eventlake.warehouse.measures`); without a declaration every column that
is neither the date column nor a dimension is a measure with no aggregation (served as
rows, never aggregated). A column's type is the warehouse's own (lower-case), or its YAML
``data_type`` when the warehouse was not read. ``calendar`` and ``coverage`` are the
relations of ``dim_date`` and ``data_coverage`` (serve's date spine and partial days).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eventlake.errors import ModelBuildError
from eventlake.fsutil import write_atomic
from eventlake.warehouse.measures import normalise_measures

__all__ = ["CATALOG_FILE", "TIME_GRAINS", "metrics_catalog", "write_metrics_catalog"]

CATALOG_FILE = "metrics_catalog.json"
#: The grains of a metric's date column: its dates are days, Mondays, or firsts of months.
TIME_GRAINS = ("day", "week", "month")


def _relations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Model name -> ``schema.relation`` (our models win over a user's of the same name)."""
    out: dict[str, str] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed"):
            continue
        name = node["name"]
        if name in out and node.get("package_name") != "eventlake":
            continue
        out[name] = f"{node.get('schema') or 'main'}.{node.get('alias') or name}"
    return out


def _funnel(name: str, meta: Mapping[str, Any], columns: list[str]) -> dict[str, Any]:
    def fail(message: str) -> ModelBuildError:
        return ModelBuildError(f"funnel model {name!r}: {message} (see docs/metrics.md)")

    spec: dict[str, Any] = {}
    for key in ("entity", "time_column", "step_column"):
        value = meta.get(key)
        if not isinstance(value, str) or value not in columns:
            raise fail(f"{key} must name a column of the model, got {value!r}")
        spec[key] = value
    window = meta.get("conversion_window_days", 7)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 366:
        raise fail("conversion_window_days must be a whole number of days, 1 to 366")
    spec["conversion_window_days"] = window
    steps = meta.get("steps")
    if not isinstance(steps, list) or len(steps) < 2:
        raise fail("steps must list two or more {step, name, label}")
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("step"), int):
            raise fail(f"steps[{i}] needs an integer 'step' (the value of the step column)")
        label = str(step.get("label") or step.get("name") or step["step"])
        out.append({"step": step["step"], "name": str(step.get("name") or label), "label": label})
    spec["steps"] = out
    return spec


def metrics_catalog(
    manifest: Mapping[str, Any],
    warehouse_types: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
    *,
    reporting_currency: str = "USD",
) -> dict[str, Any]:
    """Build the catalog from a parsed ``manifest.json``.

    Args:
        manifest: the manifest as loaded from JSON.
        warehouse_types: (schema, relation) -> {column: type} read from the warehouse; they
            win over the YAML ``data_type`` and add the columns the YAML omits.
        reporting_currency: the currency of every ``unit: currency`` measure.

    Raises:
        ModelBuildError: a metric model's meta is invalid (names the model and the key).
    """
    metrics: list[dict[str, Any]] = []
    types = warehouse_types or {}
    relations = _relations(manifest)
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
        column_names = [c["name"] for c in columns]
        kind = meta.get("kind", "table")
        if kind not in ("table", "funnel"):
            raise ModelBuildError(f"metric model {node['name']!r}: kind must be table or funnel")
        funnel = _funnel(node["name"], meta, column_names) if kind == "funnel" else None
        measures = (
            []
            if funnel is not None
            else normalise_measures(
                node["name"],
                meta.get("measures"),
                column_names,
                date_column,
                dimensions,
                relations,
            )
        )
        grain = meta.get("time_grain", "day")
        if grain not in TIME_GRAINS:
            raise ModelBuildError(
                f"metric model {node['name']!r}: time_grain must be one of {', '.join(TIME_GRAINS)}"
            )
        metrics.append(
            {
                "name": node["name"],
                "description": node.get("description") or "",
                "kind": kind,
                "relation": f"{schema}.{relation_name}",
                "date_column": date_column,
                "time_grain": grain if date_column else None,
                "dimensions": dimensions,
                "measures": measures,
                "funnel": funnel,
                "columns": columns,
            }
        )
    metrics.sort(key=lambda m: m["name"])
    return {
        "reporting_currency": reporting_currency,
        "calendar": relations.get("dim_date"),
        "coverage": relations.get("data_coverage"),
        "metrics": metrics,
    }


def write_metrics_catalog(
    manifest_path: Path,
    out_path: Path,
    warehouse_types: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
    *,
    reporting_currency: str = "USD",
) -> dict[str, Any]:
    """Write the catalog atomically (temp file, fsync, rename); return it."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    catalog = metrics_catalog(manifest, warehouse_types, reporting_currency=reporting_currency)
    write_atomic(out_path, (json.dumps(catalog, indent=2, sort_keys=False) + "\n").encode())
    return catalog
