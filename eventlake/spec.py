"""The event envelope (Segment Spec) and its conversion into bus records.

Every producer of events (the HTTP collector, the game generator, ``eventlake quarantine
replay``) turns raw Segment events into bus records with one public function,
:func:`prepare_events`::

    batch = prepare_events(
        raw_events,                      # JSON bytes / str / dicts, one per event
        received_at=datetime.now(UTC),   # when the collector got them
        source="web",                    # the write key's source name
        host="comcast.net", user_agent="game/1.2", ip="203.0.113.7",
        plan=load_tracking_plan("tracking-plan.yaml"),
    )
    producer.append(EVENTS, batch.records, batch.record_keys)
    producer.append(QUARANTINE, batch.quarantine_records, batch.quarantine_keys)
    batch.quarantined   # [QuarantinedEvent(index, message_id, reason_code, reason)]

What it does to each event (the envelope fields are those of DESIGN.md):

- reads it into a typed envelope (msgspec, in C); an event that is not an object, has a
  field of the wrong type, an unknown ``type``, neither ``userId`` nor ``anonymousId``, a
  track without ``event`` (group without ``groupId``, alias without ``previousId``), or
  breaks the tracking plan is *quarantined* with a reason code and a readable reason,
  never dropped;
- fills a missing ``messageId`` (a random UUID), sets ``receivedAt``, keeps the client's
  time as ``originalTimestamp`` and corrects clock skew:
  ``timestamp = receivedAt - (sentAt - originalTimestamp)`` when ``sentAt`` is known
  (the event's own or the batch's), else the client time, else ``receivedAt``;
- adds ``context.ip`` when the client did not send one and keeps the request's ``Host``,
  ``User-Agent``, peer address and the source name as columns (``Host`` and ``User-Agent``
  cut at :data:`MAX_HEADER_CHARS` characters: they are repeated in every row of a request);
- quarantines an event whose times cannot be represented in UTC or whose clock-skew
  correction leaves the datetime range (``invalid_timestamp``), including an event that
  inherits a batch ``sentAt`` which cannot be converted to UTC: no timestamp fails a caller.

Output records follow docs/architecture.md exactly: one UTF-8 JSON object per record whose
keys are the columns of ``lake.EVENT_SCHEMA`` (or ``lake.QUARANTINE_SCHEMA``) minus
``bus_partition``/``bus_offset``; ``properties``, ``traits``, ``context`` and
``integrations`` as JSON text; timestamps ISO-8601 UTC ending in ``Z`` with microseconds.
The bus key of a record is ``user_id`` or else ``anonymous_id``.

The tracking plan lives in :mod:`eventlake.tracking_plan` (re-exported here).
"""

from __future__ import annotations

import codecs
import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from eventlake.errors import TrackingPlanError
from eventlake.tracking_plan import CompiledPlan, load_tracking_plan

__all__ = [
    "EVENT_TYPES",
    "MAX_HEADER_CHARS",
    "CompiledPlan",
    "Envelope",
    "EventRecord",
    "PreparedBatch",
    "QuarantineRecord",
    "QuarantinedEvent",
    "TrackingPlanError",
    "clip_header",
    "correct_clock_skew",
    "context_text",
    "format_timestamp",
    "load_tracking_plan",
    "object_text",
    "parse_timestamp",
    "prepare_events",
]

#: The Segment call types.
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
_TYPES = frozenset(EVENT_TYPES)
_UTC = _dt.UTC

#: Raw events may come as JSON bytes (or ``msgspec.Raw``), JSON text, or decoded dicts.
RawEvent = bytes | msgspec.Raw | str | Mapping[str, Any]

_Id = str | int | None


class _Envelope(msgspec.Struct, gc=False):
    """The fields of a Segment event that eventlake reads; the rest is ignored."""

    type: str | None = None
    messageId: _Id = None
    userId: _Id = None
    anonymousId: _Id = None
    event: str | None = None
    name: str | None = None
    groupId: _Id = None
    previousId: _Id = None
    timestamp: _dt.datetime | None = None
    originalTimestamp: _dt.datetime | None = None
    sentAt: _dt.datetime | None = None
    properties: msgspec.Raw = None  # type: ignore[assignment]
    traits: msgspec.Raw = None  # type: ignore[assignment]
    context: msgspec.Raw = None  # type: ignore[assignment]
    integrations: msgspec.Raw = None  # type: ignore[assignment]


_ABSENT = object()


class _ContextProbe(msgspec.Struct):
    ip: Any = _ABSENT


class EventRecord(msgspec.Struct):
    """One record of topic ``events``: the columns of ``lake.EVENT_SCHEMA`` (bus_* aside)."""

    message_id: str
    type: str
    event: str | None
    name: str | None
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None
    previous_id: str | None
    timestamp: _dt.datetime | str
    original_timestamp: _dt.datetime | str | None
    sent_at: _dt.datetime | str | None
    received_at: _dt.datetime | str
    properties: str | None
    traits: str | None
    context: str | None
    integrations: str | None
    source: str | None
    host: str | None
    user_agent: str | None
    ip: str | None


class QuarantineRecord(msgspec.Struct):
    """One record of topic ``quarantine``: the columns of ``lake.QUARANTINE_SCHEMA``.

    ``host``, ``user_agent``, ``ip``, ``batch_sent_at`` and ``batch_context`` are the
    request's enrichment, kept so that ``eventlake quarantine replay`` gives the row the
    collector would have written (absent = null; older records have none of them).
    """

    message_id: str | None
    type: str | None
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    received_at: str
    source: str | None
    reason_code: str
    reason: str
    raw: str
    host: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    batch_sent_at: str | None = None
    batch_context: str | None = None


@dataclass(frozen=True, slots=True)
class QuarantinedEvent:
    """Why one event of a request was quarantined (``index`` = its position in the input)."""

    index: int
    message_id: str | None
    reason_code: str
    reason: str


@dataclass(slots=True)
class PreparedBatch:
    """The bus records made from one input batch, ready for ``Producer.append``.

    ``records``/``record_keys`` go to topic ``events``; ``quarantine_records``/
    ``quarantine_keys`` to topic ``quarantine``; ``quarantined`` explains each quarantined
    event; ``message_ids`` are the accepted events' ids in input order, ``accepted`` their
    positions in the input and ``generated`` the positions whose ``messageId`` was made up
    here (the client sent none). ``record_keys`` has one key per accepted event even when
    its records were not encoded (``encode_records=False``).
    """

    records: list[bytes] = field(default_factory=list)
    record_keys: list[bytes | None] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)
    quarantined: list[QuarantinedEvent] = field(default_factory=list)
    quarantine_records: list[bytes] = field(default_factory=list)
    quarantine_keys: list[bytes | None] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes of all records (what the collector counts against its in-flight bound)."""
        return sum(map(len, self.records)) + sum(map(len, self.quarantine_records))


class _Reject(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# -- timestamps -------------------------------------------------------------------------

_TIMESTAMP_DECODER = msgspec.json.Decoder(_dt.datetime)
_DATETIME_ENCODE = msgspec.json.Encoder().encode


def parse_timestamp(text: str) -> _dt.datetime:
    """Parse an ISO-8601 / RFC 3339 timestamp into an aware UTC datetime (naive = UTC).

    Raises:
        ValueError: ``text`` is not a timestamp, or its UTC time is outside the datetime
            range (``0001-01-01T00:00:00+01:00`` is year 0 in UTC).
    """
    try:
        value = _TIMESTAMP_DECODER.decode(msgspec.json.encode(text))
    except msgspec.DecodeError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from exc
    try:
        return _to_utc(value)
    except OverflowError as exc:
        raise ValueError(f"timestamp {text!r} is outside the representable range in UTC") from exc


def _to_utc(value: _dt.datetime) -> _dt.datetime:
    tz = value.tzinfo
    if tz is _UTC:
        return value
    if tz is None:
        return value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


def format_timestamp(value: _dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``: the bus and lake text form."""
    utc = _to_utc(value)
    # msgspec writes RFC 3339 in C (10x faster than isoformat) but drops a zero fraction.
    text = _DATETIME_ENCODE(utc).decode()[1:-1]
    return text if utc.microsecond else text[:-1] + ".000000Z"


def _ts(value: _dt.datetime) -> _dt.datetime | str:
    """A UTC datetime msgspec will encode in the bus text form (always 6 fraction digits)."""
    return value if value.microsecond else format_timestamp(value)


def correct_clock_skew(
    received_at: _dt.datetime,
    sent_at: _dt.datetime | None,
    original_timestamp: _dt.datetime | None,
) -> _dt.datetime:
    """The event time on the server's clock.

    ``receivedAt - (sentAt - originalTimestamp)`` when both client times are known (the
    client's clock offset cancels out), else the client's time, else ``receivedAt``.
    """
    if original_timestamp is None:
        return received_at
    if sent_at is None:
        return original_timestamp
    return received_at - (sent_at - original_timestamp)


#: ``Host`` and ``User-Agent`` are kept with at most this many characters. They are the
#: request's, repeated in every row it holds (15,000 tiny events of a 500 KB batch): a
#: 64 KB header would make that 1 GB. No real user agent comes near (a long one is ~400).
MAX_HEADER_CHARS = 1024


def clip_header(value: str | None) -> str | None:
    """A request header value as it is stored: at most :data:`MAX_HEADER_CHARS` characters."""
    if value is None or len(value) <= MAX_HEADER_CHARS:
        return value
    return value[:MAX_HEADER_CHARS]


# -- helpers ----------------------------------------------------------------------------


def _as_buffer(event: RawEvent) -> bytes | msgspec.Raw:
    """The event as something msgspec decodes without a copy (bytes or ``msgspec.Raw``)."""
    if isinstance(event, bytes | msgspec.Raw):
        return event
    if isinstance(event, bytearray | memoryview):
        return bytes(event)
    if isinstance(event, str):
        return event.encode("utf-8")
    return msgspec.json.encode(event)


def _id(value: str | int | None) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if isinstance(value, bool):
        raise _Reject("invalid_event", f"an id must be a string, got {value!r}")
    return str(value)


def _object_text(raw: msgspec.Raw | None, name: str) -> str | None:
    """The JSON text of a nested object field; ``None`` when absent or null."""
    if raw is None:
        return None
    try:
        text: str = _utf8_decode(raw)[0]
    except UnicodeDecodeError as exc:
        raise _Reject("invalid_encoding", f"`{name}` is not valid UTF-8: {exc}") from exc
    if text[:1] != "{":
        if text == "null":
            return None
        raise _Reject("invalid_event", f"`{name}` must be an object, got {text[:40]!r}")
    return text


_utf8_decode = codecs.utf_8_decode
_CONTEXT_PROBE = msgspec.json.Decoder(_ContextProbe)
_ANY_DECODER = msgspec.json.Decoder()


def _context_text(
    raw: msgspec.Raw | None,
    ip: str | None,
    ip_prefix: str,
    batch_context: Mapping[str, Any] | None,
) -> str | None:
    """The context as JSON text, with ``ip`` added when the client sent none.

    ``ip_prefix`` is ``'{"ip":<ip as JSON>'``, built once per batch.
    """
    text = _object_text(raw, "context")
    if batch_context:
        merged = dict(batch_context)
        if text is not None:
            merged.update(_ANY_DECODER.decode(text))
        if ip is not None and merged.get("ip") is None:
            merged["ip"] = ip
        return msgspec.json.encode(merged).decode()
    if ip is None:
        return text
    if text is None:
        return msgspec.json.encode({"ip": ip}).decode()
    # No '"ip"' anywhere means no top-level ip key: skip the probe decode.
    probe_ip = _CONTEXT_PROBE.decode(text).ip if '"ip"' in text else _ABSENT
    if probe_ip is _ABSENT:
        # Splice instead of decode + encode: the rest of the context stays byte for byte.
        rest = text[1:].lstrip()
        return ip_prefix + rest if rest[:1] == "}" else ip_prefix + "," + rest
    if probe_ip is None:
        ctx = _ANY_DECODER.decode(text)
        ctx["ip"] = ip
        return msgspec.json.encode(ctx).decode()
    return text


def _salvage(data: bytes) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """Best-effort (messageId, type, event, userId, anonymousId) of a rejected event."""
    try:
        obj = _ANY_DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None, None, None, None, None
    if not isinstance(obj, dict):
        return None, None, None, None, None

    def text(key: str) -> str | None:
        value = obj.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        return None

    return text("messageId"), text("type"), text("event"), text("userId"), text("anonymousId")


_ENVELOPE = msgspec.json.Decoder(_Envelope)

#: The envelope struct and the per-field rules of :func:`prepare_events`, shared with the
#: lander's columnar expansion of request records (``land/expand.py``) so both apply the
#: very same rules.
Envelope = _Envelope
object_text = _object_text
context_text = _context_text
_ENCODE = msgspec.json.Encoder().encode


def prepare_events(
    events: Sequence[RawEvent],
    *,
    received_at: _dt.datetime,
    source: str | None,
    host: str | None = None,
    user_agent: str | None = None,
    ip: str | None = None,
    plan: CompiledPlan | None = None,
    sent_at: _dt.datetime | None = None,
    force_type: str | None = None,
    batch_context: Mapping[str, Any] | None = None,
    encode_records: bool = True,
) -> PreparedBatch:
    """Validate, enrich and encode raw Segment events as bus records; pure and thread-safe.

    Args:
        events: one raw event each (JSON bytes, ``msgspec.Raw``, JSON text or a dict).
        received_at: when the events arrived (aware; used for every event).
        source: the source name the write key maps to (the ``source`` column).
        host, user_agent, ip: the request's ``Host``/``User-Agent`` headers and client
            address (``ip`` also fills ``context.ip`` when the event has none); ``host`` and
            ``user_agent`` are cut at :data:`MAX_HEADER_CHARS` characters.
        plan: the compiled tracking plan; ``None`` accepts every well-formed event.
        sent_at: the batch's ``sentAt``, used for events that carry none.
        force_type: the call type of a single-event endpoint (``/v1/track`` -> "track").
        batch_context: a batch-level ``context`` merged under each event's own.
        encode_records: False to validate only: accepted events get their key, id and
            position but no JSON record (the collector then stores them in one request
            record); quarantine records are always made.

    Returns:
        The events and quarantine records with their keys, and why each quarantined event
        was rejected. Nothing is dropped: every input event is in exactly one of the two.
    """
    out = PreparedBatch()
    host, user_agent = clip_header(host), clip_header(user_agent)
    received = _to_utc(received_at)
    received_text = format_timestamp(received)
    received_value = _ts(received)
    batch_sent: _dt.datetime | None = None
    batch_sent_value: _dt.datetime | str | None = None
    batch_sent_error: str | None = None
    if sent_at is not None:
        try:
            batch_sent = _to_utc(sent_at)
            batch_sent_value = _ts(batch_sent)
        except OverflowError:
            batch_sent_error = (
                f"the batch's `sentAt` {sent_at.isoformat()} is outside the representable "
                "range in UTC"
            )
    qmeta = _QuarantineMeta(
        received_text,
        source,
        force_type,
        host,
        user_agent,
        ip,
        format_timestamp(batch_sent) if batch_sent is not None else None,
        msgspec.json.encode(batch_context).decode() if batch_context else None,
    )
    ip_prefix = '{"ip":' + msgspec.json.encode(ip).decode()
    check_track = (
        plan.check_track
        if plan is not None and (plan.validators or plan.unplanned_events != "allow")
        else None
    )
    records, keys, ids, accepted = out.records, out.record_keys, out.message_ids, out.accepted
    for index, event in enumerate(events):
        data = _as_buffer(event)
        try:
            try:
                env = _ENVELOPE.decode(data)
            except msgspec.ValidationError as exc:
                raise _Reject("invalid_event", str(exc).replace("`$.", "`")) from exc
            except msgspec.DecodeError as exc:
                raise _Reject("invalid_json", f"the event is not valid JSON: {exc}") from exc
            except UnicodeDecodeError as exc:
                raise _Reject("invalid_encoding", f"the event is not valid UTF-8: {exc}") from exc
            except RecursionError:
                raise _Reject("invalid_event", "the event is nested too deeply") from None
            etype = force_type or env.type
            if etype not in _TYPES:
                raise _Reject(
                    "unknown_type",
                    f"`type` must be one of {', '.join(EVENT_TYPES)}, got {env.type!r}",
                )
            # Plain non-empty strings, the common case, skip the _id call.
            user_id = env.userId
            if type(user_id) is not str or not user_id:
                user_id = _id(user_id)
            anonymous_id = env.anonymousId
            if type(anonymous_id) is not str or not anonymous_id:
                anonymous_id = _id(anonymous_id)
            if user_id is None and anonymous_id is None:
                raise _Reject("missing_id", "the event has neither `userId` nor `anonymousId`")
            message_id = env.messageId
            if type(message_id) is not str or not message_id:
                message_id = _id(message_id)
                if message_id is None:
                    message_id = str(uuid.uuid4())
                    out.generated.append(index)
            group_id = _id(env.groupId) if env.groupId is not None else None
            previous_id = _id(env.previousId) if env.previousId is not None else None
            if etype == "track":
                if not env.event:
                    raise _Reject("missing_field", "a track event needs a non-empty `event`")
            elif etype == "group" and group_id is None:
                raise _Reject("missing_field", "a group call needs `groupId`")
            elif etype == "alias" and previous_id is None:
                raise _Reject("missing_field", "an alias call needs `previousId`")
            properties = (
                _object_text(env.properties, "properties") if env.properties is not None else None
            )
            traits = _object_text(env.traits, "traits") if env.traits is not None else None
            integrations = (
                _object_text(env.integrations, "integrations")
                if env.integrations is not None
                else None
            )
            try:
                context = _context_text(env.context, ip, ip_prefix, batch_context)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                raise _Reject("invalid_event", f"`context` cannot be read: {exc}") from exc
            if check_track is not None and etype == "track":
                verdict = check_track(env.event or "", properties)
                if verdict is not None:
                    raise _Reject(*verdict)
            original = env.originalTimestamp or env.timestamp
            sent: _dt.datetime | None
            sent_value: _dt.datetime | str | None
            original_value: _dt.datetime | str | None
            timestamp: _dt.datetime | str
            try:
                if env.sentAt is not None:
                    sent = _to_utc(env.sentAt)
                    sent_value = _ts(sent)
                elif batch_sent_error is not None:
                    raise _Reject("invalid_timestamp", batch_sent_error)
                else:
                    sent, sent_value = batch_sent, batch_sent_value
                # correct_clock_skew, inlined: this runs for every event
                if original is None:
                    original_value = None
                    timestamp = received_value
                else:
                    if original.tzinfo is not _UTC:
                        original = _to_utc(original)
                    original_value = original if original.microsecond else _ts(original)
                    if sent is None:
                        timestamp = original_value
                    else:
                        timestamp = _ts(received - (sent - original))
            except (OverflowError, ValueError) as exc:
                raise _Reject(
                    "invalid_timestamp",
                    f"a time is outside the representable range in UTC, or the clock-skew "
                    f"correction leaves it: {exc}",
                ) from exc
            if encode_records:
                records.append(
                    _ENCODE(
                        EventRecord(
                            message_id,
                            etype,
                            env.event,
                            env.name,
                            user_id,
                            anonymous_id,
                            group_id,
                            previous_id,
                            timestamp,
                            original_value,
                            sent_value,
                            received_value,
                            properties,
                            traits,
                            context,
                            integrations,
                            source,
                            host,
                            user_agent,
                            ip,
                        )
                    )
                )
            keys.append((user_id or anonymous_id or "").encode())
            ids.append(message_id)
            accepted.append(index)
        except _Reject as rej:
            if out.generated and out.generated[-1] == index:
                out.generated.pop()
            _quarantine(out, index, data, rej, qmeta)
    return out


@dataclass(frozen=True, slots=True)
class _QuarantineMeta:
    """What every quarantine record of one batch shares (the request's enrichment)."""

    received_text: str
    source: str | None
    force_type: str | None
    host: str | None
    user_agent: str | None
    ip: str | None
    batch_sent_at: str | None
    batch_context: str | None


def _quarantine(
    out: PreparedBatch,
    index: int,
    buffer: bytes | msgspec.Raw,
    rej: _Reject,
    meta: _QuarantineMeta,
) -> None:
    data = bytes(buffer)
    message_id, etype, event, user_id, anonymous_id = _salvage(data)
    message_id = message_id or str(uuid.uuid4())
    out.quarantine_records.append(
        _ENCODE(
            QuarantineRecord(
                message_id,
                meta.force_type or etype,
                event,
                user_id,
                anonymous_id,
                meta.received_text,
                meta.source,
                rej.code,
                rej.reason,
                data.decode("utf-8", errors="replace"),
                meta.host,
                meta.user_agent,
                meta.ip,
                meta.batch_sent_at,
                meta.batch_context,
            )
        )
    )
    key = user_id or anonymous_id
    out.quarantine_keys.append(key.encode() if key else None)
    out.quarantined.append(QuarantinedEvent(index, message_id, rej.code, rej.reason))
