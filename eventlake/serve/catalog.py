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

__all__ = ["Catalog", "CatalogFile", "Column", "Metric", "quote_ident"]

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
class Metric:
    """One metric model: a relation in the warehouse plus what the API may filter on."""

    name: str
    description: str
    relation: tuple[str, str]
    date_column: str | None
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def sql_relation(self) -> str:
        return ".".join(quote_ident(p) for p in self.relation)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "relation": ".".join(self.relation),
            "date_column": self.date_column,
            "dimensions": list(self.dimensions),
            "measures": list(self.measures),
            "columns": [
                {"name": c.name, "type": c.type, "description": c.description} for c in self.columns
            ],
            "formats": ["json", "csv"],
            "parameters": (["start", "end"] if self.date_column else [])
            + list(self.dimensions)
            + ["group_by", "sort", "limit", "offset"],
        }


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ServeError(f"metrics catalog: {where} is not a valid identifier: {value!r}")
    return value


def _parse_metric(obj: Any, index: int) -> Metric:
    if not isinstance(obj, dict):
        raise ServeError(f"metrics catalog: metrics[{index}] is not an object")
    name = _ident(obj.get("name"), f"metrics[{index}].name")
    where = f"metric {name!r}"
    relation_text = obj.get("relation") or f"metrics.{name}"
    parts = str(relation_text).split(".")
    if len(parts) == 1:
        parts = ["metrics", parts[0]]
    if len(parts) != 2:
        raise ServeError(f"metrics catalog: {where} relation {relation_text!r} is not schema.name")
    relation = (_ident(parts[0], f"{where} relation"), _ident(parts[1], f"{where} relation"))
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
    measures = tuple(_ident(m, f"{where} measure") for m in obj.get("measures") or [])
    for d in (*dims, *measures):
        if d not in names:
            raise ServeError(f"metrics catalog: {where} names {d!r}, which is not a column")
    return Metric(
        name=name,
        description=str(obj.get("description") or ""),
        relation=relation,
        date_column=date_column,
        dimensions=dims,
        measures=measures,
        columns=tuple(columns),
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
        metrics: dict[str, Metric] = {}
        for i, item in enumerate(items):
            metric = _parse_metric(item, i)
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
