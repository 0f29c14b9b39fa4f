"""Bus records -> Arrow tables, columnar: the lander's hot path.

A bus record is JSON (one event), Arrow (an IPC stream of many events, see
``bus/records.py``) or a collector request record (many events as the client sent them, see
``bus/request_records.py``); the first byte of each record says which. Arrow records are
read zero-copy from the read buffer with ``pyarrow.ipc``; a request record is expanded into
JSON event records by ``spec.prepare_events`` (exactly what the collector's general path
makes) and parsed like them; every row of a many-event record gets its record's offset as
``bus_offset``. JSON values are already newline-delimited on the bus (``bus/frames.py``),
so a run of JSON records is parsed by one ``pyarrow.json.read_json`` call with an explicit
schema; no Python object is made per record. Rows keep the records' order.

A JSON record that does not fit the schema (malformed JSON, a missing required column, a
wrong type) is found by bisection, and an Arrow record that cannot be read (not an IPC
stream, a required column missing or null, an incompatible type) is taken whole; either
becomes a quarantine row with reason code ``unreadable_record`` instead of stopping the
lander: bad input never blocks good data.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from eventlake.bus.base import QUARANTINE, TopicPartition
from eventlake.bus.records import RecordFormatError, decode_arrow_record
from eventlake.bus.request_records import (
    REQUEST_MARKER,
    RequestRecordError,
    expand_request_record,
)
from eventlake.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA
from eventlake.land.expand import RequestColumns, Segment

__all__ = [
    "Run",
    "UNREADABLE",
    "Converted",
    "convert_runs",
    "split_by_day",
]

#: Reason code of a bus record the lander could not read into its lake schema.
UNREADABLE = "unreadable_record"

_BUS_COLUMNS = ("bus_partition", "bus_offset")
_DAY_US = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)


def _input_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f for f in schema if f.name not in _BUS_COLUMNS])


_INPUT = {
    "events": _input_schema(EVENT_SCHEMA),
    "quarantine": _input_schema(QUARANTINE_SCHEMA),
}
_REQUIRED = {kind: [f.name for f in schema if not f.nullable] for kind, schema in _INPUT.items()}


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive records of one partition.

    ``values`` is each value followed by ``b"\\n"``; ``offsets`` the offset of each record;
    ``value_lens`` (optional) each value's length without the newline.
    """

    tp: TopicPartition
    offsets: npt.NDArray[np.int64]
    values: bytes | memoryview
    value_lens: npt.NDArray[np.uint32] | None = None

    @classmethod
    def of(cls, tp: TopicPartition, first_offset: int, values: Sequence[bytes]) -> Run:
        """The run of ``values`` at consecutive offsets from ``first_offset`` (as a consumer
        hands them over: each value followed by a newline, with its length)."""
        return cls(
            tp,
            np.arange(first_offset, first_offset + len(values), dtype=np.int64),
            b"".join(v + b"\n" for v in values),
            np.array([len(v) for v in values], dtype=np.uint32),
        )

    @property
    def count(self) -> int:
        return len(self.offsets)

    def starts(self) -> npt.NDArray[np.int64] | None:
        """Byte position of each value in ``values`` (None without ``value_lens``)."""
        if self.value_lens is None:
            return None
        ends = np.cumsum(self.value_lens.astype(np.int64) + 1)
        return np.concatenate([np.zeros(1, np.int64), ends[:-1]])

    def arrow_mask(self) -> npt.NDArray[np.bool_] | None:
        """Which records are binary: Arrow IPC streams (first byte 0xFF) or request records
        (0xFE); None: all JSON, or unknown boundaries."""
        if self.count == 1 and self.value_lens is not None:  # a frame per record: common
            if self.value_lens[0] == 0 or self.values[0] < 0xFE:
                return None
            return np.ones(1, dtype=bool)
        starts = self.starts()
        if starts is None or self.value_lens is None or not len(starts):
            return None
        nonempty = self.value_lens > 0
        first = np.frombuffer(self.values, dtype=np.uint8)[starts[nonempty]]
        binary = first >= 0xFE
        if not binary.any():
            return None
        mask = np.zeros(self.count, dtype=bool)
        mask[nonempty] = binary
        return mask

    def lines(self) -> bytes:
        """``values`` with exactly one newline per record (newlines inside values blanked).

        A raw newline inside a JSON document can only be whitespace, so blanking it keeps
        the document's meaning.
        """
        values = bytes(self.values)
        if values.count(b"\n") == self.count:
            return values
        if self.value_lens is None:
            raise ValueError("run without value lengths has newlines inside values")
        out, pos = [], 0
        for n in self.value_lens.tolist():
            out.append(values[pos : pos + n].replace(b"\n", b" "))
            pos += n + 1
        return b"\n".join(out) + b"\n"


@dataclass(frozen=True, slots=True)
class Converted:
    """One partition's rows: its lake table and its unreadable records (quarantine rows)."""

    tp: TopicPartition
    first_offset: int
    last_offset: int
    table: pa.Table
    bad: pa.Table


def _read(lines: bytes, schema: pa.Schema, block_size: int) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(lines),  # zero-copy, no Python-level reads
        read_options=pj.ReadOptions(block_size=block_size),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )


def _parse(lines: bytes, n: int, kind: str, block_size: int) -> tuple[pa.Table | None, str | None]:
    """Parse ``n`` lines; (table, None) when every line fits the schema, else (None, why)."""
    schema = _INPUT[kind]
    try:
        table = _read(lines, schema, block_size)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return None, str(exc).splitlines()[0]
    if table.num_rows != n:
        return None, f"expected {n} JSON object(s), read {table.num_rows}"
    for name in _REQUIRED[kind]:
        if table.column(name).null_count:
            return None, f"required column {name!r} is null"
    return table, None


def _bisect(
    lines: bytes, kind: str, block_size: int, bad: list[tuple[int, str]], base: int
) -> list[pa.Table]:
    """Tables of the good lines of ``lines``; appends (index, why) of each bad line."""
    n = lines.count(b"\n")
    table, why = _parse(lines, n, kind, block_size)
    if table is not None:
        return [table]
    if n == 1:
        bad.append((base, why or "unreadable"))
        return []
    ends = np.flatnonzero(np.frombuffer(lines, dtype=np.uint8) == 10)
    cut = int(ends[n // 2 - 1]) + 1
    return _bisect(lines[:cut], kind, block_size, bad, base) + _bisect(
        lines[cut:], kind, block_size, bad, base + n // 2
    )


def _bad_rows(
    runs: Sequence[Run], lines: bytes, bad: list[tuple[int, str]], now: dt.datetime
) -> pa.Table:
    if not bad:
        return QUARANTINE_SCHEMA.empty_table()
    split = lines.split(b"\n")
    offsets = np.concatenate([r.offsets for r in runs])
    tp = runs[0].tp
    rows = []
    for index, why in bad:
        off = int(offsets[index])
        rows.append(
            {
                "received_at": now,
                "reason_code": UNREADABLE,
                "reason": f"lander could not read bus record {tp.topic}/{tp.partition}@{off}: "
                f"{why}",
                "raw": split[index].decode("utf-8", errors="replace"),
                "bus_partition": tp.partition,
                "bus_offset": off,
            }
        )
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def convert_runs(runs: Sequence[Run], *, block_size: int = 4 << 20) -> list[Converted]:
    """Convert runs of one topic into one lake table per partition (in the runs' order).

    Runs of one partition must be given in offset order; the tables get ``bus_partition``
    and ``bus_offset`` from where each record was read (an Arrow record's rows all get the
    record's offset), rows in record order.
    """
    if not runs:
        return []
    masks = [r.arrow_mask() for r in runs]
    if any(m is not None for m in masks):
        return _convert_mixed(runs, masks, block_size)
    return _convert_json(runs, block_size)


def _convert_json(runs: Sequence[Run], block_size: int) -> list[Converted]:
    """All records JSON: one parse for the whole batch (the pre-Arrow fast path)."""
    topic = runs[0].tp.topic
    kind = "quarantine" if topic == QUARANTINE else "events"
    schema = QUARANTINE_SCHEMA if kind == "quarantine" else EVENT_SCHEMA
    by_tp: dict[TopicPartition, list[Run]] = {}
    for r in runs:
        by_tp.setdefault(r.tp, []).append(r)
    ordered = [r for rs in by_tp.values() for r in rs]
    total = sum(r.count for r in ordered)
    lines = b"".join(r.values for r in ordered)  # the one copy of the batch
    if lines.count(b"\n") != total:
        lines = b"".join(r.lines() for r in ordered)
    table, _why = _parse(lines, total, kind, block_size)
    keep: npt.NDArray[np.bool_] | None = None
    bad_all: list[tuple[int, str]] = []
    if table is None:
        parts = _bisect(lines, kind, block_size, bad_all, 0)
        table = pa.concat_tables(parts) if parts else _INPUT[kind].empty_table()
        keep = np.ones(total, dtype=bool)
        keep[[i for i, _ in bad_all]] = False
    offsets = np.concatenate([r.offsets for r in ordered])
    partitions = np.concatenate([np.full(r.count, r.tp.partition, dtype=np.int32) for r in ordered])
    if keep is not None:
        offsets, partitions = offsets[keep], partitions[keep]
    table = table.append_column("bus_partition", pa.array(partitions, pa.int32()))
    table = table.append_column("bus_offset", pa.array(offsets, pa.int64()))
    table = table.cast(schema)
    now = dt.datetime.now(dt.UTC)
    out: list[Converted] = []
    row = 0
    index = 0
    for tp, rs in by_tp.items():
        n = sum(r.count for r in rs)
        bad_here = [(i - index, why) for i, why in bad_all if index <= i < index + n]
        good = n - len(bad_here)
        tp_lines = b"".join(r.lines() for r in rs) if bad_here else b""
        out.append(
            Converted(
                tp,
                int(rs[0].offsets[0]),
                int(rs[-1].offsets[-1]),
                table.slice(row, good),
                _bad_rows(rs, tp_lines, bad_here, now),
            )
        )
        row += good
        index += n
    return out


@dataclass(frozen=True, slots=True)
class _Piece:
    """A stretch of one partition's records: consecutive JSON records, or one Arrow record."""

    arrow: bool
    data: bytes | memoryview
    offsets: npt.NDArray[np.int64]
    value_lens: npt.NDArray[np.uint32] | None


def _pieces(run: Run, mask: npt.NDArray[np.bool_] | None) -> Iterator[_Piece]:
    if mask is None or run.value_lens is None:
        yield _Piece(False, run.values, run.offsets, run.value_lens)
        return
    if run.count == 1 and mask[0]:  # one binary record: no positions to work out
        yield _Piece(True, memoryview(run.values)[: int(run.value_lens[0])], run.offsets, None)
        return
    starts = run.starts()
    assert starts is not None
    lens = run.value_lens
    view = memoryview(run.values)
    i = 0
    for a in np.flatnonzero(mask).tolist():
        if a > i:
            end = int(starts[a - 1] + lens[a - 1]) + 1
            yield _Piece(False, view[int(starts[i]) : end], run.offsets[i:a], lens[i:a])
        pos = int(starts[a])
        yield _Piece(True, view[pos : pos + int(lens[a])], run.offsets[a : a + 1], None)
        i = a + 1
    if i < run.count:
        yield _Piece(False, view[int(starts[i]) :], run.offsets[i:], lens[i:])


def _json_lines(piece: _Piece) -> bytes:
    values = bytes(piece.data)
    n = len(piece.offsets)
    if values.count(b"\n") == n or piece.value_lens is None:
        return values
    return Run(TopicPartition("", 0), piece.offsets, values, piece.value_lens).lines()


def _with_bus_columns(
    table: pa.Table, partition: int, offsets: npt.NDArray[np.int64], schema: pa.Schema
) -> pa.Table:
    table = table.append_column(
        "bus_partition", pa.array(np.full(len(offsets), partition, np.int32), pa.int32())
    )
    table = table.append_column("bus_offset", pa.array(offsets, pa.int64()))
    return table.cast(schema)


def _reject(
    bad: list[dict[str, object]],
    tp: TopicPartition,
    now: dt.datetime,
    offset: int,
    why: str,
    raw: str,
) -> None:
    """Add the quarantine row of an unreadable record."""
    bad.append(
        {
            "received_at": now,
            "reason_code": UNREADABLE,
            "reason": f"lander could not read bus record {tp.topic}/{tp.partition}@{offset}: {why}",
            "raw": raw,
            "bus_partition": tp.partition,
            "bus_offset": offset,
        }
    )


def _expand(
    data: bytes | memoryview,
    tp: TopicPartition,
    now: dt.datetime,
    offset: int,
    kind: str,
    bad: list[dict[str, object]],
) -> list[bytes]:
    """The JSON event records a collector request record stands for.

    Its events passed the collector's checks, so each becomes a record; should one not (a
    record written by another version, say), it becomes a quarantine row with its reason,
    as does a record that cannot be read at all.
    """
    raw = bytes(data)
    try:
        batch = expand_request_record(raw)
    except RequestRecordError as exc:
        _reject(bad, tp, now, offset, str(exc), "base64:" + base64.b64encode(raw).decode())
        return []
    if kind == "quarantine":  # request records carry accepted events only
        _reject(bad, tp, now, offset, "a request record on the quarantine topic", "")
        return []
    for q, qraw in zip(batch.quarantined, batch.quarantine_records, strict=True):
        why = f"event #{q.index} of a request record: {q.reason_code}: {q.reason}"
        _reject(bad, tp, now, offset, why, str(json.loads(qraw)["raw"]))
    return batch.records


def _add_columnar(columnar: RequestColumns, data: bytes | memoryview, offset: int) -> bool:
    """Add a request record's rows as columns; False: it takes the JSON route (which also
    reports any damage)."""
    try:
        return columnar.add(data, offset)
    except RequestRecordError:
        return False


class _Expanded:
    """Consecutive request records' JSON lines, parsed in one go (a parse per 100-event
    record would cost more than the expansion)."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.offsets: list[int] = []

    def add(self, records: list[bytes], offset: int) -> None:
        self.records += records
        self.offsets += [offset] * len(records)

    def flush(
        self,
        tp: TopicPartition,
        now: dt.datetime,
        kind: str,
        schema: pa.Schema,
        block_size: int,
        bad: list[dict[str, object]],
    ) -> pa.Table | None:
        if not self.records:
            return None
        records, offsets = self.records, np.array(self.offsets, dtype=np.int64)
        self.records, self.offsets = [], []
        lines = b"\n".join(records) + b"\n"
        errors: list[tuple[int, str]] = []
        parts = _bisect(lines, kind, block_size, errors, 0)
        if errors:
            keep = np.ones(len(offsets), dtype=bool)
            keep[[i for i, _ in errors]] = False
            for i, why in errors:
                raw = records[i].decode("utf-8", errors="replace")
                _reject(bad, tp, now, int(offsets[i]), why, raw)
            offsets = offsets[keep]
        if not parts:
            return None
        return _with_bus_columns(pa.concat_tables(parts), tp.partition, offsets, schema)


def _convert_mixed(
    runs: Sequence[Run], masks: Sequence[npt.NDArray[np.bool_] | None], block_size: int
) -> list[Converted]:
    """Arrow records among the runs: decode each, parse each stretch of JSON, in order."""
    topic = runs[0].tp.topic
    kind = "quarantine" if topic == QUARANTINE else "events"
    schema = QUARANTINE_SCHEMA if kind == "quarantine" else EVENT_SCHEMA
    now = dt.datetime.now(dt.UTC)
    by_tp: dict[TopicPartition, list[tuple[Run, npt.NDArray[np.bool_] | None]]] = {}
    for r, m in zip(runs, masks, strict=True):
        by_tp.setdefault(r.tp, []).append((r, m))
    out: list[Converted] = []
    for tp, rms in by_tp.items():
        tables: list[pa.Table] = []
        bad: list[dict[str, object]] = []

        expanded = _Expanded()
        columnar = RequestColumns()

        def flush_expanded() -> None:
            table = expanded.flush(tp, now, kind, schema, block_size, bad)  # noqa: B023
            if table is not None:
                tables.append(table)  # noqa: B023

        def flush_columnar() -> None:
            for part in columnar.flush():  # noqa: B023
                if isinstance(part, Segment):
                    table = _with_bus_columns(part.table, tp.partition, part.offsets, schema)  # noqa: B023
                    tables.append(table)  # noqa: B023
                    continue
                # a record the columnar route does not vouch for: prepare_events, in order
                expanded.add(_expand(part.value, tp, now, part.offset, kind, bad), part.offset)  # noqa: B023
                flush_expanded()

        for run, mask in rms:
            for piece in _pieces(run, mask):
                if piece.arrow and bytes(piece.data[:4]) == REQUEST_MARKER:
                    offset = int(piece.offsets[0])
                    if kind == "events" and _add_columnar(columnar, piece.data, offset):
                        flush_expanded()  # rows keep the records' order
                        continue  # the common case: no JSON round trip
                    flush_columnar()
                    expanded.add(_expand(piece.data, tp, now, offset, kind, bad), offset)
                    continue
                flush_columnar()
                flush_expanded()
                if piece.arrow:
                    offset = int(piece.offsets[0])
                    try:
                        table = decode_arrow_record(piece.data, topic)
                    except RecordFormatError as exc:
                        raw = "base64:" + base64.b64encode(bytes(piece.data)).decode()
                        _reject(bad, tp, now, offset, f"Arrow record: {exc}", raw)
                        continue
                    offsets = np.full(table.num_rows, offset, dtype=np.int64)
                    tables.append(_with_bus_columns(table, tp.partition, offsets, schema))
                    continue
                lines = _json_lines(piece)
                errors: list[tuple[int, str]] = []
                parts = _bisect(lines, kind, block_size, errors, 0)
                offsets = piece.offsets
                if errors:
                    keep = np.ones(len(offsets), dtype=bool)
                    keep[[i for i, _ in errors]] = False
                    split = lines.split(b"\n")
                    for i, why in errors:
                        raw = split[i].decode("utf-8", errors="replace")
                        _reject(bad, tp, now, int(offsets[i]), why, raw)
                    offsets = offsets[keep]
                if parts:
                    table = pa.concat_tables(parts)
                    tables.append(_with_bus_columns(table, tp.partition, offsets, schema))
        flush_columnar()
        flush_expanded()
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        out.append(
            Converted(
                tp,
                int(rms[0][0].offsets[0]),
                int(rms[-1][0].offsets[-1]),
                table,
                pa.Table.from_pylist(bad, schema=QUARANTINE_SCHEMA)
                if bad
                else QUARANTINE_SCHEMA.empty_table(),
            )
        )
    return out


def split_by_day(table: pa.Table, column: str) -> dict[str, pa.Table]:
    """Rows of ``table`` by the UTC date (``YYYY-MM-DD``) of timestamp ``column``.

    Rows keep their order within a day. One day (the common case) costs no copy; several
    cost one ``take``.
    """
    if table.num_rows == 0:
        return {}
    micros = pc.cast(table.column(column), pa.int64()).to_numpy()
    days = np.floor_divide(micros, _DAY_US)
    lo, hi = int(days.min()), int(days.max())
    if lo == hi:
        return {_day(lo): table}
    order = np.argsort(days, kind="stable")
    ordered = table.take(pa.array(order))
    sorted_days = days[order]
    present = np.unique(sorted_days)
    starts = np.searchsorted(sorted_days, present, side="left")
    ends = np.searchsorted(sorted_days, present, side="right")
    return {
        _day(int(d)): ordered.slice(int(a), int(b - a))
        for d, a, b in zip(present.tolist(), starts, ends, strict=True)
    }


def _day(days: int) -> str:
    return (_EPOCH + dt.timedelta(days=days)).isoformat()
