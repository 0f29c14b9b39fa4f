"""Request records straight into Arrow columns: the lander's fast expansion.

A collector request record (``bus/request_records.py``) holds events exactly as the client
sent them. :func:`eventlake.bus.request_records.expand_request_record` turns them into the
JSON records the collector's general path makes, which the lander would then parse again;
encoding JSON only to parse it back cost more than the expansion itself. This module builds
the same rows as columns instead: one typed decode of the events in C (the envelope struct
of ``spec.prepare_events``), the per-field rules of ``spec`` (``object_text``,
``context_text``), clock-skew correction on int64 microseconds with numpy.

It handles the records the collector writes in the common case: every id a non-empty string
or absent, every ``messageId`` present, every time within 1900..2200 (so the int64 clock-skew
arithmetic stays where ``prepare_events``' datetime arithmetic is defined), every event
valid. For anything else it returns ``None`` and the caller uses the JSON route, which
applies ``prepare_events`` in full (and quarantines with reasons). The unit tests compare
both routes on random batches.
"""

from __future__ import annotations

import datetime as _dt

import msgspec
import numpy as np
import pyarrow as pa

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
    object_text,
    parse_timestamp,
)

__all__ = ["RequestColumns", "expand_request_table"]

_EVENTS = msgspec.json.Decoder(list[Envelope])
_TYPES = frozenset(EVENT_TYPES)
_TS = pa.timestamp("us", tz="UTC")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_LO_YEAR, _HI_YEAR = 1900, 2200


class _Fallback(Exception):
    """This record needs the general route."""


class _Columns:
    """The columns being built, as Python lists (converted to Arrow once, in ``table``)."""

    def __init__(self) -> None:
        self.lists: dict[str, list[object]] = {name: [] for name in _LIST_COLUMNS}
        self.orig: list[_dt.datetime | None] = []
        self.sent: list[_dt.datetime | None] = []
        self.batch_sent_us: list[int] = []
        self.received_us: list[int] = []


#: The text columns, filled from Python lists (the timestamps are built with numpy).
_LIST_COLUMNS = tuple(f.name for f in EVENT_INPUT_SCHEMA if pa.types.is_string(f.type))
_NO_SENT = np.iinfo(np.int64).min


def _us(value: _dt.datetime) -> int:
    return (value - _EPOCH) // _dt.timedelta(microseconds=1)


def _str_id(value: str | int | None) -> str | None:
    """An id as ``prepare_events`` keeps it, for the string ids a fast-path record holds."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise _Fallback  # an integer id: the general route converts it
    return value


def _time_ok(value: _dt.datetime | None) -> bool:
    return value is None or _LO_YEAR <= value.year <= _HI_YEAR


class RequestColumns:
    """Accumulates the rows of many request records, then builds ONE Arrow table.

    Building Arrow arrays has a fixed cost per call that a 100-event record cannot
    amortise, so the lander adds every consecutive request record and converts once.
    """

    def __init__(self) -> None:
        self._cols = _Columns()
        self.offsets: list[int] = []

    def __len__(self) -> int:
        return len(self.offsets)

    def add(self, value: bytes | memoryview, offset: int = 0) -> bool:
        """Add a record's rows (each with ``offset``); False (nothing added) when the record
        must take the general route.

        Raises:
            RequestRecordError: the value is not a readable request record.
        """
        header, array = split_request_record(value)
        try:
            envs = _EVENTS.decode(array)
            received = parse_timestamp(header.received_at)
            batch_sent = parse_timestamp(header.sent_at) if header.sent_at is not None else None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
            raise RequestRecordError(f"unreadable request record: {exc}") from exc
        if len(envs) != header.count:
            raise RequestRecordError(
                f"request record holds {len(envs)} events, its header says {header.count}"
            )
        if not envs or not _time_ok(batch_sent):
            return False
        try:
            rows = _rows(envs, header)
        except _Fallback:
            return False
        c, n = self._cols, len(envs)
        for name, values in rows.items():
            c.lists[name] += values
        c.orig += [e.originalTimestamp or e.timestamp for e in envs]
        c.sent += [e.sentAt for e in envs]
        c.batch_sent_us += [_us(batch_sent) if batch_sent is not None else _NO_SENT] * n
        c.received_us += [_us(received)] * n
        self.offsets += [offset] * n
        return True

    def table(self) -> pa.Table:
        """Every added row as one ``EVENT_INPUT_SCHEMA`` table; starts afresh."""
        c, self._cols = self._cols, _Columns()
        self.offsets = []
        orig = pa.array(c.orig, type=_TS)
        sent = pa.array(c.sent, type=_TS)
        orig_null = np.asarray(orig.is_null(), dtype=bool)
        orig_us = orig.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        sent_us = sent.cast(pa.int64()).fill_null(_NO_SENT).to_numpy(zero_copy_only=False)
        batch_us = np.array(c.batch_sent_us, dtype=np.int64)
        sent_us = np.where(sent_us == _NO_SENT, batch_us, sent_us)  # the batch's sentAt
        sent_null = sent_us == _NO_SENT
        recv_us = np.array(c.received_us, dtype=np.int64)
        # correct_clock_skew: receivedAt - (sentAt - originalTimestamp) when both are known,
        # else the client's time, else receivedAt
        ts_us = np.where(
            orig_null, recv_us, np.where(sent_null, orig_us, recv_us - (sent_us - orig_us))
        )
        arrays: dict[str, pa.Array] = {
            name: pa.array(values, pa.string()) for name, values in c.lists.items()
        }
        arrays["timestamp"] = pa.array(ts_us, pa.int64()).cast(_TS)
        arrays["original_timestamp"] = orig
        arrays["sent_at"] = pa.array(sent_us, pa.int64(), mask=sent_null).cast(_TS)
        arrays["received_at"] = pa.array(recv_us, pa.int64()).cast(_TS)
        return pa.Table.from_arrays(
            [arrays[f.name] for f in EVENT_INPUT_SCHEMA], schema=EVENT_INPUT_SCHEMA
        )


def expand_request_table(value: bytes | memoryview) -> pa.Table | None:
    """The lake input rows of one request record (``EVENT_INPUT_SCHEMA``), or ``None`` when
    the record must take the general route.

    Raises:
        RequestRecordError: the value is not a readable request record.
    """
    cols = RequestColumns()
    return cols.table() if cols.add(value) else None


def _rows(envs: list[Envelope], header: RequestHeader) -> dict[str, list[object]]:
    """The text columns of one record's events (raises ``_Fallback``)."""
    n, ip, forced = len(envs), header.ip, header.type
    message_ids: list[object] = []
    types: list[object] = []
    user_ids: list[object] = []
    anonymous_ids: list[object] = []
    group_ids: list[object] = []
    previous_ids: list[object] = []
    for env in envs:
        mid = env.messageId
        etype = forced or env.type
        if type(mid) is not str or not mid or etype not in _TYPES:
            raise _Fallback
        uid, aid = _str_id(env.userId), _str_id(env.anonymousId)
        gid, pid = _str_id(env.groupId), _str_id(env.previousId)
        if uid is None and aid is None:
            raise _Fallback
        if (
            (etype == "track" and not env.event)
            or (etype == "group" and gid is None)
            or (etype == "alias" and pid is None)
        ):
            raise _Fallback
        if not (_time_ok(env.originalTimestamp) and _time_ok(env.timestamp)):
            raise _Fallback
        if not _time_ok(env.sentAt):
            raise _Fallback
        message_ids.append(mid)
        types.append(etype)
        user_ids.append(uid)
        anonymous_ids.append(aid)
        group_ids.append(gid)
        previous_ids.append(pid)
    ip_prefix = '{"ip":' + msgspec.json.encode(ip).decode()
    try:
        contexts: list[object] = [
            context_text(env.context, ip, ip_prefix, header.context) for env in envs
        ]
        properties: list[object] = [
            None if e.properties is None else object_text(e.properties, "properties") for e in envs
        ]
        traits: list[object] = [
            None if e.traits is None else object_text(e.traits, "traits") for e in envs
        ]
        integrations: list[object] = [
            None if e.integrations is None else object_text(e.integrations, "integrations")
            for e in envs
        ]
    except Exception as exc:  # a rule of prepare_events says no: let it say why
        raise _Fallback from exc
    return {
        "message_id": message_ids,
        "type": types,
        "event": [e.event for e in envs],
        "name": [e.name for e in envs],
        "user_id": user_ids,
        "anonymous_id": anonymous_ids,
        "group_id": group_ids,
        "previous_id": previous_ids,
        "properties": properties,
        "traits": traits,
        "context": contexts,
        "integrations": integrations,
        "source": [header.source] * n,
        "host": [clip_header(header.host)] * n,
        "user_agent": [clip_header(header.user_agent)] * n,
        "ip": [ip] * n,
    }
