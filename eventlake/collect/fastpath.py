"""Request records on the collector: a request's accepted events become ONE bus record.

The request's metadata (``receivedAt``, source, ``Host``, ``User-Agent``, address, the
batch's ``sentAt`` and ``context``) is stored once, in the record's header, and the events
as the client sent them; the lander expands the record with the rules of
:func:`eventlake.spec.prepare_events` (``land/expand.py``), so the lake rows are identical to
what one enriched JSON record per event would give, without repeating the metadata per event
on the bus or in the collector's memory.

Two ways in:

- :func:`fast_prepare`, the fast path of a clean ``/v1/batch``: one typed ``msgspec`` decode
  of the whole array (in C: field types, timestamps, nested objects) plus a short loop for
  the rules a type cannot say (an id present, ``event`` on a track, the tracking plan),
  instead of ``prepare_events``' Python work per event (about 4 us). Anything unusual
  returns ``None``: a field of another type (an integer ``userId`` is valid Segment but
  rare), a missing ``messageId``, an event for the quarantine, text that is not UTF-8, a
  timestamp outside 1900..2200. It never decides that an event is invalid.
- :func:`pack_accepted`, after the general path (``prepare_events`` with
  ``encode_records=False``) has sorted a request's events into accepted and quarantined:
  the accepted ones go into a request record, each ``messageId`` the collector made up
  written into its event so that every expansion gives the same id; the quarantined ones
  stay JSON records of topic ``quarantine``. A single-event endpoint's call type goes in
  the header (``type``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from eventlake.bus.request_records import RequestHeader, encode_request_record
from eventlake.spec import CompiledPlan, PreparedBatch, clip_header, format_timestamp

__all__ = ["fast_prepare", "pack_accepted", "request_header"]


class _Object(msgspec.Struct, gc=False):
    """Any JSON object (its contents are skipped, not built); anything else fails."""


class _FastEnvelope(msgspec.Struct, gc=False):
    """The envelope as the fast path accepts it: strict types, ``messageId`` required."""

    type: Literal["track", "identify", "page", "screen", "group", "alias"]
    messageId: str
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    name: str | None = None
    groupId: str | None = None
    previousId: str | None = None
    timestamp: _dt.datetime | None = None
    originalTimestamp: _dt.datetime | None = None
    sentAt: _dt.datetime | None = None
    properties: msgspec.Raw = None  # type: ignore[assignment]
    traits: _Object | None = None
    context: _Object | None = None
    integrations: _Object | None = None


_EVENTS = msgspec.json.Decoder(list[_FastEnvelope])
_LO_YEAR, _HI_YEAR = 1900, 2200
_NOT_OBJECT = frozenset(range(256)) - {0x7B, 0x6E}  # first byte other than "{" or "n"(ull)
_EMPTY = msgspec.Raw(b"{}")


def _time_ok(value: _dt.datetime | None) -> bool:
    return value is None or _LO_YEAR <= value.year <= _HI_YEAR


def fast_prepare(
    events: Sequence[msgspec.Raw] | Sequence[bytes],
    *,
    received_at: _dt.datetime,
    source: str | None,
    host: str | None,
    user_agent: str | None,
    ip: str | None,
    plan: CompiledPlan,
    sent_at: _dt.datetime | None,
    batch_context: Mapping[str, Any] | None,
) -> PreparedBatch | None:
    """One request record for ``events``, or ``None`` to use the general path.

    The arguments are those of :func:`eventlake.spec.prepare_events` for a batch.
    """
    if not events or not _time_ok(sent_at):
        return None
    array = b"[" + b",".join(events) + b"]"
    try:
        if not array.isascii():
            array.decode("utf-8")  # msgspec does not check the text it skips
        envs = _EVENTS.decode(array)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    planned = plan.batch_validators
    quarantine_unplanned = plan.unplanned_events != "allow"
    to_check: dict[str, list[msgspec.Raw]] = {}
    lo, hi = _LO_YEAR, _HI_YEAR
    for env in envs:
        if not (env.userId or env.anonymousId) or not env.messageId:
            return None
        etype = env.type
        props: msgspec.Raw | None = env.properties
        if etype == "track":
            name = env.event
            if not name:
                return None
            if name in planned:
                if props is None:
                    props = _EMPTY
                found = to_check.get(name)
                if found is None:
                    to_check[name] = [props]
                else:
                    found.append(props)
                props = None  # the plan's decode checks it is an object
            elif quarantine_unplanned:
                return None
        elif etype == "group":
            if not env.groupId:
                return None
        elif etype == "alias" and not env.previousId:
            return None
        if props is not None and memoryview(props)[0] in _NOT_OBJECT:
            return None
        for when in (env.originalTimestamp, env.timestamp, env.sentAt):
            if when is not None and not lo <= when.year <= hi:
                return None
    for name, raws in to_check.items():
        if not planned[name](b"[" + b",".join(raws) + b"]"):
            return None
    header = request_header(
        len(envs),
        received_at=received_at,
        source=source,
        host=host,
        user_agent=user_agent,
        ip=ip,
        sent_at=sent_at,
        batch_context=batch_context,
    )
    first = envs[0]
    key = (first.userId or first.anonymousId or "").encode()
    out = PreparedBatch()
    out.records.append(encode_request_record(header, events))
    out.record_keys.append(key)
    out.message_ids.extend(env.messageId for env in envs)
    out.accepted.extend(range(len(envs)))
    return out


def request_header(
    count: int,
    *,
    received_at: _dt.datetime,
    source: str | None,
    host: str | None,
    user_agent: str | None,
    ip: str | None,
    sent_at: _dt.datetime | None,
    batch_context: Mapping[str, Any] | None,
    force_type: str | None = None,
) -> RequestHeader:
    """The header of a request record.

    A ``sent_at`` that cannot be represented in UTC is left out: ``prepare_events`` has
    quarantined every event that would inherit it.
    """
    try:
        sent_text = format_timestamp(sent_at) if sent_at is not None else None
    except OverflowError:
        sent_text = None
    return RequestHeader(
        received_at=format_timestamp(received_at),
        count=count,
        source=source,
        host=clip_header(host),
        user_agent=clip_header(user_agent),
        ip=ip,
        sent_at=sent_text,
        context=dict(batch_context) if batch_context else None,
        type=force_type,
    )


_JSON_SPACE = b" \t\r\n"
_ENCODE = msgspec.json.encode


def _with_message_id(event: bytes, message_id: str) -> bytes:
    """``event`` (an accepted JSON object) with ``messageId`` set to ``message_id``.

    Appended as the LAST member: a decoder keeps the last of duplicate keys, so this wins
    over a ``null`` or empty ``messageId`` the client sent.
    """
    text = event.strip(_JSON_SPACE)
    return text[:-1] + b',"messageId":' + _ENCODE(message_id) + b"}"


def pack_accepted(
    batch: PreparedBatch,
    events: Sequence[msgspec.Raw] | Sequence[bytes],
    *,
    received_at: _dt.datetime,
    source: str | None,
    host: str | None,
    user_agent: str | None,
    ip: str | None,
    sent_at: _dt.datetime | None,
    batch_context: Mapping[str, Any] | None,
    force_type: str | None,
) -> PreparedBatch:
    """``batch`` (made with ``encode_records=False`` from ``events``) with its accepted
    events as one request record; its quarantine records are kept as they are.
    """
    if not batch.accepted:
        batch.records, batch.record_keys = [], []
        return batch
    generated = dict(zip(batch.accepted, batch.message_ids, strict=True))
    made_up = set(batch.generated)
    kept = [
        _with_message_id(bytes(events[i]), generated[i])
        if i in made_up
        else bytes(events[i]).strip(_JSON_SPACE)
        for i in batch.accepted
    ]
    header = request_header(
        len(kept),
        received_at=received_at,
        source=source,
        host=host,
        user_agent=user_agent,
        ip=ip,
        sent_at=sent_at,
        batch_context=batch_context,
        force_type=force_type,
    )
    batch.records = [encode_request_record(header, kept)]
    batch.record_keys = [batch.record_keys[0]]
    return batch
