"""The typed results of a CSV drop ingest and the rules for which names are picked up.

:class:`CsvFileOutcome` is one file's fate (one line of ``ingest.log``),
:class:`CsvIngestResult` one :meth:`~eventlake.sources.csv.CsvSource.ingest` call (what the
CLI prints and ``--json`` emits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from eventlake.sources.csv.clean import PreparedFile

__all__ = [
    "LINEAGE_FIELD",
    "CsvFileOutcome",
    "CsvIngestResult",
    "Outcome",
    "PassedFiles",
    "is_candidate",
    "with_lineage",
]

Outcome = Literal["loaded", "failed", "duplicate"]

#: The column every loaded row carries besides the schema's: the file it came from.
LINEAGE_FIELD = pa.field("_source_file", pa.string())


@dataclass(slots=True)
class CsvFileOutcome:
    """What happened to one input file."""

    file: str
    outcome: Outcome
    sha256: str = ""
    bytes: int = 0
    rows: int = 0
    empty_rows: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    seconds: float = 0.0
    problems: int = 0
    error: str | None = None
    error_file: str | None = None
    moved_to: str | None = None
    notes: list[str] = field(default_factory=list)
    commit_id: str | None = None  # the lake commit holding a loaded file's rows

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["notes"] = list(self.notes)
        return out


@dataclass(slots=True)
class CsvIngestResult:
    """The outcome of one :meth:`CsvSource.ingest` call."""

    dataset: str
    files: list[CsvFileOutcome]
    seconds: float
    commit_id: str | None = None  # the first (usually only) lake commit of the call
    warehouse_commits: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per step
    commit_ids: list[str] = field(default_factory=list)  # every lake commit of the call

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.files if f.outcome == outcome)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files if f.outcome == "loaded")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "files": len(self.files),
            "loaded": self.count("loaded"),
            "failed": self.count("failed"),
            "duplicates": self.count("duplicate"),
            "rows": self.rows,
            "empty_rows": sum(f.empty_rows for f in self.files),
            "seconds": round(self.seconds, 4),
            "commit_id": self.commit_id,
            "commit_ids": self.commit_ids,
            "warehouse_commits": self.warehouse_commits,
            "stages": {k: round(v, 4) for k, v in self.stages.items()},
            "outcomes": [f.to_dict() for f in self.files],
        }


_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", ".filepart")


def is_candidate(name: str, patterns: Sequence[str]) -> bool:
    """A name the source may read: matches a pattern and is not hidden or temporary."""
    if name.startswith((".", "~")) or name.lower().endswith(_TEMP_SUFFIXES):
        return False
    return any(fnmatch(name.lower(), p.lower()) for p in patterns)


@dataclass(slots=True)
class PassedFiles:
    """Files that passed, in row order, and the tables holding their rows in that order."""

    files: list[tuple[PreparedFile, CsvFileOutcome]] = field(default_factory=list)
    tables: list[pa.Table] = field(default_factory=list)


def with_lineage(passed: PassedFiles) -> pa.Table:
    """Concatenate passed files' rows and add ``_source_file`` (its hash is in the commit)."""
    tables = [t for t in passed.tables if t.num_rows]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    table = table.combine_chunks() if table.column(0).num_chunks > 64 else table
    counts = np.array([o.rows for _, o in passed.files], dtype=np.int64)
    codes = pa.array(np.repeat(np.arange(len(counts), dtype=np.int32), counts))
    files = passed.files
    names = pa.DictionaryArray.from_arrays(codes, pa.array([pf.name for pf, _ in files]))
    return table.append_column(LINEAGE_FIELD.name, names)
