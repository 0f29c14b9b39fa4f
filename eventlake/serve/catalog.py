"""The metrics catalog as the API sees it: which metric models exist and how to query them.

The warehouse stage writes ``<models.dbt_dir>/metrics_catalog.json`` after every build (format
in docs/architecture.md). It is the single source of metric names, descriptions, columns,
date column and dimensions: the API serves exactly what it lists, and every identifier that
reaches SQL comes from it (checked against a strict identifier pattern on load), never from
a request. The file is re-read when it changes on disk; a missing file is an empty catalog.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventlake.errors import ServeError

__all__ = ["Catalog", "CatalogFile", "Column", "Funnel", "Measure", "Metric", "quote_ident"]

#: The aggregations a measure may declare (eventlake.warehouse.measures.AGGREGATIONS).
AGGREGATIONS = ("sum", "count", "count_distinct", "ratio", "last", "average")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

_INT_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
    "INT",
    "INT4",
    "INT8",
    "LONG",
    "USMALLINT",
    "UTINYINT",
)


def quote_ident(name: str) -> str:
    """Quote a catalog identifier for SQL (it was already checked against ``_IDENT``)."""
    if not _IDENT.match(name):
        raise ServeError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a metric model."""

    name: str
    type: str
    description: str

    @property
    def kind(self) -> str:
        """'date', 'timestamp', 'integer', 'number' or 'string': how parameters are parsed."""
        t = self.type.upper()
        if t == "DATE":
            return "date"
        if t.startswith("TIMESTAMP"):
            return "timestamp"
        if t in _INT_TYPES:
            return "integer"
        if t.startswith(("DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL")):
            return "number"
        return "string"


@dataclass(frozen=True, slots=True)
class Measure:
    """A measure and how it aggregates across rows (docs/metrics.md); ``agg`` None: not
    declared, so its rows are served but never aggregated."""

    name: str
    agg: str | None
    entity: str | None = None
    grain: tuple[str, str] | None = None
    when_positive: tuple[str, ...] = ()
    additive_across: tuple[str, ...] = ()
    numerator: str | None = None
    denominator: str | None = None
    window_days: int | None = None
    unit: str | None = None

    def to_json(self, currency: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "agg": self.agg}
        if self.agg in ("count_distinct", "last", "average"):
            out["additive_across"] = list(self.additive_across)
        if self.entity:
            out["entity"] = self.entity
        if self.grain:
            out["grain"] = ".".join(self.grain)
        if self.when_positive:
            out["when_positive"] = list(self.when_positive)
        if self.numerator:
            out["numerator"], out["denominator"] = self.numerator, self.denominator
        if self.window_days:
            out["window_days"] = self.window_days
        if self.unit:
            out["unit"] = self.unit
            if self.unit == "currency" and currency:
                out["currency"] = currency
        return out


@dataclass(frozen=True, slots=True)
class FunnelStep:
    step: int
    name: str
    label: str


@dataclass(frozen=True, slots=True)
class Funnel:
    """An ordered funnel over step events (``kind: funnel``)."""

    entity: str
    time_column: str
    step_column: str
    conversion_window_days: int
    steps: tuple[FunnelStep, ...]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric model: a relation in the warehouse plus what the API may filter on."""

    name: str
    description: str
    relation: tuple[str, str]
    date_column: str | None
    dimensions: tuple[str, ...]
    measures: tuple[Measure, ...]
    columns: tuple[Column, ...]
    kind: str = "table"
    time_grain: str | None = "day"
    funnel: Funnel | None = None
    #: the catalog's reporting currency, dim_date and data_coverage relations
    currency: str | None = None
    calendar: tuple[str, str] | None = None
    coverage: tuple[str, str] | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def measure_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.measures)

    def measure(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name), None)

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def sql_relation(self) -> str:
        return ".".join(quote_ident(p) for p in self.relation)

    def output_columns(self) -> tuple[str, ...]:
        """The columns of this metric's rows (a funnel's are computed per request)."""
        if self.funnel is None:
            return self.column_names
        return (*self.dimensions, "step", "step_name", "users", "conversion", "conversion_total")

    def parameters(self) -> list[str]:
        """The query parameters this metric accepts."""
        dates = ["start", "end"] if self.date_column else []
        if self.funnel is not None:
            return [*dates, *self.dimensions, "group_by", "conversion_window_days"] + [
                "sort",
                "limit",
                "offset",
            ]
        return [
            *dates,
            *self.dimensions,
            "group_by",
            "measures",
            "total",
            "sort",
            "limit",
            "offset",
        ]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "relation": ".".join(self.relation),
            "date_column": self.date_column,
            "time_grain": self.time_grain,
            "dimensions": list(self.dimensions),
            "measures": [m.to_json(self.currency) for m in self.measures],
            "columns": [
                {"name": c.name, "type": c.type, "description": c.description} for c in self.columns
            ],
            "formats": ["json", "csv"],
            "parameters": self.parameters(),
        }
        if self.funnel is not None:
            f = self.funnel
            out["funnel"] = {
                "conversion_window_days": f.conversion_window_days,
                "steps": [{"step": s.step, "name": s.name, "label": s.label} for s in f.steps],
            }
        return out


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ServeError(f"metrics catalog: {where} is not a valid identifier: {value!r}")
    return value


def _relation(text: Any, where: str) -> tuple[str, str]:
    parts = str(text).split(".")
    if len(parts) == 1:
        parts = ["metrics", parts[0]]
    if len(parts) != 2:
        raise ServeError(f"metrics catalog: {where} relation {text!r} is not schema.name")
    return (_ident(parts[0], f"{where} relation"), _ident(parts[1], f"{where} relation"))


def _idents(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(_ident(v, where) for v in value)


def _parse_measure(obj: Any, where: str) -> Measure:
    if isinstance(obj, str):  # a catalog written before measures declared their aggregation
        return Measure(name=_ident(obj, f"{where} measure"), agg=None)
    if not isinstance(obj, dict):
        raise ServeError(f"metrics catalog: {where} a measure is not an object")
    name = _ident(obj.get("name"), f"{where} measure")
    agg = obj.get("agg")
    if agg is not None and agg not in AGGREGATIONS:
        raise ServeError(f"metrics catalog: {where} measure {name!r} has unknown agg {agg!r}")
    window = obj.get("window_days")
    return Measure(
        name=name,
        agg=agg,
        entity=_ident(obj["entity"], f"{where} entity") if obj.get("entity") else None,
        grain=_relation(obj["grain"], f"{where} grain") if obj.get("grain") else None,
        when_positive=_idents(obj.get("when_positive"), f"{where} when_positive"),
        additive_across=_idents(obj.get("additive_across"), f"{where} additive_across"),
        numerator=_ident(obj["numerator"], where) if obj.get("numerator") else None,
        denominator=_ident(obj["denominator"], where) if obj.get("denominator") else None,
        window_days=window if isinstance(window, int) and not isinstance(window, bool) else None,
        unit=str(obj["unit"]) if obj.get("unit") else None,
    )


def _parse_funnel(obj: Any, where: str, names: set[str]) -> Funnel:
    if not isinstance(obj, dict):
        raise ServeError(f"metrics catalog: {where} funnel is not an object")
    cols = {}
    for key in ("entity", "time_column", "step_column"):
        cols[key] = _ident(obj.get(key), f"{where} funnel.{key}")
        if cols[key] not in names:
            raise ServeError(f"metrics catalog: {where} funnel.{key} is not a column")
    steps = []
    for i, step in enumerate(obj.get("steps") or []):
        if not isinstance(step, dict) or not isinstance(step.get("step"), int):
            raise ServeError(f"metrics catalog: {where} funnel.steps[{i}] has no integer step")
        steps.append(
            FunnelStep(int(step["step"]), str(step.get("name", "")), str(step.get("label", "")))
        )
    window = obj.get("conversion_window_days", 7)
    if len(steps) < 2 or not isinstance(window, int):
        raise ServeError(f"metrics catalog: {where} funnel needs two steps and a window")
    return Funnel(
        entity=cols["entity"],
        time_column=cols["time_column"],
        step_column=cols["step_column"],
        conversion_window_days=window,
        steps=tuple(steps),
    )


def _parse_metric(obj: Any, index: int, shared: dict[str, Any]) -> Metric:
    if not isinstance(obj, dict):
        raise ServeError(f"metrics catalog: metrics[{index}] is not an object")
    name = _ident(obj.get("name"), f"metrics[{index}].name")
    where = f"metric {name!r}"
    relation = _relation(obj.get("relation") or f"metrics.{name}", where)
    columns = []
    for j, col in enumerate(obj.get("columns") or []):
        if not isinstance(col, dict):
            raise ServeError(f"metrics catalog: {where} columns[{j}] is not an object")
        columns.append(
            Column(
                name=_ident(col.get("name"), f"{where} columns[{j}].name"),
                type=str(col.get("type") or "VARCHAR"),
                description=str(col.get("description") or ""),
            )
        )
    names = {c.name for c in columns}
    date_column = obj.get("date_column")
    if date_column is not None:
        _ident(date_column, f"{where} date_column")
        if date_column not in names:
            raise ServeError(f"metrics catalog: {where} date_column {date_column!r} is no column")
    dims = tuple(_ident(d, f"{where} dimension") for d in obj.get("dimensions") or [])
    measures = tuple(_parse_measure(m, where) for m in obj.get("measures") or [])
    for d in (*dims, *(m.name for m in measures)):
        if d not in names:
            raise ServeError(f"metrics catalog: {where} names {d!r}, which is not a column")
    kind = obj.get("kind") or "table"
    funnel = _parse_funnel(obj.get("funnel"), where, names) if kind == "funnel" else None
    grain = obj.get("time_grain", "day") if date_column else None
    return Metric(
        name=name,
        description=str(obj.get("description") or ""),
        relation=relation,
        date_column=date_column,
        dimensions=dims,
        measures=measures,
        columns=tuple(columns),
        kind="funnel" if funnel is not None else "table",
        time_grain=grain if grain in ("day", "week", "month") else None,
        funnel=funnel,
        currency=shared.get("currency"),
        calendar=shared.get("calendar"),
        coverage=shared.get("coverage"),
    )


@dataclass(frozen=True, slots=True)
class Catalog:
    """An immutable snapshot of the metrics catalog."""

    metrics: dict[str, Metric]
    version: str

    @classmethod
    def parse(cls, data: bytes, version: str) -> Catalog:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise ServeError(f"metrics catalog is not valid JSON: {exc}") from exc
        items = obj.get("metrics") if isinstance(obj, dict) else None
        if not isinstance(items, list):
            raise ServeError("metrics catalog has no 'metrics' list")
        shared: dict[str, Any] = {}
        currency = obj.get("reporting_currency")
        if isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency):
            shared["currency"] = currency
        for key in ("calendar", "coverage"):
            if obj.get(key):
                shared[key] = _relation(obj[key], key)
        metrics: dict[str, Metric] = {}
        for i, item in enumerate(items):
            metric = _parse_metric(item, i, shared)
            metrics[metric.name] = metric
        return cls(metrics=dict(sorted(metrics.items())), version=version)

    def dimensions(self) -> dict[str, list[str]]:
        """Dimension name -> the metrics that declare it."""
        out: dict[str, list[str]] = {}
        for m in self.metrics.values():
            for d in m.dimensions:
                out.setdefault(d, []).append(m.name)
        return dict(sorted(out.items()))


EMPTY = Catalog(metrics={}, version="none")


class CatalogFile:
    """The catalog JSON on disk, re-read when the file changes. Thread-safe.

    The file is stat()ed at most every ``check_interval`` seconds (0 = on every call), so a
    new catalog is seen at most that long after it is written. A file that fails to parse
    keeps the last good catalog served and reports the error in :attr:`error` (shown by
    /healthz), so a half-written or broken build never takes the API down.
    """

    def __init__(self, path: Path, *, check_interval: float = 0.0) -> None:
        self.path = Path(path)
        self._path = os.fspath(self.path)
        self.check_interval = max(0.0, check_interval)
        self._checked_at = -math.inf
        self._lock = threading.Lock()
        self._identity: tuple[int, int, int] | None = None
        self._catalog: Catalog = EMPTY
        self.error: str | None = None

    def get(self) -> Catalog:
        now = time.monotonic()
        if now - self._checked_at < self.check_interval:
            return self._catalog
        try:
            st = os.stat(self._path)
            ident: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            ident = None
        if ident == self._identity:
            self._checked_at = now
            return self._catalog
        with self._lock:
            if ident != self._identity:
                if ident is None:
                    self._catalog, self.error = EMPTY, None
                else:
                    try:
                        data = self.path.read_bytes()
                        version = "-".join(str(x) for x in ident)
                        self._catalog, self.error = Catalog.parse(data, version), None
                    except (OSError, ServeError) as exc:
                        self.error = str(exc)
                self._identity = ident
            self._checked_at = now
            return self._catalog
