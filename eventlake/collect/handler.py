"""One collector request, from its bytes to bus records: the framework-free core.

:class:`RequestHandler` does everything between "the body has been read" and "these records
must become durable": content decoding, JSON parsing (a malformed body is a 400 that names
the line, column and byte), write-key authentication (401), Segment's size limits (413),
and :func:`eventlake.spec.prepare_events` (validation, enrichment, quarantine). It does no
I/O, so it can be driven by the ASGI app, a test or a fuzzer alike; every refusal is an
:class:`~eventlake.collect.body.HttpError` with a 4xx status.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from eventlake.collect.auth import WriteKeys, basic_username
from eventlake.collect.body import HttpError, inflate, too_large
from eventlake.collect.fastpath import fast_prepare
from eventlake.spec import CompiledPlan, PreparedBatch, prepare_events

__all__ = ["BATCH_KINDS", "SINGLE_KINDS", "RequestHandler", "RequestMeta"]

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
_ANY = msgspec.json.Decoder(dict[str, Any])
_BYTE_POS = re.compile(r"\(byte (\d+)\)")


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
        if force_type is not None:
            try:
                single = _SINGLE.decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                raise _json_error(body, exc) from None
            source = self._source(header_key, single.writeKey)
            events: list[bytes] | list[msgspec.Raw] = [body]
            if single.writeKey is not None:
                # The key is a secret: keep it out of the quarantine's raw copy of the event.
                try:
                    event = _ANY.decode(body)
                except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                    pass  # unreadable: prepare_events quarantines it with the reason
                else:
                    event.pop("writeKey", None)
                    events = [msgspec.json.encode(event)]
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
            sent_at = parsed.sentAt
            context = parsed.context
        request: dict[str, Any] = {
            "received_at": received_at,
            "source": source,
            "host": meta.host,
            "user_agent": meta.user_agent,
            "ip": meta.ip,
            "plan": self.plan,
            "sent_at": sent_at,
            "batch_context": context,
        }
        if self.request_records and force_type is None:
            fast = fast_prepare(events, **request)
            if fast is not None:
                return fast
        return prepare_events(events, force_type=force_type, **request)
