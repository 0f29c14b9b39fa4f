"""The on-disk frame format of the local log (``bus/local.py``).

A partition is a folder of segment files named by the offset of their first record
(``00000000000000000000.seg``). A segment is a sequence of *frames*; one frame holds the
records of one group commit (one or many ``append`` calls) of one partition::

    header (24 bytes, little-endian)
        magic        4s   b"ELB1"
        payload_len  u32
        base_offset  u64  offset of the frame's first record
        count        u32  records in the frame
        crc32        u32  of header bytes 4..20 and the whole payload
    payload
        key_lens     count x i32   (-1 = no key)
        value_lens   count x u32
        keys         the keys, concatenated
        values       each value followed by b"\\n"

The CRC and the length detect a torn tail (a writer killed mid-write, a power cut); the
base offsets must follow on from each other, so a frame that is valid but out of place is
corruption, not a tail. Values end in a newline so that the lander can hand the values
area of many frames to ``pyarrow.json`` as newline-delimited JSON without copying records
one by one.
"""

from __future__ import annotations

import os
import struct
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Frame",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_PAYLOAD",
    "encode_frame",
    "encode_parts",
    "read_frame",
]

MAGIC = b"ELB1"
_HEADER = struct.Struct("<4sIQII")
HEADER_SIZE = _HEADER.size
#: Larger payload lengths are garbage, not a frame (a producer never writes one).
MAX_PAYLOAD = 1 << 30


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: where it lies in its segment and its records' bytes."""

    pos: int
    next_pos: int
    base_offset: int
    count: int
    payload: bytes

    @property
    def end_offset(self) -> int:
        """Offset just past the frame's last record."""
        return self.base_offset + self.count

    def key_lens(self) -> npt.NDArray[np.int32]:
        return np.frombuffer(self.payload, dtype="<i4", count=self.count, offset=0)

    def value_lens(self) -> npt.NDArray[np.uint32]:
        return np.frombuffer(self.payload, dtype="<u4", count=self.count, offset=4 * self.count)

    def keys_start(self) -> int:
        return 8 * self.count

    def values_start(self) -> int:
        klens = self.key_lens()
        return 8 * self.count + int(klens[klens > 0].sum())


def encode_parts(
    values: Sequence[bytes], keys: Sequence[bytes | None] | None
) -> tuple[bytes, bytes, bytes, bytes]:
    """The four payload areas of ``values``/``keys`` (to be joined with other requests')."""
    n = len(values)
    if keys is None:
        klens = array("i", [-1]) * n
        kblob = b""
    else:
        klens = array("i", [-1 if k is None else len(k) for k in keys])
        kblob = b"".join(k for k in keys if k is not None)
    vlens = array("I", map(len, values))
    vblob = b"\n".join(values) + b"\n"
    return klens.tobytes(), vlens.tobytes(), kblob, vblob


def encode_frame(base_offset: int, count: int, areas: Sequence[bytes]) -> list[bytes]:
    """Header plus payload areas, ready for ``os.writev``."""
    length = sum(len(a) for a in areas)
    head = _HEADER.pack(MAGIC, length, base_offset, count, 0)
    crc = zlib.crc32(head[4:20])
    for a in areas:
        crc = zlib.crc32(a, crc)
    return [_HEADER.pack(MAGIC, length, base_offset, count, crc), *areas]


def read_frame(fd: int, pos: int) -> Frame | None:
    """The frame at ``pos`` of an open segment, or None if none is complete and valid there.

    None means the end of the data: nothing written yet, a write in progress, or a torn
    tail left by a killed writer. Callers decide which from where it happens.
    """
    head = os.pread(fd, HEADER_SIZE, pos)
    if len(head) < HEADER_SIZE:
        return None
    magic, length, base, count, crc = _HEADER.unpack(head)
    if magic != MAGIC or length > MAX_PAYLOAD or length < 8 * count:
        return None
    payload = os.pread(fd, length, pos + HEADER_SIZE)
    if len(payload) < length:
        return None
    if zlib.crc32(payload, zlib.crc32(head[4:20])) != crc:
        return None
    return Frame(pos, pos + HEADER_SIZE + length, base, count, payload)
