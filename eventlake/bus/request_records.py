"""Request records: one collector request's validated events as ONE bus record.

The collector's hot path (docs/architecture.md, "request records"). A ``/v1/batch`` request
whose every event passes validation is made durable as it came, in one record, instead of
one re-encoded JSON record per event; the lander expands it into lake rows with the very
same code the collector would have run (:func:`eventlake.spec.prepare_events`), so the
rows are identical. This moves the per-event enrichment (context.ip, clock-skew
correction, JSON text columns) off the request path, where it cost more than the HTTP
exchange itself, to the lander, which works on large batches without a client waiting.

Layout (the first byte tells the three record encodings apart: ``{`` or whitespace is a
JSON record, ``0xFF`` an Arrow IPC stream, ``0xFE`` a request record; no UTF-8 text can
start with either of the latter)::

    magic        4 bytes  b"\\xfeELR"
    header_len   u32, little-endian
    header       JSON object (:class:`RequestHeader`): when and from where it came
    events       the events as a JSON array, each exactly as the client sent it

Only events the collector accepted are in a request record (its quarantined events, if
any, are JSON records of topic ``quarantine``); an event whose ``messageId`` the collector
made up carries it. The tracking plan is applied by the collector; expanding a record does
not re-apply it (a plan edited in between must not change what was acknowledged). The
header's ``type``, when present, is the call type of a single-event endpoint
(``/v1/track``), which overrides each event's own as in ``prepare_events(force_type=...)``.
Readers cut ``host`` and ``user_agent`` at ``spec.MAX_HEADER_CHARS`` characters as the
collector does, so a record written before that rule cannot make one huge string per row.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Sequence
from typing import Any

import msgspec

from eventlake.bus.records import REQUEST_MARKER, is_request_record
from eventlake.errors import BusError
from eventlake.spec import PreparedBatch, parse_timestamp, prepare_events

__all__ = [
    "REQUEST_MARKER",
    "RequestHeader",
    "decode_request_record",
    "encode_request_record",
    "expand_request_record",
    "is_request_record",
    "request_record_rows",
    "split_request_record",
]

_LEN = struct.Struct("<I")
_PREFIX = len(REQUEST_MARKER) + _LEN.size


class RequestHeader(msgspec.Struct, omit_defaults=True):
    """What the collector knew about the request besides its events.

    ``received_at`` and ``sent_at`` are ISO-8601 UTC text; ``context`` is the batch-level
    context merged under each event's own; ``count`` the number of events; ``type`` the
    call type forced by a single-event endpoint (absent for a batch).
    """

    received_at: str
    count: int
    source: str | None = None
    host: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    sent_at: str | None = None
    context: dict[str, Any] | None = None
    type: str | None = None


class RequestRecordError(BusError):
    """A record that starts like a request record but cannot be read."""


_HEADER_ENCODE = msgspec.json.Encoder().encode
_HEADER = msgspec.json.Decoder(RequestHeader)
_EVENTS = msgspec.json.Decoder(list[msgspec.Raw])


def encode_request_record(header: RequestHeader, events: Sequence[msgspec.Raw | bytes]) -> bytes:
    """One record holding ``events`` (raw JSON, as received) and their ``header``."""
    head = _HEADER_ENCODE(header)
    return b"".join(
        (
            REQUEST_MARKER,
            _LEN.pack(len(head)),
            head,
            b"[",
            b",".join(events),
            b"]",
        )
    )


def split_request_record(value: bytes | memoryview) -> tuple[RequestHeader, memoryview]:
    """The header of a request record and its events' JSON array, still undecoded.

    Raises:
        RequestRecordError: the value is not a readable request record.
    """
    data = memoryview(value)
    if bytes(data[:4]) != REQUEST_MARKER or len(data) < _PREFIX:
        raise RequestRecordError("not a request record")
    (head_len,) = _LEN.unpack_from(data, 4)
    end = _PREFIX + head_len
    try:
        return _HEADER.decode(data[_PREFIX:end]), data[end:]
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RequestRecordError(f"unreadable request record header: {exc}") from exc


def decode_request_record(value: bytes | memoryview) -> tuple[RequestHeader, list[msgspec.Raw]]:
    """The header and raw events of a request record.

    Raises:
        RequestRecordError: the value is not a readable request record.
    """
    header, array = split_request_record(value)
    try:
        events = _EVENTS.decode(array)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise RequestRecordError(f"unreadable request record: {exc}") from exc
    if len(events) != header.count:
        raise RequestRecordError(
            f"request record holds {len(events)} events, its header says {header.count}"
        )
    return header, events


def request_record_rows(value: bytes | memoryview) -> int:
    """Events in a request record (reads only the header)."""
    return split_request_record(value)[0].count


def _time(text: str | None) -> _dt.datetime | None:
    return parse_timestamp(text) if text is not None else None


def expand_request_record(value: bytes | memoryview) -> PreparedBatch:
    """The JSON event records a request record stands for (as the collector would make).

    Raises:
        RequestRecordError: the value is not a readable request record.
    """
    header, events = decode_request_record(value)
    try:
        received = parse_timestamp(header.received_at)
        sent = _time(header.sent_at)
    except ValueError as exc:
        raise RequestRecordError(f"request record header: {exc}") from exc
    return prepare_events(
        events,
        received_at=received,
        source=header.source,
        host=header.host,
        user_agent=header.user_agent,
        ip=header.ip,
        plan=None,
        sent_at=sent,
        force_type=header.type,
        batch_context=header.context,
    )
