"""Reading a request body within the collector's limits: size, gzip, and the reasons why not.

The body is read chunk by chunk and refused with 413 the moment it passes its limit (the
declared ``Content-Length`` is checked before reading anything); a gzip body is inflated
with the same limit applied to its *decompressed* size, so a small bomb cannot expand in
memory.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

__all__ = ["HttpError", "inflate", "read_limited", "too_large"]


class HttpError(Exception):
    """A request refused with ``status``; ``code`` and ``message`` go in the JSON reply."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def too_large(limit: int, setting: str, what: str) -> HttpError:
    """The 413 for ``what`` over ``limit``, naming the setting that sets it."""
    return HttpError(
        413,
        "payload_too_large",
        f"{what} is larger than the {limit}-byte limit (collect.{setting})",
    )


async def read_limited(
    chunks: AsyncIterator[bytes], content_length: str | None, limit: int, setting: str
) -> bytes:
    """The whole body, or ``HttpError(413)`` naming ``setting`` when it passes ``limit``."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise HttpError(400, "bad_request", "Content-Length is not a number") from None
        if declared > limit:
            raise too_large(limit, setting, "the request body")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(limit, setting, "the request body")
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def inflate(body: bytes, encoding: str | None, limit: int, setting: str) -> bytes:
    """Decode ``Content-Encoding`` (identity, gzip, deflate) with ``limit`` on the result."""
    if not encoding or encoding.strip().lower() == "identity":
        return body
    enc = encoding.strip().lower()
    if enc in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif enc == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise HttpError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported (use gzip or none)",
        )
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HttpError(
            400, "bad_encoding", f"the {enc} body cannot be decompressed: {exc}"
        ) from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(limit, setting, f"the decompressed ({enc}) request body")
    if not inflater.eof:
        raise HttpError(400, "bad_encoding", f"the {enc} body is truncated")
    return out
