"""How the collector is served: uvicorn options that bound a request's head.

uvicorn's default HTTP parser (httptools) accepts request headers of any size: a 1 MB
``User-Agent`` was read into memory whole, and the collector then copied it into every
event of the request. :func:`uvicorn_options` serves the app with
:class:`HeadBoundedHttpToolsProtocol`, which counts the bytes of each request head (request
line and headers) as they arrive and answers ``431 Request Header Fields Too Large`` as soon
as they pass ``collect.max_header_bytes``, before the head is read any further; without
httptools, uvicorn's h11 parser enforces the same bound (``h11_max_incomplete_event_size``,
answered with a plain 400). The app checks the same limit again
(:func:`head_bytes`), so the answer is a 431 behind any server.

Usage (``eventlake collect`` does this)::

    uvicorn.run(app, host=..., port=..., **uvicorn_options(settings))
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from eventlake.collect.body import HttpError

if TYPE_CHECKING:
    from eventlake.config import Settings

__all__ = [
    "HEAD_PROTOCOL",
    "head_bytes",
    "headers_too_large",
    "uvicorn_options",
]

#: uvicorn's ``http=`` import string of the head-bounded protocol.
HEAD_PROTOCOL = "eventlake.collect.server:HeadBoundedHttpToolsProtocol"
#: How long a refused connection is drained before it is closed.
_LINGER_SECONDS = 5.0


def headers_too_large(size: int, limit: int) -> HttpError:
    """The 431 of a request head of ``size`` bytes over ``limit``."""
    return HttpError(
        431,
        "headers_too_large",
        f"the request's headers take {size} bytes or more, over the {limit}-byte limit "
        "(collect.max_header_bytes)",
    )


def head_bytes(scope: Mapping[str, Any]) -> int:
    """Bytes of an ASGI request's headers as sent (``name: value`` lines)."""
    return sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` that bound request heads.

    The limit travels in ``h11_max_incomplete_event_size``, the uvicorn setting that already
    means "largest request head" for its h11 parser, so worker processes started by uvicorn
    get it too.
    """
    http = HEAD_PROTOCOL if importlib.util.find_spec("httptools") is not None else "h11"
    return {"http": http, "h11_max_incomplete_event_size": settings.collect.max_header_bytes}


def _refusal(size: int, limit: int) -> bytes:
    err = headers_too_large(size, limit)
    body = msgspec.json.encode({"success": False, "code": err.code, "message": err.message})
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        "access-control-allow-origin: *\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn[standard] installs httptools
    pass
else:

    class HeadBoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, answering 431 to a request head over the limit.

        Bytes are counted while a head is being read; a chunk in which a head ended and
        the next began is not counted (at most one read, 256 KB, escapes the count: memory
        stays bounded, and a pipelined request is never refused for its predecessor's
        body).
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._max_head = self.config.h11_max_incomplete_event_size or 32 * 1024
            self._in_head = True
            self._head_seen = 0
            self._heads = 0
            self._refused = False

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._heads += 1
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_head = True
            super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            in_head, heads = self._in_head, self._heads
            super().data_received(data)
            if not self._in_head:
                self._head_seen = 0
                return
            if in_head and heads == self._heads:
                self._head_seen += len(data)
            else:
                self._head_seen = 0  # a new head began inside this chunk
            if self._head_seen > self._max_head:
                self._refuse()

        def _refuse(self) -> None:
            """Answer 431 and end the connection without reading the head any further.

            The rest of what the client sends is read and dropped (nothing is kept) until
            it closes, or for at most :data:`_LINGER_SECONDS`: closing a socket with unread
            input makes the kernel send a reset, which can destroy the reply before the
            client has read it.
            """
            self._refused = True
            transport: asyncio.Transport = self.transport
            if transport.is_closing():
                return
            transport.write(_refusal(self._head_seen, self._max_head))
            if transport.can_write_eof():
                transport.write_eof()
                self.loop.call_later(_LINGER_SECONDS, transport.close)
            else:
                transport.close()
