"""Keeping the write key out of what the collector stores.

A client may send its write key as ``writeKey`` in a single-event body (analytics.js does),
and Segment's browser SDK repeats it in every event of a batch. The collector authenticates
with it and must then forget it: events are stored as the client sent them (request records,
the quarantine's ``raw`` copy), so the member is cut out of the event's JSON text first.

This works on the bytes, not on a decoded object: an event with text that is not UTF-8, or
too deeply nested to decode, must still be quarantined with *that* reason, and its raw copy
must still lose the key. The input is JSON the collector's decoder has already accepted as
syntactically valid (msgspec checks the syntax of what it skips, though not its UTF-8), so
a small tokenizer that knows strings and brackets finds the top-level members; everything
else stays byte for byte.
"""

from __future__ import annotations

import re

import msgspec

__all__ = ["WRITE_KEY_FIELD", "remove_write_key"]

#: The body member that carries the write key (Segment's name).
WRITE_KEY_FIELD = "writeKey"

# A JSON string (escapes included) or one structural character; numbers and literals are
# skipped over by finditer, which is all the scan needs.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]', re.DOTALL)
_PLAIN_NAME = b'"' + WRITE_KEY_FIELD.encode() + b'"'


def _is_write_key(name: bytes) -> bool:
    if name == _PLAIN_NAME:
        return True
    if b"\\" not in name:
        return False
    try:  # an escaped spelling, e.g. "write\u004bey"
        decoded = msgspec.json.decode(name.decode("utf-8", errors="replace"), type=str)
    except msgspec.DecodeError:
        return False
    return decoded == WRITE_KEY_FIELD


def _member_spans(data: bytes) -> list[tuple[int, int, bool]]:
    """(start, end, is_write_key) of each member of the top-level object, in order."""
    spans: list[tuple[int, int, bool]] = []
    depth = 0
    start = -1
    is_key = False
    expect_name = False
    for match in _TOKEN.finditer(data):
        tok = match.group()
        first = tok[0]
        if first == 0x22:  # a string
            if depth == 1 and expect_name:
                start, is_key, expect_name = match.start(), _is_write_key(tok), False
            continue
        if first in (0x7B, 0x5B):  # { [
            depth += 1
            if depth == 1:
                expect_name = first == 0x7B
        elif first in (0x7D, 0x5D):  # } ]
            if depth == 1 and start >= 0:
                spans.append((start, _value_end(data, match.start()), is_key))
                start = -1
            depth -= 1
            if depth == 0:
                break
        elif first == 0x2C and depth == 1:  # , between top-level members
            if start >= 0:
                spans.append((start, _value_end(data, match.start()), is_key))
                start = -1
            expect_name = True
    return spans


def _value_end(data: bytes, stop: int) -> int:
    """End of a member's value: ``stop`` (its comma or the closing brace) minus whitespace."""
    while stop > 0 and data[stop - 1] in b" \t\r\n":
        stop -= 1
    return stop


def remove_write_key(event: bytes) -> bytes:
    """``event`` (one JSON object) without its top-level ``writeKey`` member(s).

    Returns the input itself when it has none. The rest of the text is kept byte for byte,
    invalid UTF-8 included. The input must be syntactically valid JSON.
    """
    if not event.lstrip()[:1] == b"{":
        return event
    spans = _member_spans(event)
    if not any(is_key for _, _, is_key in spans):
        return event
    keep = [(a, b) for a, b, is_key in spans if not is_key]
    open_at = event.index(b"{")
    close_at = event.rindex(b"}")
    inner = b",".join(event[a:b] for a, b in keep)
    return event[: open_at + 1] + inner + event[close_at:]
