"""Request records straight into Arrow columns: the lander's fast expansion.

A collector request record (``bus/request_records.py``) holds events exactly as the client
sent them. :func:`eventlake.bus.request_records.expand_request_record` turns them into the
JSON records the collector's general path makes, which the lander would then parse again;
encoding JSON only to parse it back cost more than the expansion itself. This module builds
the same rows as columns instead, for MANY records at once, by one of two routes:

- **scanned** (the common case): the compiled scan of ``scan.py`` finds where each
  event's fields are and parses the times, without the GIL, and gathers every column
  straight into Arrow buffers with the request's ``ip`` spliced into each context. Only
  a context that names ``ip`` itself runs Python per event (``context_text``);
- **decoded** (whatever the scan does not vouch for: an escape in an id, a number where a
  string belongs, another spelling of a time, a batch-level context): one typed msgspec
  decode per record (the envelope struct of ``spec.prepare_events``), each column pulled
  out of all structs by a C loop, nested objects joined from the raw bytes msgspec kept.

Both then apply the rules of ``prepare_events`` (``spec``: ids, types, ``object_text``,
``context_text``, clock-skew correction) with Arrow compute and numpy on whole columns
(:func:`_finish`). They handle the records the collector writes in the common case: every
id a non-empty string or absent, every ``messageId`` present, every time within 1900..2200
(so the int64 clock-skew arithmetic stays where ``prepare_events``' datetime arithmetic is
defined), every event valid. A record with anything else is handed back
(:class:`Fallback`) and the caller takes the JSON route, which applies ``prepare_events``
in full (and quarantines with reasons); records keep their order. The unit tests compare
the routes on random batches (``tests/unit/land/test_convert_request.py``, ``test_scan.py``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter, is_not
from typing import TYPE_CHECKING

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.bus.records import EVENT_INPUT_SCHEMA
from eventlake.bus.request_records import (
    RequestHeader,
    RequestRecordError,
    split_request_record,
)
from eventlake.spec import (
    EVENT_TYPES,
    Envelope,
    clip_header,
    context_text,
    parse_timestamp,
)

if TYPE_CHECKING:
    from eventlake.land import scan

__all__ = [
    "SCAN_CHUNK",
    "Fallback",
    "RequestColumns",
    "Segment",
    "expand_request_table",
    "warm_up",
]

_EVENTS = msgspec.json.Decoder(list[Envelope])
_TYPES = frozenset(EVENT_TYPES)
_TYPES_ARRAY = pa.array(sorted(EVENT_TYPES), pa.string())
_TS = pa.timestamp("us", tz="UTC")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_LO_YEAR, _HI_YEAR = 1900, 2200
#: 1900-01-01 and 2201-01-01 in UTC microseconds: the times the columnar route takes.
_LO_US = (_dt.datetime(_LO_YEAR, 1, 1, tzinfo=_dt.UTC) - _EPOCH) // _dt.timedelta(microseconds=1)
_HI_US = (_dt.datetime(_HI_YEAR + 1, 1, 1, tzinfo=_dt.UTC) - _EPOCH) // _dt.timedelta(
    microseconds=1
)
_NO_SENT = np.iinfo(np.int64).min
_NULL_STR = pa.scalar(None, pa.string())
#: Envelope fields, and a getter each: one C loop per column over every struct (a tuple
#: per struct, transposed, costs twice as much and feeds the garbage collector).
_FIELDS = Envelope.__struct_fields__
_F = {name: i for i, name in enumerate(_FIELDS)}
_GETTERS = [attrgetter(name) for name in _FIELDS]
_JSON_WS = " \t\n\r"


class _Fallback(Exception):
    """Some record of the batch needs the general route."""


def _us(value: _dt.datetime) -> int:
    return (value - _EPOCH) // _dt.timedelta(microseconds=1)


def _time_ok(value: _dt.datetime | None) -> bool:
    return value is None or _LO_YEAR <= value.year <= _HI_YEAR


@dataclass(frozen=True, slots=True)
class Segment:
    """Rows of consecutive records (``EVENT_INPUT_SCHEMA``) and each row's bus offset."""

    table: pa.Table
    offsets: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Fallback:
    """A record the columnar route does not vouch for: expand it with ``prepare_events``."""

    value: bytes | memoryview
    offset: int


@dataclass(frozen=True, slots=True)
class _Record:
    header: RequestHeader
    received_us: int
    batch_sent_us: int
    count: int
    offset: int
    value: bytes | memoryview
    events: memoryview  # the record's JSON array of events, undecoded


class RequestColumns:
    """Accumulates many request records, then builds their rows at once.

    Building Arrow arrays has a fixed cost per call that a 100-event record cannot
    amortise, so the lander adds every consecutive request record and converts once: by
    the compiled scan (``scan.py``) when it vouches for every event, else by decoding
    (``scan=False`` forces that route: tests compare the two).
    """

    def __init__(self, *, scan: bool = True) -> None:
        self._records: list[_Record] = []
        self._scan = scan

    def __len__(self) -> int:
        return len(self._records)

    def add(self, value: bytes | memoryview, offset: int = 0) -> bool:
        """Add a record's events (each row gets ``offset``); False (nothing added) when the
        record must take the general route. Its events are read at :meth:`flush`, where a
        record whose events cannot be read comes back as a :class:`Fallback`.

        Raises:
            RequestRecordError: the value is not a readable request record.
        """
        header, array = split_request_record(value)
        try:
            received = parse_timestamp(header.received_at)
            batch_sent = parse_timestamp(header.sent_at) if header.sent_at is not None else None
        except ValueError as exc:
            raise RequestRecordError(f"unreadable request record: {exc}") from exc
        if header.count <= 0 or not _time_ok(batch_sent):
            return False
        sent_us = _us(batch_sent) if batch_sent is not None else _NO_SENT
        self._records.append(
            _Record(header, _us(received), sent_us, header.count, offset, value, array)
        )
        return True

    def flush(self) -> list[Segment | Fallback]:
        """The added records as segments of rows and fallbacks, in order; starts afresh."""
        records = self._records
        self._records = []
        if not records:
            return []
        if not self._scan:
            return _decoded(records)
        try:
            return [_build_scanned(records)]
        except _Fallback:
            pass
        if len(records) <= SCAN_CHUNK:
            return _decoded(records)
        # Some event the scan does not vouch for: scan the others in chunks, so that one
        # odd record does not send a whole batch down the decoding route.
        out: list[Segment | Fallback] = []
        for i in range(0, len(records), SCAN_CHUNK):
            chunk = records[i : i + SCAN_CHUNK]
            try:
                out.append(_build_scanned(chunk))
            except _Fallback:
                out += _decoded(chunk)
        return out

    def table(self) -> pa.Table:
        """Every added row as one table (the records must all be columnar: tests)."""
        parts = self.flush()
        if any(isinstance(p, Fallback) for p in parts):
            raise RequestRecordError("a record needs the general route")
        tables = [p.table for p in parts if isinstance(p, Segment)]
        return pa.concat_tables(tables) if tables else EVENT_INPUT_SCHEMA.empty_table()


#: Records per chunk when a batch the scan gave up on is tried again in chunks.
SCAN_CHUNK = 64


def _decoded(records: list[_Record]) -> list[Segment | Fallback]:
    """The decoding route: segments of the records it vouches for, fallbacks for the
    others, in order."""
    decoded = [_decode(rec) for rec in records]
    if all(envs is not None for envs in decoded):
        try:
            return [_build(records, [e for envs in decoded if envs for e in envs])]
        except _Fallback:
            pass
    # Some record needs the general route: find which, one record at a time (rare).
    out: list[Segment | Fallback] = []
    good: list[tuple[_Record, list[Envelope]]] = []
    for rec, mine in zip(records, decoded, strict=True):
        if mine is not None:
            try:
                _build([rec], mine)
            except _Fallback:
                pass
            else:
                good.append((rec, mine))
                continue
        if good:
            out.append(_build([g for g, _ in good], [e for _, es in good for e in es]))
            good = []
        out.append(Fallback(rec.value, rec.offset))
    if good:
        out.append(_build([g for g, _ in good], [e for _, es in good for e in es]))
    return out


def _decode(rec: _Record) -> list[Envelope] | None:
    """A record's events as structs; None when they cannot be read (the general route
    then says why)."""
    try:
        envs = _EVENTS.decode(rec.events)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return envs if len(envs) == rec.count else None


_WARM_UP = (
    b'[{"type":"track","event":"E","userId":"u","messageId":"m",'
    b'"timestamp":"2026-01-01T00:00:00.5+01:00","context":{"a":[1,"b"]},"properties":{}}]'
)


def warm_up() -> None:
    """Load (or, the first time on a machine, compile) the scan's machine code now, so a
    long-running lander does not pay for it in its first batch."""
    header = RequestHeader(received_at="2026-01-01T00:00:00Z", count=1, ip="192.0.2.1")
    head = msgspec.json.encode(header)
    record = _Record(header, 0, _NO_SENT, 1, 0, head, memoryview(_WARM_UP))
    _build_scanned([record])


def expand_request_table(value: bytes | memoryview) -> pa.Table | None:
    """The lake input rows of one request record (``EVENT_INPUT_SCHEMA``), or ``None`` when
    the record must take the general route.

    Raises:
        RequestRecordError: the value is not a readable request record.
    """
    cols = RequestColumns()
    if not cols.add(value):
        return None
    parts = cols.flush()
    if len(parts) != 1 or not isinstance(parts[0], Segment):
        return None
    return parts[0].table


# -- the columnar rules ---------------------------------------------------------------------


def _strings(values: list[object]) -> pa.Array:
    """A string column of str/None values; anything else (an integer id) -> fallback."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _Fallback from exc


def _no_empty(arr: pa.Array) -> pa.Array:
    """An id column as ``prepare_events`` keeps it: '' is no id."""
    if arr.null_count == len(arr):
        return arr
    return pc.if_else(pc.equal(arr, ""), _NULL_STR, arr)


def _objects(values: list[object], n: int) -> pa.Array:
    """``object_text`` of a column of raw JSON values (``msgspec.Raw`` or None): the text,
    None for an absent or ``null`` value; anything but an object -> fallback."""
    missing = values.count(None)
    if missing == n:
        return pa.nulls(n, pa.string())
    # a present value is a non-empty msgspec.Raw (truthy): C loops, no Python per value
    present = list(filter(None, values)) if missing else values
    lengths = np.fromiter(map(len, present), dtype=np.int64, count=n - missing)  # type: ignore[arg-type]
    ends = np.cumsum(lengths)
    if ends[-1] >= 2**31:
        raise _Fallback  # a batch this large takes the general route
    offsets = np.concatenate(([0], ends)).astype(np.int32)
    data = b"".join(present)  # type: ignore[arg-type]
    binary = pa.Array.from_buffers(
        pa.binary(), len(present), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    try:
        text = binary.cast(pa.string())  # UTF-8 checked here
    except pa.ArrowInvalid as exc:
        raise _Fallback from exc
    is_null = pc.equal(text, "null")
    if not pc.all(pc.or_(pc.starts_with(text, "{"), is_null)).as_py():
        raise _Fallback  # an array or a scalar where an object belongs: rejected there
    if pc.any(is_null).as_py():  # rare: a copy of every text otherwise
        text = pc.if_else(is_null, _NULL_STR, text)
    if not missing:
        return text
    mask = np.fromiter(map(is_not, values, repeat(None)), dtype=bool, count=n)
    index = np.cumsum(mask) - 1
    return text.take(pa.array(index, pa.int64(), mask=~mask))


def _timestamps(values: list[object]) -> tuple[pa.Array, npt.NDArray[np.int64]]:
    """Datetimes (or None) as UTC microseconds, and the int64 values (0 for None)."""
    arr = pa.array(values, type=_TS)
    return arr, arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)


@dataclass(slots=True)
class _Columns:
    """An event's own fields as columns, before the rules of ``prepare_events``: ids as
    the client wrote them, times as (array, UTC microseconds with 0 for null)."""

    type: pa.Array
    message_id: pa.Array
    user_id: pa.Array
    anonymous_id: pa.Array
    group_id: pa.Array
    previous_id: pa.Array
    event: pa.Array
    name: pa.Array
    timestamp: tuple[pa.Array, npt.NDArray[np.int64]]
    original_timestamp: tuple[pa.Array, npt.NDArray[np.int64]]
    sent_at: tuple[pa.Array, npt.NDArray[np.int64]]
    properties: pa.Array
    traits: pa.Array
    integrations: pa.Array
    context: pa.Array


def _build(records: list[_Record], envs: list[Envelope]) -> Segment:
    """The rows of ``records`` (whose events are ``envs``, in order) as one segment.

    Raises:
        _Fallback: some event breaks a rule the columnar route does not apply itself.
    """
    n = len(envs)
    layout = _Layout(records)
    cols = [list(map(get, envs)) for get in _GETTERS]
    columns = _Columns(
        type=_strings(cols[_F["type"]]),
        message_id=_strings(cols[_F["messageId"]]),
        user_id=_strings(cols[_F["userId"]]),
        anonymous_id=_strings(cols[_F["anonymousId"]]),
        group_id=_strings(cols[_F["groupId"]]),
        previous_id=_strings(cols[_F["previousId"]]),
        event=_strings(cols[_F["event"]]),
        name=_strings(cols[_F["name"]]),
        timestamp=_timestamps(cols[_F["timestamp"]]),
        original_timestamp=_timestamps(cols[_F["originalTimestamp"]]),
        sent_at=_timestamps(cols[_F["sentAt"]]),
        properties=_objects(cols[_F["properties"]], n),
        traits=_objects(cols[_F["traits"]], n),
        integrations=_objects(cols[_F["integrations"]], n),
        context=_contexts(records, envs, cols[_F["context"]], layout.rec_of, layout.take, n),
    )
    return _finish(records, layout, columns)


class _Layout:
    """Which record each row comes from."""

    def __init__(self, records: list[_Record]) -> None:
        self.counts = np.fromiter((r.count for r in records), dtype=np.int64, count=len(records))
        self.rec_of = np.repeat(np.arange(len(records)), self.counts)
        self.take = pa.array(self.rec_of, pa.int64())

    def per_record(self, values: list[str | None]) -> pa.Array:
        return pa.array(values, pa.string()).take(self.take)


def _finish(records: list[_Record], layout: _Layout, c: _Columns) -> Segment:
    """The rules of ``prepare_events`` over the columns, and the rows of the lake.

    Raises:
        _Fallback: some event breaks a rule the columnar route does not apply itself.
    """
    counts, per_record = layout.counts, layout.per_record
    # the call type: a single-event endpoint forces it, else the event says it
    own_type = c.type
    forced = [r.header.type for r in records]
    etype = own_type if not any(forced) else pc.coalesce(per_record(forced), own_type)
    if not pc.all(pc.is_in(etype, value_set=_TYPES_ARRAY)).as_py() or etype.null_count:
        raise _Fallback
    mid = c.message_id
    if mid.null_count or not pc.all(pc.not_equal(mid, "")).as_py():
        raise _Fallback
    uid, aid = _no_empty(c.user_id), _no_empty(c.anonymous_id)
    gid, pid = _no_empty(c.group_id), _no_empty(c.previous_id)
    event = c.event
    bad = pc.and_(pc.is_null(uid), pc.is_null(aid))
    no_event = pc.or_(pc.is_null(event), pc.equal(event, ""))
    bad = pc.or_(bad, pc.and_(pc.equal(etype, "track"), pc.fill_null(no_event, True)))
    bad = pc.or_(bad, pc.and_(pc.equal(etype, "group"), pc.is_null(gid)))
    bad = pc.or_(bad, pc.and_(pc.equal(etype, "alias"), pc.is_null(pid)))
    if pc.any(bad).as_py():
        raise _Fallback

    ts, ts_us = c.timestamp
    own_orig, own_orig_us = c.original_timestamp
    # originalTimestamp, else timestamp (prepare_events: `originalTimestamp or timestamp`)
    orig = pc.coalesce(own_orig, ts)
    orig_us = np.where(np.asarray(own_orig.is_null(), dtype=bool), ts_us, own_orig_us)
    sent, sent_own_us = c.sent_at
    for arr, us in ((ts, ts_us), (own_orig, own_orig_us), (sent, sent_own_us)):
        valid = ~np.asarray(arr.is_null(), dtype=bool)
        if np.any(valid & ((us < _LO_US) | (us >= _HI_US))):
            raise _Fallback

    # correct_clock_skew: receivedAt - (sentAt - originalTimestamp) when both are known,
    # else the client's time, else receivedAt; sentAt is the event's, else the batch's
    recv_us = np.repeat(np.fromiter((r.received_us for r in records), np.int64), counts)
    batch_us = np.repeat(np.fromiter((r.batch_sent_us for r in records), np.int64), counts)
    sent_null_own = np.asarray(sent.is_null(), dtype=bool)
    sent_us = np.where(sent_null_own, batch_us, sent_own_us)
    sent_null = sent_us == _NO_SENT
    orig_null = np.asarray(orig.is_null(), dtype=bool)
    event_us = np.where(
        orig_null, recv_us, np.where(sent_null, orig_us, recv_us - (sent_us - orig_us))
    )
    arrays: dict[str, pa.Array] = {
        "message_id": mid,
        "type": etype,
        "event": event,
        "name": c.name,
        "user_id": uid,
        "anonymous_id": aid,
        "group_id": gid,
        "previous_id": pid,
        "timestamp": pa.array(event_us, pa.int64()).cast(_TS),
        "original_timestamp": orig,
        "sent_at": pa.array(sent_us, pa.int64(), mask=sent_null).cast(_TS),
        "received_at": pa.array(recv_us, pa.int64()).cast(_TS),
        "properties": c.properties,
        "traits": c.traits,
        "context": c.context,
        "integrations": c.integrations,
        "source": per_record([r.header.source for r in records]),
        "host": per_record([clip_header(r.header.host) for r in records]),
        "user_agent": per_record([clip_header(r.header.user_agent) for r in records]),
        "ip": per_record([r.header.ip for r in records]),
    }
    table = pa.Table.from_arrays(
        [arrays[f.name] for f in EVENT_INPUT_SCHEMA], schema=EVENT_INPUT_SCHEMA
    )
    offsets = np.repeat(np.fromiter((r.offset for r in records), np.int64), counts)
    return Segment(table, offsets)


# -- the scanned route ----------------------------------------------------------------------

_STRING_FIELDS = (
    "type",
    "messageId",
    "userId",
    "anonymousId",
    "groupId",
    "previousId",
    "event",
    "name",
)
_OBJECT_FIELDS = ("properties", "traits", "integrations", "context")


def _build_scanned(records: list[_Record]) -> Segment:
    """:func:`_build` from the compiled scan's spans instead of decoded structs.

    Raises:
        _Fallback: the scan does not vouch for some event, or some event breaks a rule.
    """
    # Imported here, not with the module: numba takes 0.2 s to load, and the processes
    # that import eventlake.land only to read the lake's offsets (status, /healthz)
    # never scan.
    from eventlake.land import scan

    if any(r.header.context for r in records):
        raise _Fallback  # a batch-level context is merged per event by the decoding route
    try:
        found = scan.scan_events([r.events for r in records], [r.count for r in records])
    except ValueError as exc:
        raise _Fallback from exc
    if not found.ok:
        raise _Fallback
    for name in _STRING_FIELDS:
        k = found.kind(name)
        if np.any((k == scan.OTHER) | (k == scan.OBJECT)):
            raise _Fallback  # an escape, a number, an object: decoding decides
    for name in _OBJECT_FIELDS:
        k = found.kind(name)
        if np.any((k == scan.OTHER) | (k == scan.STRING)):
            raise _Fallback  # an array or a scalar where an object belongs
    layout = _Layout(records)
    heads = [
        None if r.header.ip is None else b'{"ip":' + msgspec.json.encode(r.header.ip)
        for r in records
    ]
    fields = [(name, scan.STRING) for name in _STRING_FIELDS]
    fields += [(name, scan.OBJECT) for name in _OBJECT_FIELDS]
    try:
        got = scan.gather(found, fields, heads)
    except ValueError as exc:  # a column too large for 32-bit offsets
        raise _Fallback from exc
    text = {
        name: _utf8(got.offsets[k], got.data(k), got.valid[k]) for k, (name, _) in enumerate(fields)
    }

    def times(name: str) -> tuple[pa.Array, npt.NDArray[np.int64]]:
        us = found.time(name)
        null = found.kind(name) != scan.STRING
        return pa.array(us, pa.int64(), mask=null).cast(_TS), us

    columns = _Columns(
        type=text["type"],
        message_id=text["messageId"],
        user_id=text["userId"],
        anonymous_id=text["anonymousId"],
        group_id=text["groupId"],
        previous_id=text["previousId"],
        event=text["event"],
        name=text["name"],
        timestamp=times("timestamp"),
        original_timestamp=times("originalTimestamp"),
        sent_at=times("sentAt"),
        properties=text["properties"],
        traits=text["traits"],
        integrations=text["integrations"],
        context=_own_ip_contexts(records, found, layout, heads, text["context"]),
    )
    return _finish(records, layout, columns)


def _utf8(
    offsets: npt.NDArray[np.int32], data: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_]
) -> pa.Array:
    """A string array from gathered buffers (UTF-8 checked; not UTF-8 -> fallback)."""
    n = len(valid)
    nulls = n - int(np.count_nonzero(valid))
    bitmap = None if nulls == 0 else pa.array(valid, pa.bool_()).buffers()[1]
    binary = pa.Array.from_buffers(
        pa.binary(), n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls
    )
    try:
        return binary.cast(pa.string())
    except pa.ArrowInvalid as exc:
        raise _Fallback from exc


def _own_ip_contexts(
    records: list[_Record],
    found: scan.ScanResult,
    layout: _Layout,
    heads: list[bytes | None],
    spliced: pa.Array,
) -> pa.Array:
    """The gathered contexts, with those that name ``ip`` themselves (where the request
    has an address) replaced by ``context_text`` (Python, per such event: it may hold a
    null ip to fill)."""
    own = found.context_ip & np.array([h is not None for h in heads], dtype=bool)[layout.rec_of]
    if not own.any():
        return spliced
    values: list[str | None] = [None] * len(spliced)
    for i in np.flatnonzero(own).tolist():
        r = int(layout.rec_of[i])
        head = heads[r]
        assert head is not None  # ``own`` holds events of records with an address only
        raw = msgspec.Raw(found.text("context", i))
        try:
            values[i] = context_text(raw, records[r].header.ip, head.decode(), None)
        except Exception as exc:  # a rule of prepare_events says no: let it say why
            raise _Fallback from exc
    return pc.if_else(pa.array(own), pa.array(values, pa.string()), spliced)


# -- the decoded route ----------------------------------------------------------------------


def _contexts(
    records: list[_Record],
    envs: list[Envelope],
    raws: list[object],
    rec_of: npt.NDArray[np.int64],
    take: pa.Array,
    n: int,
) -> pa.Array:
    """``context_text`` of every event: the context with the request's ``ip`` added when it
    names none (spliced, so the client's text stays byte for byte)."""
    text = _objects(raws, n)
    ips = [r.header.ip for r in records]
    batch_ctx = np.fromiter((bool(r.header.context) for r in records), dtype=bool)
    if all(ip is None for ip in ips) and not batch_ctx.any():
        return text
    ip_json = [None if ip is None else msgspec.json.encode(ip).decode() for ip in ips]
    prefix = pa.array([None if j is None else '{"ip":' + j for j in ip_json], pa.string())
    alone = pa.array([None if j is None else '{"ip":' + j + "}" for j in ip_json], pa.string())
    prefix, alone = prefix.take(take), alone.take(take)
    rest = pc.utf8_ltrim(pc.utf8_slice_codeunits(text, 1), characters=_JSON_WS)
    sep = pc.if_else(pc.starts_with(rest, "}"), "", ",")
    spliced = pc.binary_join_element_wise(prefix, sep, rest, "")
    no_ip = pc.is_null(prefix)
    out = pc.if_else(no_ip, text, pc.if_else(pc.is_null(text), alone, spliced))
    # Python, per event, where the splice does not apply: a context that names "ip" (it
    # may hold a null ip to fill), and records with a batch-level context to merge under.
    has_ip = np.asarray(pc.fill_null(pc.match_substring(text, '"ip"'), False), dtype=bool)
    slow = has_ip & ~np.asarray(no_ip, dtype=bool)
    if batch_ctx.any():
        slow |= batch_ctx[rec_of]
    if not slow.any():
        return out
    values = out.to_pylist()
    for i in np.flatnonzero(slow).tolist():
        rec = records[int(rec_of[i])]
        ip = rec.header.ip
        ip_prefix = "" if ip is None else '{"ip":' + msgspec.json.encode(ip).decode()
        try:
            values[i] = context_text(envs[i].context, ip, ip_prefix, rec.header.context)
        except Exception as exc:  # a rule of prepare_events says no: let it say why
            raise _Fallback from exc
    return pa.array(values, pa.string())
