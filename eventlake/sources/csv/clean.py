"""First look at a dropped CSV file: identity, encoding, delimiter and header.

Everything decided per file before its rows are parsed: the content hash that identifies
the file (the same bytes load once), the encoding (UTF-8, UTF-8 with BOM, else Latin-1 as a
reported fallback; binary content is refused), the delimiter (``,`` ``;`` tab ``|`` from
the header line, or the configured one), and the header (names trimmed, snake_cased and
lower-cased, then matched against the schema: missing, unknown and duplicate columns are
problems). The result, a :class:`PreparedFile`, holds the UTF-8 body without its header,
ready for :mod:`eventlake.sources.csv.convert`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventlake.sources.csv.schema import CsvSchema, normalize_name

__all__ = [
    "DELIMITERS",
    "FileRejected",
    "PreparedFile",
    "Problem",
    "delimiter_name",
    "has_blank_lines",
    "prepare_file",
]

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_QUOTED = re.compile(r'"[^"]*"')
_NOT_SPACE = re.compile(rb"\S")  # bytes.strip()'s whitespace is regex \s for bytes
# Bytes that never occur in text files (C0 controls but tab, LF, CR, plus DEL).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"
_TEXT_BYTES = bytes(b for b in range(256) if b not in _CONTROL)


def delimiter_name(delimiter: str) -> str:
    """How logs and reports spell a delimiter: ``tab`` or the character itself."""
    return "tab" if delimiter == "\t" else delimiter


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a file fails: where (row, line, column), the value, what was expected.

    ``row`` is the 1-based data row (the header is not a row, dropped empty rows still
    count); ``line`` the 1-based physical line of the file; both are ``None`` for problems
    of the whole file (empty, binary, header).
    """

    expected: str
    row: int | None = None
    line: int | None = None
    column: str | None = None
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "expected": self.expected,
        }

    def describe(self) -> str:
        """One line for logs: ``line 7, column 'age': value 'x', expected an integer``."""
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        value = f"value {self.value!r}: " if self.value is not None else ""
        text = f"{value}expected {self.expected}"
        return f"{prefix}: {text}" if prefix else text


class FileRejected(Exception):
    """Internal: the file fails; carries its problems (never escapes the source)."""

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        super().__init__(problems[0].describe() if problems else "rejected")
        self.problems = problems
        self.total = total if total is not None else len(problems)


@dataclass(slots=True)
class PreparedFile:
    """A file whose bytes, encoding, delimiter and header are known and acceptable."""

    path: Path
    sha256: str
    size: int
    data: bytes  # UTF-8 text including the header
    body_start: int  # offset of the first byte after the header line
    encoding: str
    delimiter: str
    header: tuple[str, ...]  # normalised names in file order
    header_key: bytes  # raw header line: files sharing it parse together
    lines: int  # newline-terminated body lines (+1 for an unterminated last line)
    terminated: bool  # the body ends with a newline
    batchable: bool  # no blank lines / lone CRs: rows map to lines exactly
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def body(self) -> memoryview:
        return memoryview(self.data)[self.body_start :]


def hash_bytes(data: bytes) -> str:
    """The content identity of a file: SHA-256 hex of its bytes."""
    return hashlib.sha256(data).hexdigest()


def _decode(data: bytes, forced: str | None) -> tuple[bytes, str, list[str]]:
    if forced:
        try:
            return data.decode(forced).encode("utf-8"), forced, []
        except (UnicodeDecodeError, LookupError) as exc:
            raise FileRejected(
                [Problem(f"text in the configured encoding {forced}: {exc}")]
            ) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        enc = "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected([Problem("UTF-8 or Latin-1 text, not UTF-16 (save the file as UTF-8)")])
    else:
        enc = "utf-8"
    if b"\x00" in data:
        raise FileRejected(
            [Problem(f"a text CSV file (found NUL bytes at offset {data.index(0)}: binary data)")]
        )
    if data.isascii():
        return data, enc, []
    try:
        data.decode("utf-8")
        return data, enc, []
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    controls = len(data.translate(None, _TEXT_BYTES))
    high_controls = sum(data.count(bytes([b])) for b in range(0x80, 0xA0))
    if controls + high_controls > max(2, len(data) // 200):
        raise FileRejected([Problem("a text CSV file (mostly control bytes: binary data)")])
    note = f"not UTF-8 (invalid byte at offset {bad_at}); read as Latin-1"
    return data.decode("latin-1").encode("utf-8"), "latin-1", [note]


def _detect_delimiter(header: str, forced: str | None) -> str:
    bare = _QUOTED.sub("", header)
    counts = {d: bare.count(d) for d in DELIMITERS}
    if forced:
        if counts.get(forced, bare.count(forced)) == 0 and any(counts.values()):
            found = max(counts, key=lambda d: counts[d])
            raise FileRejected(
                [
                    Problem(
                        f"the configured delimiter '{delimiter_name(forced)}' "
                        f"(the header uses '{delimiter_name(found)}')",
                        line=1,
                    )
                ]
            )
        return forced
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best] == 0:
        raise FileRejected(
            [
                Problem(
                    "a header delimited by one of ',' ';' tab '|' (found none)",
                    line=1,
                    value=header[:200],
                )
            ]
        )
    return best


def _check_header(
    names: list[str], raw: list[str], schema: CsvSchema, extra_policy: str
) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, (name, original) in enumerate(zip(names, raw, strict=True), 1):
        if not name:
            problems.append(Problem("a column name", line=1, column=f"#{i}", value=original))
        elif name in seen:
            problems.append(
                Problem(
                    f"unique column names (also column #{seen[name]})",
                    line=1,
                    column=name,
                    value=original,
                )
            )
        else:
            seen[name] = i
    wanted = set(schema.names)
    for col in schema.names:
        if col not in seen:
            problems.append(Problem("this column in the header (missing)", line=1, column=col))
    if extra_policy == "fail":
        for name in seen:
            if name not in wanted:
                problems.append(
                    Problem(
                        "no column outside the schema (unknown column)",
                        line=1,
                        column=name,
                        value=raw[seen[name] - 1],
                    )
                )
    return problems


def _split_header(line: str, delimiter: str) -> list[str]:
    import csv

    return next(csv.reader([line], delimiter=delimiter), [])


@functools.lru_cache(maxsize=256)
def _read_header(
    header: str, forced: str | None, schema: CsvSchema, extra_columns: str
) -> tuple[str, tuple[str, ...], tuple[Problem, ...]]:
    """(delimiter, normalised names, problems) of a header line; cached: drops repeat it."""
    delim = _detect_delimiter(header, forced)
    raw_names = _split_header(header, delim)
    names = [normalize_name(n) for n in raw_names]
    return delim, tuple(names), tuple(_check_header(names, raw_names, schema, extra_columns))


def _count_newlines(text: bytes, start: int) -> int:
    """``text.count(b"\\n", start)``, vectorised (twice as fast on 50 KB files)."""
    body = np.frombuffer(text, np.uint8, offset=start)
    return int(np.count_nonzero(body == 10))


def has_blank_lines(pf: PreparedFile) -> bool:
    """Whether the body has blank lines (pyarrow skips them, so rows != lines)."""
    text, start = pf.data, pf.body_start
    return (
        text.find(b"\n\n", start) >= 0
        or text.find(b"\n\r\n", start) >= 0
        or text.startswith((b"\n", b"\r\n"), start)
    )


def prepare_file(
    path: Path,
    data: bytes,
    schema: CsvSchema,
    *,
    sha256: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    extra_columns: str = "fail",
) -> PreparedFile:
    """Decide encoding, delimiter and header of one file's bytes.

    Raises:
        FileRejected: empty, binary, undelimited, header-only, or a header that does not
            match the schema.
    """
    digest = sha256 or hash_bytes(data)
    size = len(data)
    if not data or data.isspace():  # isspace: same set as strip(), without a copy
        raise FileRejected([Problem("a header line and data rows (the file is empty)")])
    text, enc, notes = _decode(data, encoding)
    nl = text.find(b"\n")
    header_bytes = text if nl < 0 else text[:nl]
    body_start = len(text) if nl < 0 else nl + 1
    header = header_bytes.decode("utf-8").rstrip("\r")
    delim, names, problems = _read_header(header, delimiter, schema, extra_columns)
    if problems:
        raise FileRejected(list(problems))
    if _NOT_SPACE.search(text, body_start) is None:
        raise FileRejected([Problem("data rows after the header (header only)", line=2)])
    lines = _count_newlines(text, body_start)
    terminated = text.endswith(b"\n")
    if not terminated:
        lines += 1
    # Blank lines are looked for only when a batch's row count disagrees (see
    # has_blank_lines); a lone CR (old Mac line end) would split lines pyarrow-style.
    batchable = b"\r" not in text or text.count(b"\r") == text.count(b"\r\n")
    return PreparedFile(
        path=path,
        sha256=digest,
        size=size,
        data=text,
        body_start=body_start,
        encoding=enc,
        delimiter=delim,
        header=names,
        header_key=delim.encode() + b"\x00" + header_bytes,
        lines=lines,
        terminated=terminated,
        batchable=batchable,
        notes=notes,
    )
