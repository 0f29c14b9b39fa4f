"""The schema file of a CSV drop dataset: column types and rules, and the types they derive.

One YAML file per dataset is the only schema: the Arrow types the files are parsed into,
the Parquet columns in the lake and the columns of the warehouse table (each engine maps
the Arrow types to its own) all derive from it. Format::

    columns:
      school: {type: string, allowed: [GP, MS]}
      age: {type: integer, min: 15, max: 22}
      romantic: {type: boolean}
      note: {type: string, required: false, max_length: 200}
    true_values: [yes, "true", "1"]     # optional (these are the defaults, any case)
    false_values: [no, "false", "0"]
    null_values: [""]                   # optional: cells that mean "no value"

Types: ``string``, ``integer`` (64-bit), ``number`` (double), ``boolean``, ``date``
(``YYYY-MM-DD``), ``timestamp`` (ISO 8601; no offset means UTC). A column is required (no
empty cell) unless ``required: false``. Column names are normalised like file headers
(:func:`normalize_name`), so ``Medu`` in a schema file means ``medu``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pyarrow as pa
import yaml

from eventlake.errors import ConfigError

__all__ = [
    "COLUMN_TYPES",
    "ColumnSpec",
    "ColumnType",
    "CsvSchema",
    "load_schema",
    "normalize_name",
    "parse_schema",
]

ColumnType = Literal["string", "integer", "number", "boolean", "date", "timestamp"]
COLUMN_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "date", "timestamp")

_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_EXPECTED = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "date": "a date YYYY-MM-DD",
    "timestamp": "an ISO 8601 timestamp",
}
_DEFAULT_TRUE = ("yes", "true", "1", "y", "t")
_DEFAULT_FALSE = ("no", "false", "0", "n", "f")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def normalize_name(name: str) -> str:
    """Trim, snake_case and lower-case a header name: ``" Mother Job"`` -> ``mother_job``.

    camelCase splits (``userId`` -> ``user_id``); a leading capital does not (``Medu`` ->
    ``medu``); any run of other characters becomes one ``_``.
    """
    name = name.strip().lstrip("\ufeff").strip('"').strip()
    name = _CAMEL.sub("_", name)
    return _NON_WORD.sub("_", name).strip("_").lower()


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the schema: its type and the rules its values must keep."""

    name: str
    type: ColumnType
    required: bool = True
    allowed: tuple[Any, ...] | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.type]

    def expected(self) -> str:
        """What a valid value looks like, for problem reports."""
        parts = [_EXPECTED[self.type]]
        if self.allowed is not None:
            parts.append("one of " + ", ".join(str(a) for a in self.allowed))
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        if self.max_length is not None:
            parts.append(f"at most {self.max_length} characters")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class CsvSchema:
    """A dataset's columns (in schema order) and its value vocabulary."""

    columns: tuple[ColumnSpec, ...]
    true_values: tuple[str, ...] = _DEFAULT_TRUE
    false_values: tuple[str, ...] = _DEFAULT_FALSE
    null_values: tuple[str, ...] = ("",)
    source: str = "<schema>"
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Hashed once: per-file caches key on the schema, and hashing 33 columns per
        # lookup showed up in profiles of 1,000-file ingests.
        fields = (self.columns, self.true_values, self.false_values, self.null_values)
        object.__setattr__(self, "_hash", hash((*fields, self.source)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def arrow_schema(self) -> pa.Schema:
        """The Parquet/Arrow schema of a loaded file (schema order, nullable per rule)."""
        return pa.schema([pa.field(c.name, c.arrow_type, not c.required) for c in self.columns])

    def bool_words(self) -> tuple[list[str], list[str]]:
        """True and false spellings in lower, upper and title case (Arrow compares exactly)."""

        def spell(words: tuple[str, ...]) -> list[str]:
            return sorted({v for w in words for v in (w.lower(), w.upper(), w.title())})

        return spell(self.true_values), spell(self.false_values)


def _fail(source: str, where: str, msg: str) -> ConfigError:
    return ConfigError(f"schema {source}: {where}: {msg}")


def _number(source: str, where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, where, f"expected a number, got {value!r}")
    return float(value)


def _column(source: str, raw_name: str, raw: Any) -> ColumnSpec:
    name = normalize_name(str(raw_name))
    where = f"column {raw_name!r}"
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise _fail(source, where, "expected a mapping like {type: integer}")
    unknown = set(raw) - {
        "type", "required", "allowed", "max_length", "min", "max", "description",
    }  # fmt: skip
    if unknown:
        raise _fail(source, where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    ctype = raw.get("type", "string")
    if ctype not in COLUMN_TYPES:
        raise _fail(source, where, f"type {ctype!r} is not one of {', '.join(COLUMN_TYPES)}")
    allowed = raw.get("allowed")
    if allowed is not None:
        if not isinstance(allowed, list) or not allowed:
            raise _fail(source, where, "'allowed' must be a non-empty list")
        if ctype == "string" and any(isinstance(a, bool) for a in allowed):
            raise _fail(
                source, where, "quote yes/no/true/false in 'allowed' (YAML reads them as booleans)"
            )
        allowed = tuple(str(a) if ctype == "string" else a for a in allowed)
    max_length = raw.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise _fail(source, where, "'max_length' must be a positive integer")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise _fail(source, where, "'required' must be true or false")
    return ColumnSpec(
        name=name,
        type=cast(ColumnType, ctype),
        required=required,
        allowed=allowed,
        max_length=max_length,
        minimum=_number(source, where + " min", raw.get("min")),
        maximum=_number(source, where + " max", raw.get("max")),
        description=str(raw.get("description", "")),
    )


def _words(
    source: str, doc: Mapping[str, Any], key: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, list):
        raise _fail(source, key, "expected a list of strings")
    # YAML reads bare yes/no/true as booleans: give them back their spelling.
    return tuple(
        ("yes" if v else "no") if isinstance(v, bool) and key != "null_values" else str(v)
        for v in value
    )


def parse_schema(doc: Any, source: str = "<schema>") -> CsvSchema:
    """Build a :class:`CsvSchema` from a parsed YAML document.

    Raises:
        ConfigError: the document is not a valid schema (the message names the key).
    """
    if not isinstance(doc, Mapping) or not isinstance(doc.get("columns"), Mapping):
        raise ConfigError(f"schema {source}: expected a top-level 'columns:' mapping")
    unknown = set(doc) - {"columns", "true_values", "false_values", "null_values", "description"}
    if unknown:
        raise _fail(source, "top level", f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    columns = tuple(_column(source, str(k), v) for k, v in doc["columns"].items())
    if not columns:
        raise _fail(source, "columns", "at least one column is needed")
    seen: set[str] = set()
    for c in columns:
        if c.name in seen or not c.name:
            raise _fail(source, f"column {c.name!r}", "duplicate or empty after normalisation")
        seen.add(c.name)
    return CsvSchema(
        columns=columns,
        true_values=_words(source, doc, "true_values", _DEFAULT_TRUE),
        false_values=_words(source, doc, "false_values", _DEFAULT_FALSE),
        null_values=_words(source, doc, "null_values", ("",)),
        source=source,
    )


def load_schema(path: Path) -> CsvSchema:
    """Read and check a YAML schema file (see the module docstring for its format)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read schema file {path}: {exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"schema {path} is not valid YAML: {exc}") from exc
    return parse_schema(doc, str(path))
