"""The collector's fast path: a clean ``/v1/batch`` becomes one request record.

Most batches are entirely valid. For those, the collector does not need to build one
enriched JSON record per event (what :func:`eventlake.spec.prepare_events` does, about
4 us/event in Python): it checks the events with one typed ``msgspec`` decode of the whole
array (in C: field types, timestamps, nested objects) plus a short loop for the rules a type
cannot say (an id present, ``event`` on a track, the tracking plan), and stores the events
as they came in one request record (``eventlake/bus/request_records.py``); the lander later
expands it with ``prepare_events`` itself, so the lake rows are identical.

Anything unusual sends the whole request down the general path instead: a field of another
type (an integer ``userId`` is valid Segment but rare), a missing ``messageId`` (the general
path makes one), an event for the quarantine, text that is not UTF-8, a timestamp outside
1900..2200 (so the skew correction cannot overflow later). The fast path is an optimisation
only: it never decides that an event is invalid, and the general path gives the answer.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from eventlake.bus.request_records import RequestHeader, encode_request_record
from eventlake.spec import CompiledPlan, PreparedBatch, format_timestamp

__all__ = ["fast_prepare"]


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
    header = RequestHeader(
        received_at=format_timestamp(received_at),
        count=len(envs),
        source=source,
        host=host,
        user_agent=user_agent,
        ip=ip,
        sent_at=format_timestamp(sent_at) if sent_at is not None else None,
        context=dict(batch_context) if batch_context else None,
    )
    first = envs[0]
    key = (first.userId or first.anonymousId or "").encode()
    out = PreparedBatch()
    out.records.append(encode_request_record(header, events))
    out.record_keys.append(key)
    out.message_ids.extend(env.messageId for env in envs)
    return out
