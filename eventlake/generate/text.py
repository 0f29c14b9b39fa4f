"""Vectorised text for the bus encoder: many numbers to fixed-width ASCII in a few numpy passes.

Timestamps become ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the bus and lake text form) through
lookup tables rather than per-digit arithmetic, and random bytes become hex pairs.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import numpy.typing as npt

__all__ = ["HEX_PAIRS", "hex_bytes", "iso_timestamps", "take_rows"]

#: Two lowercase hex digits of each byte value, as a (256, 2) byte table.
HEX_PAIRS = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), np.uint8).reshape(
    256, 2
)
# The same pairs as one 16-bit value each: a 1-D take is much faster than a 2-D gather.
_HEX16 = HEX_PAIRS.copy().view(np.uint16).ravel()


def hex_bytes(raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Lowercase hex text of each row of bytes: (n, k) bytes -> (n, 2k) ASCII."""
    out: npt.NDArray[np.uint8] = (
        np.take(_HEX16, raw).view(np.uint8).reshape(len(raw), 2 * raw.shape[1])
    )
    return out


def _digits(count: int, width: int) -> npt.NDArray[np.uint8]:
    """Zero-padded decimal text of 0..count-1 as a (count, width) byte table."""
    return np.frombuffer(
        b"".join(f"{i:0{width}d}".encode() for i in range(count)), np.uint8
    ).reshape(count, width)


_HMS = np.frombuffer(
    b"".join(
        f"{h:02d}:{m:02d}:{s:02d}".encode() for h in range(24) for m in range(60) for s in range(60)
    ),
    np.uint8,
).reshape(86_400, 8)
_D3 = _digits(1000, 3)


def iso_timestamps(
    us: npt.NDArray[np.int64], out: npt.NDArray[np.uint8] | None = None
) -> npt.NDArray[np.uint8]:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for each microsecond time, as an (n, 27) byte block.

    Table lookups instead of arithmetic per digit: the few distinct dates are rendered by
    Python, times of day and fractions come from precomputed digit tables. ``out`` may be
    a (n, 27) view into a bigger block, written in place.
    """
    days, rem = np.divmod(us, 86_400_000_000)
    secs, frac = np.divmod(rem, 1_000_000)
    if out is None:
        out = np.empty((len(us), 27), np.uint8)
    if len(us) == 0:
        return out
    d0 = int(days.min())
    span = int(days.max()) - d0 + 1
    dates = np.frombuffer(
        b"".join(
            (_dt.date(1970, 1, 1) + _dt.timedelta(days=d0 + k)).isoformat().encode()
            for k in range(span)
        ),
        np.uint8,
    ).reshape(span, 10)
    out[:, 0:10] = take_rows(dates, days - d0)
    out[:, 10] = ord("T")
    out[:, 11:19] = take_rows(_HMS, secs)
    out[:, 19] = ord(".")
    hi, lo = np.divmod(frac, 1000)
    out[:, 20:23] = take_rows(_D3, hi)
    out[:, 23:26] = take_rows(_D3, lo)
    out[:, 26] = ord("Z")
    return out


def take_rows(table: npt.NDArray[np.uint8], idx: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """``table[idx]`` for a (rows, width) byte table, as one 1-D take of width-byte items."""
    width = table.shape[1]
    items = np.ascontiguousarray(table).view(f"V{width}").ravel()
    out: npt.NDArray[np.uint8] = np.take(items, idx).view(np.uint8).reshape(len(idx), width)
    return out
