"""Body limits and content decoding."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from eventlake.collect.body import HttpError, inflate, read_limited


async def _chunks(*parts: bytes):
    for p in parts:
        yield p


def read(parts, length, limit=10):
    return asyncio.run(read_limited(_chunks(*parts), length, limit, "max_batch_bytes"))


def test_read_limited_joins_chunks_within_the_limit() -> None:
    assert read([b"abc", b"def"], None) == b"abcdef"
    assert read([b"0123456789"], "10") == b"0123456789"


@pytest.mark.parametrize(
    ("parts", "length"), [([b"x" * 11], None), ([b"x"], "11"), ([b"x" * 6] * 2, None)]
)
def test_read_limited_refuses_past_the_limit_with_413(parts, length) -> None:
    with pytest.raises(HttpError) as info:
        read(parts, length)
    assert info.value.status == 413
    assert "10-byte limit (collect.max_batch_bytes)" in info.value.message


def test_a_non_numeric_content_length_is_400() -> None:
    with pytest.raises(HttpError) as info:
        read([b"x"], "ten")
    assert info.value.status == 400


def test_inflate_identity_gzip_and_deflate() -> None:
    data = b'{"a": 1}'
    assert inflate(data, None, 100, "s") == data
    assert inflate(data, "identity", 100, "s") == data
    assert inflate(gzip.compress(data), "gzip", 100, "s") == data
    assert inflate(zlib.compress(data), "deflate", 100, "s") == data


def test_inflate_limits_the_decompressed_size() -> None:
    with pytest.raises(HttpError) as info:
        inflate(gzip.compress(b"x" * 1000), "gzip", 100, "max_event_bytes")
    assert info.value.status == 413
    assert "decompressed" in info.value.message


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [(b"plain", "gzip", 400), (gzip.compress(b"abc")[:-8], "gzip", 400), (b"x", "br", 415)],
)
def test_inflate_errors(body: bytes, encoding: str, status: int) -> None:
    with pytest.raises(HttpError) as info:
        inflate(body, encoding, 100, "s")
    assert info.value.status == status
