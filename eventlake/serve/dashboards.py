"""Dashboards declared in YAML: the loader, its validation, and the set the app serves.

A dashboard file has a ``title``, optional ``description``, ``filters`` (a date range and
dimension dropdowns) and ``charts`` bound to metric models (format in docs/serve.md). The
default game dashboard ships in this package (``default_dashboards/game.yaml``); files in
``serve.dashboards_dir`` are added beside it (a user file with the same name replaces it).
Files are re-read when they change. A file that fails validation is still listed, with the
error (file, chart and key) shown on its page instead of charts.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CHART_TYPES",
    "DATE_FILTERS",
    "MAP_SCOPES",
    "Dashboard",
    "DashboardError",
    "DashboardSet",
    "parse_dashboard",
]

CHART_TYPES = ("line", "bar", "heatmap", "funnel", "table", "kpi", "map")
#: Map scopes: the plotly.js geo scope and how ``locations`` name places (the topojson files
#: eventlake ships for them: static/topojson/<scope>_110m.json).
MAP_SCOPES = {"usa": "USA-states", "world": "ISO-3"}
#: The date filter: day pickers (``true`` or ``day``), month pickers, or none.
DATE_FILTERS = ("day", "month")
#: KPI aggregations over the range: total (the API aggregates the measure as declared),
#: avg (average of the complete days), sum / max / min of the daily values, last (day).
_AGGS = ("total", "avg", "sum", "last", "max", "min")
_FORMATS = ("number", "integer", "currency", "percent")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SLUG = re.compile(r"[^a-z0-9_-]+")


class DashboardError(ValueError):
    """A dashboard YAML file is invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Dashboard:
    """One dashboard: its slug (URL name), source file, spec (for the page) or error."""

    slug: str
    title: str
    source: str
    spec: dict[str, Any] | None
    error: str | None


def _fail(where: str, message: str) -> DashboardError:
    return DashboardError(f"{where}: {message}")


def _check_keys(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise _fail(where, f"expected a column or metric name, got {value!r}")
    return value


def _str(value: Any, where: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str | int | float):
        raise _fail(where, f"expected text, got {type(value).__name__}")
    return str(value)


def _series_item(item: Any, where: str) -> dict[str, Any]:
    """A value to plot: a column name, or {column|ratio, label, scale}."""
    if isinstance(item, str):
        return {"column": _ident(item, where), "label": item}
    if not isinstance(item, dict):
        raise _fail(where, "expected a column name or a mapping")
    _check_keys(item, {"column", "ratio", "label", "scale"}, where)
    out: dict[str, Any] = {}
    if ("column" in item) == ("ratio" in item):
        raise _fail(where, "give exactly one of 'column' or 'ratio'")
    if "column" in item:
        out["column"] = _ident(item["column"], f"{where}.column")
        out["label"] = _str(item.get("label"), f"{where}.label", out["column"])
    else:
        ratio = item["ratio"]
        if not isinstance(ratio, list) or len(ratio) != 2:
            raise _fail(f"{where}.ratio", "expected [numerator, denominator]")
        out["ratio"] = [_ident(r, f"{where}.ratio") for r in ratio]
        out["label"] = _str(item.get("label"), f"{where}.label", "/".join(out["ratio"]))
    scale = item.get("scale", 1)
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise _fail(f"{where}.scale", "expected a number")
    out["scale"] = scale
    return out


_COMMON = {"id", "title", "type", "metric", "description", "width", "sort", "limit"}
_BY_TYPE: dict[str, set[str]] = {
    "line": {"x", "y", "series"},
    "bar": {"x", "y", "series", "orientation"},
    "heatmap": {"x", "y", "z"},
    "funnel": {"stages"},
    "table": {"columns", "group_by"},
    "kpi": {"value", "agg", "format"},
    "map": {"scope", "locations", "value", "text", "colorscale"},
}


def _chart(obj: Any, index: int, where_file: str) -> dict[str, Any]:
    where = f"{where_file}: charts[{index}]"
    if not isinstance(obj, dict):
        raise _fail(where, "expected a mapping")
    ctype = obj.get("type")
    if ctype not in CHART_TYPES:
        raise _fail(f"{where}.type", f"expected one of {', '.join(CHART_TYPES)}, got {ctype!r}")
    _check_keys(obj, _COMMON | _BY_TYPE[ctype], where)
    chart: dict[str, Any] = {
        "id": _ident(obj.get("id", f"chart_{index + 1}"), f"{where}.id"),
        "type": ctype,
        "metric": _ident(obj.get("metric"), f"{where}.metric"),
        "title": _str(obj.get("title"), f"{where}.title", obj.get("metric", "")),
        "description": _str(obj.get("description"), f"{where}.description"),
    }
    width = obj.get("width", 2 if ctype in ("line", "heatmap", "table", "map") else 1)
    if width not in (1, 2, 3):
        raise _fail(f"{where}.width", "expected 1, 2 or 3 (grid columns spanned)")
    chart["width"] = width
    if "sort" in obj:
        chart["sort"] = _str(obj["sort"], f"{where}.sort")
    if "limit" in obj:
        limit = obj["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise _fail(f"{where}.limit", "expected a positive integer")
        chart["limit"] = limit
    if ctype in ("line", "bar"):
        chart["x"] = _ident(obj.get("x"), f"{where}.x")
        ys = obj.get("y")
        ys = [ys] if isinstance(ys, str | dict) else ys
        if not isinstance(ys, list) or not ys:
            raise _fail(f"{where}.y", "expected one or more columns")
        chart["y"] = [_series_item(y, f"{where}.y[{i}]") for i, y in enumerate(ys)]
        if obj.get("series") is not None:
            chart["series"] = _ident(obj["series"], f"{where}.series")
        if ctype == "bar":
            orientation = obj.get("orientation", "v")
            if orientation not in ("v", "h"):
                raise _fail(f"{where}.orientation", "expected 'v' or 'h'")
            chart["orientation"] = orientation
    elif ctype == "heatmap":
        chart["x"] = _ident(obj.get("x"), f"{where}.x")
        chart["y"] = _ident(obj.get("y"), f"{where}.y")
        chart["z"] = _series_item(obj.get("z"), f"{where}.z")
    elif ctype == "funnel":
        # without stages the metric is an ordered funnel (kind: funnel): its steps are drawn
        stages = obj.get("stages")
        if stages is not None:
            if not isinstance(stages, list) or len(stages) < 2:
                raise _fail(f"{where}.stages", "expected two or more columns")
            chart["stages"] = [
                _series_item(s, f"{where}.stages[{i}]") for i, s in enumerate(stages)
            ]
    elif ctype == "table":
        cols = obj.get("columns")
        if cols is not None:
            if not isinstance(cols, list):
                raise _fail(f"{where}.columns", "expected a list of columns")
            chart["columns"] = [
                _series_item(c, f"{where}.columns[{i}]") for i, c in enumerate(cols)
            ]
        group = obj.get("group_by")
        if group is not None:
            group = [group] if isinstance(group, str) else group
            if not isinstance(group, list):
                raise _fail(f"{where}.group_by", "expected a column or a list")
            chart["group_by"] = [_ident(g, f"{where}.group_by") for g in group]
    elif ctype == "map":
        # a choropleth: one value per place, places named by a dimension of the metric
        scope = obj.get("scope", "usa")
        if scope not in MAP_SCOPES:
            raise _fail(f"{where}.scope", f"expected one of {', '.join(MAP_SCOPES)}")
        chart["scope"] = scope
        chart["locationmode"] = MAP_SCOPES[scope]
        chart["locations"] = _ident(obj.get("locations"), f"{where}.locations")
        chart["value"] = _series_item(obj.get("value"), f"{where}.value")
        if obj.get("text") is not None:
            chart["text"] = _ident(obj["text"], f"{where}.text")
        chart["colorscale"] = _str(obj.get("colorscale"), f"{where}.colorscale", "Blues")
    elif ctype == "kpi":
        chart["value"] = _series_item(obj.get("value"), f"{where}.value")
        agg = obj.get("agg", "total")
        if agg not in _AGGS:
            raise _fail(f"{where}.agg", f"expected one of {', '.join(_AGGS)}")
        chart["agg"] = agg
        fmt = obj.get("format", "number")
        if fmt not in _FORMATS:
            raise _fail(f"{where}.format", f"expected one of {', '.join(_FORMATS)}")
        chart["format"] = fmt
    return chart


def parse_dashboard(text: str, source: str) -> dict[str, Any]:
    """Validate one dashboard YAML document; return its normalised spec.

    Raises:
        DashboardError: invalid YAML or an invalid key (the message names file and key).
    """
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DashboardError(f"{source}: invalid YAML: {exc}") from exc
    if not isinstance(obj, dict):
        raise DashboardError(f"{source}: expected a mapping with 'title' and 'charts'")
    _check_keys(obj, {"title", "description", "filters", "charts"}, source)
    filters_obj = obj.get("filters") or {}
    if not isinstance(filters_obj, dict):
        raise _fail(f"{source}: filters", "expected a mapping with 'date' and 'dimensions'")
    _check_keys(filters_obj, {"date", "dimensions"}, f"{source}: filters")
    dims = []
    for i, d in enumerate(filters_obj.get("dimensions") or []):
        where = f"{source}: filters.dimensions[{i}]"
        if isinstance(d, str):
            d = {"name": d}
        if not isinstance(d, dict):
            raise _fail(where, "expected a dimension name or {name, label}")
        _check_keys(d, {"name", "label"}, where)
        name = _ident(d.get("name"), f"{where}.name")
        dims.append({"name": name, "label": _str(d.get("label"), f"{where}.label", name)})
    charts = obj.get("charts")
    if not isinstance(charts, list) or not charts:
        raise DashboardError(f"{source}: 'charts' must be a non-empty list")
    parsed = [_chart(c, i, source) for i, c in enumerate(charts)]
    ids = [c["id"] for c in parsed]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup is not None:
        raise DashboardError(f"{source}: chart id {dup!r} is used twice")
    date = filters_obj.get("date", True)
    if date is True:
        date = "day"
    elif date is False or date is None:
        date = None
    elif date not in DATE_FILTERS:
        raise _fail(f"{source}: filters.date", "expected true, false, 'day' or 'month'")
    return {
        "title": _str(obj.get("title"), f"{source}: title", "Dashboard"),
        "description": _str(obj.get("description"), f"{source}: description"),
        "filters": {"date": date, "dimensions": dims},
        "charts": parsed,
    }


def _slug(stem: str) -> str:
    return _SLUG.sub("-", stem.lower()).strip("-") or "dashboard"


class DashboardSet:
    """The packaged dashboards plus the user's folder, re-read when files change.

    ``packaged=False`` leaves the packaged (game) dashboards out: a project without
    tracked events gets only its own.
    """

    def __init__(self, user_dir: Path | None, *, packaged: bool = True) -> None:
        self.user_dir = user_dir
        self.packaged = packaged
        self._lock = threading.Lock()
        self._signature: tuple[Any, ...] | None = None
        self._dashboards: list[Dashboard] = []

    def _files(self) -> list[tuple[str, Path | None, str]]:
        """(slug, path or None for packaged, label) in display order."""
        files: list[tuple[str, Path | None, str]] = []
        packaged = resources.files("eventlake.serve") / "default_dashboards"
        for entry in sorted(packaged.iterdir(), key=lambda e: e.name) if self.packaged else []:
            if entry.name.endswith((".yaml", ".yml")):
                files.append((_slug(entry.name.rsplit(".", 1)[0]), None, entry.name))
        if self.user_dir is not None and self.user_dir.is_dir():
            for path in sorted(self.user_dir.iterdir()):
                if path.suffix in (".yaml", ".yml") and path.is_file():
                    files.append((_slug(path.stem), path, str(path)))
        return files

    def all(self) -> list[Dashboard]:
        """Every dashboard, packaged first; a user file replaces a packaged one by slug."""
        files = self._files()
        signature = tuple(
            (slug, label, _mtime(path) if path is not None else 0) for slug, path, label in files
        )
        with self._lock:
            if signature == self._signature:
                return self._dashboards
            by_slug: dict[str, Dashboard] = {}
            for slug, path, label in files:
                try:
                    if path is None:
                        ref = resources.files("eventlake.serve") / "default_dashboards" / label
                        text = ref.read_text(encoding="utf-8")
                    else:
                        text = path.read_text(encoding="utf-8")
                    spec = parse_dashboard(text, label)
                    by_slug[slug] = Dashboard(slug, spec["title"], label, spec, None)
                except (OSError, UnicodeDecodeError, DashboardError) as exc:
                    by_slug[slug] = Dashboard(slug, slug, label, None, str(exc))
            self._dashboards = list(by_slug.values())
            self._signature = signature
            return self._dashboards

    def get(self, slug: str) -> Dashboard | None:
        return next((d for d in self.all() if d.slug == slug), None)


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1
