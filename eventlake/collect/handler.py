"""One collector request, from its bytes to bus records: the framework-free core.

:class:`RequestHandler` does everything between "the body has been read" and "these records
must become durable": content decoding, JSON parsing (a malformed body is a 400 that names
the line, column and byte), write-key authentication (401), Segment's size limits (413),
removing the write key from the events it keeps (``collect/redact.py``), and
:func:`eventlake.spec.prepare_events` (validation, enrichment, quarantine). It does no I/O,
so it can be driven by the ASGI app, a test or a fuzzer alike; every refusal is an
:class:`~eventlake.collect.body.HttpError` with a 4xx status.

With ``collect.request_records`` (the default) a request's accepted events become ONE
request record whatever path validated them (``collect/fastpath.py``), so the request's
metadata is on the bus once, not once per event. A request whose rows would take more than
:data:`EXPANSION_FACTOR` times ``collect.max_batch_bytes`` once its batch ``context`` and
``Host``/``User-Agent`` headers are repeated in each of its events is refused with 413: the
lander (and, with request records off, the collector) would hold all of that in memory.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from eventlake.collect.auth import WriteKeys, basic_username
from eventlake.collect.body import HttpError, inflate, too_large
from eventlake.collect.fastpath import fast_prepare, pack_accepted
from eventlake.collect.redact import remove_write_key
from eventlake.spec import CompiledPlan, PreparedBatch, clip_header, prepare_events

__all__ = ["BATCH_KINDS", "EXPANSION_FACTOR", "SINGLE_KINDS", "RequestHandler", "RequestMeta"]

#: ``/v1/<kind>`` of one event -> its call type (short forms are analytics.js's).
SINGLE_KINDS = {
    "track": "track",
    "identify": "identify",
    "page": "page",
    "screen": "screen",
    "group": "group",
    "alias": "alias",
    "t": "track",
    "i": "identify",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}
#: ``/v1/<kind>`` whose body is ``{"batch": [...]}``.
BATCH_KINDS = frozenset({"batch", "import", "b"})


class _BatchBody(msgspec.Struct):
    batch: list[msgspec.Raw] | None = None
    sentAt: _dt.datetime | None = None
    context: dict[str, Any] | None = None
    writeKey: str | None = None


class _SingleBody(msgspec.Struct):
    writeKey: str | None = None


_BATCH = msgspec.json.Decoder(_BatchBody)
_SINGLE = msgspec.json.Decoder(_SingleBody)
_BYTE_POS = re.compile(r"\(byte (\d+)\)")
_WRITE_KEY = b"writeKey"
#: A request may expand to at most this many times ``collect.max_batch_bytes`` once its
#: batch ``context``, ``Host`` and ``User-Agent`` are counted once per event (4 MB by
#: default; an SDK batch of real events with a real user agent stays under 2x).
EXPANSION_FACTOR = 8


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """What the collector knows about a request besides its body."""

    authorization: str | None = None
    content_encoding: str | None = None
    host: str | None = None
    user_agent: str | None = None
    ip: str | None = None


def _json_error(body: bytes, exc: Exception) -> HttpError:
    if isinstance(exc, UnicodeDecodeError):
        return HttpError(
            400, "invalid_encoding", f"the body is not valid UTF-8 at byte {exc.start}"
        )
    if isinstance(exc, RecursionError):
        return HttpError(400, "invalid_json", "the JSON body is nested too deeply")
    message = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        where = message.replace("`$.", "`").replace("`$`", "the body")
        return HttpError(400, "invalid_request", f"the request body has the wrong shape: {where}")
    match = _BYTE_POS.search(message)
    pos = int(match.group(1)) if match else len(body)
    line = body.count(b"\n", 0, pos) + 1
    column = pos - (body.rfind(b"\n", 0, pos) + 1) + 1
    detail = message.removeprefix("JSON is malformed: ")
    detail = _BYTE_POS.sub("", detail).strip()
    if message.startswith("Input data was truncated"):
        detail = "the JSON ends too early"
    return HttpError(
        400,
        "invalid_json",
        f"malformed JSON at line {line}, column {column} (byte {pos}): {detail}",
    )


class RequestHandler:
    """Turns request bodies into prepared batches; immutable, thread-safe."""

    def __init__(
        self,
        keys: WriteKeys,
        plan: CompiledPlan,
        *,
        max_batch_bytes: int,
        max_event_bytes: int,
        request_records: bool = True,
    ) -> None:
        self.keys = keys
        self.plan = plan
        self.max_batch_bytes = max_batch_bytes
        self.max_event_bytes = max_event_bytes
        self.request_records = request_records

    def body_limit(self, kind: str) -> tuple[int, str]:
        """The byte limit of a ``/v1/<kind>`` body and the setting that sets it."""
        if kind in BATCH_KINDS:
            return self.max_batch_bytes, "max_batch_bytes"
        return self.max_event_bytes, "max_event_bytes"

    def _source(self, header_key: str | None, body_key: str | None) -> str:
        key = header_key if header_key is not None else body_key
        if key is None:
            raise HttpError(
                401,
                "unauthorized",
                "missing write key: send it as the HTTP Basic username or as writeKey in the body",
            )
        source = self.keys.source_for(key)
        if source is None:
            raise HttpError(401, "unauthorized", "unknown write key")
        return source

    def prepare(
        self, kind: str, body: bytes, meta: RequestMeta, received_at: _dt.datetime
    ) -> PreparedBatch:
        """Authenticate, parse and prepare one request's events.

        Raises:
            HttpError: 400 (malformed JSON or shape), 401 (write key), 404 (unknown kind),
                413 (a limit), 415 (content encoding).
        """
        force_type = SINGLE_KINDS.get(kind)
        if force_type is None and kind not in BATCH_KINDS:
            raise HttpError(404, "not_found", f"unknown endpoint /v1/{kind}")
        try:
            header_key = basic_username(meta.authorization)
        except ValueError as exc:
            raise HttpError(401, "unauthorized", str(exc)) from None
        limit, setting = self.body_limit(kind)
        body = inflate(body, meta.content_encoding, limit, setting)
        if len(body) > limit:
            raise too_large(limit, setting, "the request body")
        context_bytes = 0
        if force_type is not None:
            try:
                single = _SINGLE.decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                raise _json_error(body, exc) from None
            source = self._source(header_key, single.writeKey)
            # The key is a secret: cut it out of the event before anything keeps a copy
            # (the quarantine's raw text, a request record), even from a body that is not
            # UTF-8 or cannot be decoded for another reason.
            events: list[bytes] | list[msgspec.Raw] = [
                remove_write_key(body) if single.writeKey is not None else body
            ]
            sent_at = None
            context = None
        else:
            try:
                parsed = _BATCH.decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                raise _json_error(body, exc) from None
            source = self._source(header_key, parsed.writeKey)
            if parsed.batch is None:
                raise HttpError(400, "invalid_request", "the body has no `batch` array")
            events = parsed.batch
            if len(body) > self.max_event_bytes:  # else no event can be over the limit
                for index, raw in enumerate(events):
                    if len(raw) > self.max_event_bytes:
                        raise too_large(
                            self.max_event_bytes, "max_event_bytes", f"event #{index} of the batch"
                        )
            if _WRITE_KEY in body:  # Segment's browser SDK repeats it in every event
                events = [
                    remove_write_key(raw) if _WRITE_KEY in raw else raw
                    for raw in map(bytes, events)
                ]
            sent_at = parsed.sentAt
            context = parsed.context
            if context:
                context_bytes = len(msgspec.json.encode(context))
        host, user_agent = clip_header(meta.host), clip_header(meta.user_agent)
        self._check_expansion(
            len(body), len(events), context_bytes + len(host or "") + len(user_agent or "")
        )
        request: dict[str, Any] = {
            "received_at": received_at,
            "source": source,
            "host": host,
            "user_agent": user_agent,
            "ip": meta.ip,
            "sent_at": sent_at,
            "batch_context": context,
        }
        if not self.request_records:
            return prepare_events(events, force_type=force_type, plan=self.plan, **request)
        if force_type is None:
            fast = fast_prepare(events, plan=self.plan, **request)
            if fast is not None:
                return fast
        batch = prepare_events(
            events, force_type=force_type, plan=self.plan, encode_records=False, **request
        )
        return pack_accepted(batch, events, force_type=force_type, **request)

    def _check_expansion(self, body_bytes: int, events: int, per_event: int) -> None:
        """413 when the request's rows would take more than the expansion limit."""
        limit = EXPANSION_FACTOR * self.max_batch_bytes
        expanded = body_bytes + events * per_event
        if expanded > limit:
            raise HttpError(
                413,
                "payload_too_large",
                f"the request's {events} events would take {expanded} bytes once the batch "
                f"`context` and the Host and User-Agent headers ({per_event} bytes) are "
                f"repeated in each, more than the {limit}-byte limit ({EXPANSION_FACTOR} x "
                "collect.max_batch_bytes): send fewer events per request or a smaller batch "
                "context",
            )
