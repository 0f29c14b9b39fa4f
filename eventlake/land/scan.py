"""Compiled byte scans of request records: where each event's fields are, without decoding.

The lander's columnar route (``expand.py``) used to decode every event into a ``msgspec``
struct, read each field out of every struct, join the nested objects' raw bytes and splice
the request's ``ip`` into each context: about 2 us of interpreter-bound work per event,
which held the GIL and so could not share the second core with the Parquet writer.

Here the events' JSON is walked once, byte by byte, by a function ``numba`` compiles to
machine code (``nogil``): for each event and each envelope field it records where the
value's bytes are and what kind of value it is, and parses the timestamps. Columns are
then gathered from those spans by a second compiled loop straight into Arrow buffers.
Whatever the scan does not vouch for makes it give up (``ScanResult.ok`` false) and the
caller takes the decoding route, which applies every rule and reports every error:

- a key or an id/name string with an escape (``\\``), a number or boolean where a string
  or a time belongs, a timestamp other than ``YYYY-MM-DD[Tt ]HH:MM:SS[.f{1,6}][Zz|±HH:MM]``
  (or naive), a record whose event count differs from its header;
- any byte the JSON grammar does not allow where the scan looks. The scan checks the
  structure (brackets match, strings close, literals are spelled right), not the spelling
  of numbers nor the placement of commas and colons inside nested objects: records come
  from the collector, which decoded every event before it acknowledged it, and the bus
  checks each record's bytes (CRC).

Why numba (a well-kept LLVM JIT, wheels on PyPI for every platform we support) rather than
a C extension: ``pip install eventlake`` stays free of a compiler, and the scan stays
readable Python. Compiled functions are cached on disk (``cache=True``) after the first
call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numba as nb
import numpy as np
import numpy.typing as npt
from numba.typed import List

log = logging.getLogger("eventlake.land")

__all__ = [
    "ABSENT",
    "FIELDS",
    "NULL",
    "OBJECT",
    "OTHER",
    "STRING",
    "Gathered",
    "ScanResult",
    "gather",
    "scan_events",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(fn: _F) -> _F:
    """``numba.njit`` without the GIL, cached on disk where numba finds a writable place
    (beside this module, else its per-user cache). Where it finds none (a read-only
    installation and no writable home), each process compiles the scan when it starts
    instead (a few seconds) rather than failing."""
    try:
        return cast(_F, nb.njit(nogil=True, cache=True)(fn))
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        log.warning("the lander's scan cannot be cached, so it is compiled per process: %s", exc)
        return cast(_F, nb.njit(nogil=True)(fn))


#: The envelope fields the lander reads, in the order of the scan's columns.
FIELDS = (
    "type",
    "messageId",
    "userId",
    "anonymousId",
    "event",
    "name",
    "groupId",
    "previousId",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "properties",
    "traits",
    "context",
    "integrations",
)
#: Fields whose value is parsed as a time (their span is the text between the quotes).
TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt")

# kinds of value
ABSENT = 0  # the key is not there
NULL = 1  # null
STRING = 2  # a string without escapes: the span is the text between the quotes
OBJECT = 3  # an object: the span includes its braces
OTHER = 4  # anything else: a number, a boolean, an array, a string with escapes

_NAMES = np.frombuffer(b"".join(f.encode() for f in FIELDS), dtype=np.uint8).copy()
_NAME_OFFS = np.cumsum([0] + [len(f) for f in FIELDS]).astype(np.int64)
_TIME_COLS = np.array([FIELDS.index(f) for f in TIME_FIELDS], dtype=np.int64)
_CONTEXT = FIELDS.index("context")

# byte values
_QUOTE, _BSLASH, _COLON, _COMMA = 34, 92, 58, 44
_LBRACE, _RBRACE, _LBRACK, _RBRACK = 123, 125, 91, 93


@_compiled
def _ws(data: npt.NDArray[np.uint8], i: int, end: int) -> int:
    while i < end:
        c = data[i]
        if c != 32 and c != 10 and c != 13 and c != 9:
            return i
        i += 1
    return i


@_compiled
def _string_end(data: npt.NDArray[np.uint8], i: int, end: int) -> tuple[int, bool]:
    """``i`` just after an opening quote: the index of the closing quote (-1: none), and
    whether the string holds an escape."""
    escaped = False
    while i < end:
        c = data[i]
        if c == _QUOTE:
            return i, escaped
        if c == _BSLASH:
            escaped = True
            i += 2
            continue
        if c < 32:
            return -1, escaped
        i += 1
    return -1, escaped


@_compiled
def _literal(data: npt.NDArray[np.uint8], i: int, end: int, text: bytes) -> bool:
    n = len(text)
    if i + n > end:
        return False
    for k in range(n):
        if data[i + k] != text[k]:
            return False
    return True


@_compiled
def _scalar_end(data: npt.NDArray[np.uint8], i: int, end: int) -> int:
    """A number or literal starting at ``i``: the index after it (-1: not one)."""
    c = data[i]
    if c == 116:  # t
        return i + 4 if _literal(data, i, end, b"true") else -1
    if c == 102:  # f
        return i + 5 if _literal(data, i, end, b"false") else -1
    if c == 110:  # n
        return i + 4 if _literal(data, i, end, b"null") else -1
    j = i
    while j < end:
        c = data[j]
        # digits, sign, point, exponent
        if (48 <= c <= 57) or c == 45 or c == 43 or c == 46 or c == 101 or c == 69:
            j += 1
            continue
        break
    return j if j > i else -1


#: Deepest nesting the scan follows (deeper: it gives up; msgspec's own limit is similar).
MAX_DEPTH = 1000


@_compiled
def _nested_end(data: npt.NDArray[np.uint8], i: int, end: int, stack: npt.NDArray[np.uint8]) -> int:
    """An object or array opening at ``i``: the index after its closing bracket (-1: bad).

    Checks that brackets match, that strings close, and that every other byte is a blank,
    a separator or part of a number or literal; ``stack`` (``MAX_DEPTH`` bytes) is
    scratch space for the open brackets."""
    depth = 0
    while i < end:
        c = data[i]
        if c == _QUOTE:
            j, _ = _string_end(data, i + 1, end)
            if j < 0:
                return -1
            i = j + 1
            continue
        if c == _LBRACE or c == _LBRACK:
            if depth == len(stack):
                return -1
            stack[depth] = c + 2  # the closing bracket: } is { + 2, ] is [ + 2
            depth += 1
        elif c == _RBRACE or c == _RBRACK:
            if depth == 0 or stack[depth - 1] != c:
                return -1
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == _COMMA or c == _COLON or c == 32 or c == 10 or c == 13 or c == 9:
            pass
        else:
            j = _scalar_end(data, i, end)
            if j < 0:
                return -1
            i = j
            continue
        i += 1
    return -1


@_compiled
def _field(
    data: npt.NDArray[np.uint8],
    s: int,
    e: int,
    names: npt.NDArray[np.uint8],
    name_offs: npt.NDArray[np.int64],
) -> int:
    n = e - s
    for f in range(len(name_offs) - 1):
        a = name_offs[f]
        if name_offs[f + 1] - a != n:
            continue
        same = True
        for k in range(n):
            if data[s + k] != names[a + k]:
                same = False
                break
        if same:
            return f
    return -1


@_compiled
def _digits(data: npt.NDArray[np.uint8], i: int, n: int) -> int:
    v = 0
    for k in range(n):
        c = data[i + k]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + (c - 48)
    return v


@_compiled
def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@_compiled
def _time_us(data: npt.NDArray[np.uint8], s: int, e: int) -> tuple[bool, int]:
    """RFC 3339 text in ``data[s:e]`` as UTC microseconds (naive = UTC); False for any
    other spelling (the decoding route then decides)."""
    if e - s < 19:
        return False, 0
    y = _digits(data, s, 4)
    mo = _digits(data, s + 5, 2)
    d = _digits(data, s + 8, 2)
    h = _digits(data, s + 11, 2)
    mi = _digits(data, s + 14, 2)
    sec = _digits(data, s + 17, 2)
    if y < 0 or mo < 1 or mo > 12 or d < 1 or h < 0 or h > 23 or mi < 0 or mi > 59:
        return False, 0
    if sec < 0 or sec > 59 or data[s + 4] != 45 or data[s + 7] != 45:
        return False, 0
    t = data[s + 10]
    if (t != 84 and t != 116 and t != 32) or data[s + 13] != _COLON or data[s + 16] != _COLON:
        return False, 0
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    dim = 31
    if mo == 2:
        dim = 29 if leap else 28
    elif mo == 4 or mo == 6 or mo == 9 or mo == 11:
        dim = 30
    if d > dim:
        return False, 0
    i = s + 19
    frac = 0
    if i < e and data[i] == 46:  # .
        i += 1
        k = 0
        while i < e and 48 <= data[i] <= 57:
            if k == 6:
                return False, 0  # more than microseconds: msgspec rounds, let it
            frac = frac * 10 + (data[i] - 48)
            k += 1
            i += 1
        if k == 0:
            return False, 0
        for _ in range(6 - k):
            frac *= 10
    offset = 0
    if i < e:
        c = data[i]
        if c == 90 or c == 122:  # Z z
            i += 1
        elif c == 43 or c == 45:  # + -
            if e - i != 6 or data[i + 3] != _COLON:
                return False, 0
            oh = _digits(data, i + 1, 2)
            om = _digits(data, i + 4, 2)
            if oh < 0 or oh > 23 or om < 0 or om > 59:
                return False, 0
            offset = oh * 3600 + om * 60
            if c == 45:
                offset = -offset
            i += 6
        if i != e:
            return False, 0
    secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
    return True, secs * 1_000_000 + frac


@_compiled
def _event(
    data: npt.NDArray[np.uint8],
    i: int,
    end: int,
    ev: int,
    names: npt.NDArray[np.uint8],
    name_offs: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int32],
    ends: npt.NDArray[np.int32],
    kinds: npt.NDArray[np.int8],
    stack: npt.NDArray[np.uint8],
) -> int:
    """The members of the object whose ``{`` is just before ``i``: the index after its
    ``}`` (-1: give up)."""
    i = _ws(data, i, end)
    if i < end and data[i] == _RBRACE:
        return i + 1
    while i < end:
        if data[i] != _QUOTE:
            return -1
        ke, esc = _string_end(data, i + 1, end)
        if ke < 0 or esc:
            return -1
        f = _field(data, i + 1, ke, names, name_offs)
        i = _ws(data, ke + 1, end)
        if i >= end or data[i] != _COLON:
            return -1
        i = _ws(data, i + 1, end)
        if i >= end:
            return -1
        c = data[i]
        start = i
        if c == _QUOTE:
            j, esc = _string_end(data, i + 1, end)
            if j < 0:
                return -1
            kind = OTHER if esc else STRING
            start, stop, i = i + 1, j, j + 1
        elif c == _LBRACE or c == _LBRACK:
            j = _nested_end(data, i, end, stack)
            if j < 0:
                return -1
            kind = OBJECT if c == _LBRACE else OTHER
            stop, i = j, j
        else:
            j = _scalar_end(data, i, end)
            if j < 0:
                return -1
            kind = NULL if c == 110 else OTHER
            stop, i = j, j
        if f >= 0:  # a repeated key: the last one counts, as when decoding
            kinds[f, ev] = kind
            starts[f, ev] = start
            ends[f, ev] = stop
        i = _ws(data, i, end)
        if i >= end:
            return -1
        if data[i] == _COMMA:
            i = _ws(data, i + 1, end)
            continue
        if data[i] == _RBRACE:
            return i + 1
        return -1
    return -1


@_compiled
def _context_names_ip(
    data: npt.NDArray[np.uint8], s: int, e: int, stack: npt.NDArray[np.uint8]
) -> bool:
    """Whether the context object ``data[s:e]`` has a member ``"ip"`` (True also for a key
    with an escape, which might spell it, and for anything the probe cannot follow: the
    caller then asks ``context_text``, which decodes)."""
    i = _ws(data, s + 1, e)
    while i < e and data[i] == _QUOTE:
        ke, esc = _string_end(data, i + 1, e)
        if ke < 0 or esc or (ke - i - 1 == 2 and data[i + 1] == 105 and data[i + 2] == 112):
            return True
        i = _ws(data, ke + 1, e)
        if i >= e or data[i] != _COLON:
            return True
        i = _ws(data, i + 1, e)
        if i >= e:
            return True
        c = data[i]
        if c == _QUOTE:
            j, _ = _string_end(data, i + 1, e)
            i = j + 1 if j >= 0 else -1
        elif c == _LBRACE or c == _LBRACK:
            i = _nested_end(data, i, e, stack)
        else:
            i = _scalar_end(data, i, e)
        if i < 0:
            return True
        i = _ws(data, i, e)
        if i < e and data[i] == _COMMA:
            i = _ws(data, i + 1, e)
    return False


@_compiled
def _scan(
    records: List[npt.NDArray[np.uint8]],
    counts: npt.NDArray[np.int64],
    names: npt.NDArray[np.uint8],
    name_offs: npt.NDArray[np.int64],
    time_cols: npt.NDArray[np.int64],
    context_col: int,
    starts: npt.NDArray[np.int32],
    ends: npt.NDArray[np.int32],
    kinds: npt.NDArray[np.int8],
    times: npt.NDArray[np.int64],
    ctx_ip: npt.NDArray[np.bool_],
    ctx_rest: npt.NDArray[np.int32],
    ctx_empty: npt.NDArray[np.bool_],
) -> int:
    """0 when every record's events were scanned, else a reason code (> 0)."""
    stack = np.empty(MAX_DEPTH, dtype=np.uint8)
    ev = 0
    for r in range(len(counts)):
        data = records[r]
        end = len(data)
        i = _ws(data, 0, end)
        if i >= end or data[i] != _LBRACK:
            return 1
        i = _ws(data, i + 1, end)
        k = 0
        if i < end and data[i] == _RBRACK:
            i += 1
        else:
            while True:
                if k >= counts[r] or i >= end or data[i] != _LBRACE:
                    return 2
                i = _event(data, i + 1, end, ev, names, name_offs, starts, ends, kinds, stack)
                if i < 0:
                    return 3
                # the event's bytes are still in cache: its times and context now
                for t in range(len(time_cols)):
                    f = time_cols[t]
                    kind = kinds[f, ev]
                    if kind == STRING:
                        ok, us = _time_us(data, starts[f, ev], ends[f, ev])
                        if not ok:
                            return 6
                        times[t, ev] = us
                    elif kind != ABSENT and kind != NULL:
                        return 7
                if kinds[context_col, ev] == OBJECT:
                    s, e = starts[context_col, ev], ends[context_col, ev]
                    ctx_ip[ev] = _context_names_ip(data, s, e, stack)
                    rest = _ws(data, s + 1, e)
                    ctx_rest[ev] = rest
                    ctx_empty[ev] = data[rest] == _RBRACE
                ev += 1
                k += 1
                i = _ws(data, i, end)
                if i < end and data[i] == _COMMA:
                    i = _ws(data, i + 1, end)
                    continue
                if i < end and data[i] == _RBRACK:
                    i += 1
                    break
                return 4
        if k != counts[r] or _ws(data, i, end) != end:
            return 5
    return 0


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Where each event's fields are: ``kinds``/``starts``/``ends`` are (fields, events),
    the spans within the event's record; ``times`` (time fields, events) in UTC
    microseconds where the kind is STRING; for each event's context, whether it names
    ``ip``, where its first member starts and whether it is empty. ``ok`` false: the scan
    gave up (``reason`` says where) and nothing else is meaningful."""

    ok: bool
    reason: int
    records: List[npt.NDArray[np.uint8]]
    rec_of: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.int8]
    starts: npt.NDArray[np.int32]
    ends: npt.NDArray[np.int32]
    times: npt.NDArray[np.int64]
    context_ip: npt.NDArray[np.bool_]
    context_rest: npt.NDArray[np.int32]
    context_empty: npt.NDArray[np.bool_]

    def kind(self, field: str) -> npt.NDArray[np.int8]:
        """The kinds of ``field``'s values, one per event."""
        kinds: npt.NDArray[np.int8] = self.kinds[FIELDS.index(field)]
        return kinds

    def time(self, field: str) -> npt.NDArray[np.int64]:
        """``field``'s times in UTC microseconds (0 where the kind is not STRING)."""
        times: npt.NDArray[np.int64] = self.times[TIME_FIELDS.index(field)]
        return times

    def text(self, field: str, event: int) -> bytes:
        """The bytes of ``field``'s value in ``event``."""
        f = FIELDS.index(field)
        span = self.records[int(self.rec_of[event])][self.starts[f, event] : self.ends[f, event]]
        return bytes(span)


def scan_events(arrays: list[bytes | memoryview], counts: list[int]) -> ScanResult:
    """Scan each record's JSON array of events (``counts[i]`` events in ``arrays[i]``)."""
    if any(len(a) >= 2**31 for a in arrays):
        raise ValueError("a request record of 2 GiB or more")
    views = [np.frombuffer(a, dtype=np.uint8) for a in arrays]
    for view in views:  # one numba type for all: read-only (bytes are, a bytearray not)
        view.flags.writeable = False
    records = List(views)
    counts_arr = np.asarray(counts, dtype=np.int64)
    n = int(counts_arr.sum())
    nf = len(FIELDS)
    kinds = np.zeros((nf, n), dtype=np.int8)
    starts = np.zeros((nf, n), dtype=np.int32)
    ends = np.zeros((nf, n), dtype=np.int32)
    times = np.zeros((len(TIME_FIELDS), n), dtype=np.int64)
    ctx_ip = np.zeros(n, dtype=np.bool_)
    ctx_rest = np.zeros(n, dtype=np.int32)
    ctx_empty = np.zeros(n, dtype=np.bool_)
    reason = _scan(
        records,
        counts_arr,
        _NAMES,
        _NAME_OFFS,
        _TIME_COLS,
        _CONTEXT,
        starts,
        ends,
        kinds,
        times,
        ctx_ip,
        ctx_rest,
        ctx_empty,
    )
    rec_of = np.repeat(np.arange(len(counts_arr)), counts_arr)
    return ScanResult(
        reason == 0,
        int(reason),
        records,
        rec_of,
        kinds,
        starts,
        ends,
        times,
        ctx_ip,
        ctx_rest,
        ctx_empty,
    )


@_compiled
def _gather(
    records: List[npt.NDArray[np.uint8]],
    starts: npt.NDArray[np.int32],
    ends: npt.NDArray[np.int32],
    kinds: npt.NDArray[np.int8],
    fields: npt.NDArray[np.int64],
    wanted: npt.NDArray[np.int8],
    offsets: npt.NDArray[np.int32],
    out: npt.NDArray[np.uint8],
    bases: npt.NDArray[np.int64],
    context_col: int,
    rec_of: npt.NDArray[np.int64],
    heads: npt.NDArray[np.uint8],
    head_offs: npt.NDArray[np.int64],
    ctx_rest: npt.NDArray[np.int32],
    ctx_empty: npt.NDArray[np.bool_],
) -> None:
    """Copy every field's values into ``out`` (field ``k`` from ``bases[k]``, at
    ``offsets[k]``), event by event so that each event's bytes are read while in cache.
    The context column (``fields[k] == context_col``) gets its record's head spliced in."""
    n = starts.shape[1]
    for e in range(n):
        data = records[rec_of[e]]
        for k in range(len(fields)):
            f = fields[k]
            p = bases[k] + offsets[k, e]
            if f == context_col:
                r = rec_of[e]
                h0, h1 = head_offs[r], head_offs[r + 1]
                obj = kinds[f, e] == OBJECT
                if h1 == h0 or not obj:
                    if h1 > h0:  # no context: the head closed
                        out[p : p + h1 - h0] = heads[h0:h1]
                        out[p + h1 - h0] = _RBRACE
                    elif obj:
                        out[p : p + ends[f, e] - starts[f, e]] = data[starts[f, e] : ends[f, e]]
                    continue
                out[p : p + h1 - h0] = heads[h0:h1]
                p += h1 - h0
                if not ctx_empty[e]:
                    out[p] = _COMMA
                    p += 1
                rest = ctx_rest[e]
                out[p : p + ends[f, e] - rest] = data[rest : ends[f, e]]
            elif kinds[f, e] == wanted[k]:
                out[p : p + ends[f, e] - starts[f, e]] = data[starts[f, e] : ends[f, e]]


@dataclass(frozen=True, slots=True)
class Gathered:
    """Arrow buffers of gathered columns: ``offsets[k]`` (int32) and ``data(k)`` of the
    k-th field asked for, and which events have a value (``valid[k]``)."""

    offsets: npt.NDArray[np.int32]
    valid: npt.NDArray[np.bool_]
    out: npt.NDArray[np.uint8]
    bases: npt.NDArray[np.int64]

    def data(self, k: int) -> npt.NDArray[np.uint8]:
        return self.out[self.bases[k] : self.bases[k + 1]]


def gather(
    result: ScanResult, fields: list[tuple[str, int]], heads: list[bytes | None]
) -> Gathered:
    """The values of ``fields`` (name, the kind taken: STRING or OBJECT; others are null)
    as Arrow string buffers, in one pass over the events. The ``context`` field becomes
    ``context_text``: ``heads[r]`` (``{"ip":X``, or None for a record without an address)
    replaces the ``{`` of each context of record ``r``, followed by a comma unless the
    object is empty, and an event without a context gets ``head + "}"``. Contexts that name
    ``ip`` themselves are the caller's (``context_ip``)."""
    rec_of = result.rec_of
    cols = np.array([FIELDS.index(name) for name, _ in fields], dtype=np.int64)
    wanted = np.array([kind for _, kind in fields], dtype=np.int8)
    n = result.kinds.shape[1]
    pool = [h or b"" for h in heads]
    head_len = np.fromiter(map(len, pool), dtype=np.int64, count=len(pool))
    head_offs = np.zeros(len(pool) + 1, dtype=np.int64)
    np.cumsum(head_len, out=head_offs[1:])
    lengths = np.zeros((len(fields), n), dtype=np.int64)
    valid = np.zeros((len(fields), n), dtype=np.bool_)
    for k, f in enumerate(cols.tolist()):
        kinds = result.kinds[f]
        if f == _CONTEXT:
            obj = kinds == OBJECT
            head = head_len[rec_of]
            ends = result.ends[f].astype(np.int64)
            spliced = head + (ends - result.context_rest) + ~result.context_empty
            plain = ends - result.starts[f]
            lengths[k] = np.where(obj, np.where(head > 0, spliced, plain), head + 1)
            valid[k] = obj | (head > 0)
            lengths[k][~valid[k]] = 0
        else:
            valid[k] = kinds == wanted[k]
            lengths[k] = np.where(valid[k], result.ends[f].astype(np.int64) - result.starts[f], 0)
    offsets = np.zeros((len(fields), n + 1), dtype=np.int64)
    np.cumsum(lengths, axis=1, out=offsets[:, 1:])
    bases = np.zeros(len(fields) + 1, dtype=np.int64)
    np.cumsum(offsets[:, -1], out=bases[1:])
    if offsets[:, -1].max(initial=0) >= 2**31:
        raise ValueError("a column of more than 2 GiB")
    out = np.empty(int(bases[-1]), dtype=np.uint8)
    offsets32 = offsets.astype(np.int32)
    _gather(
        result.records,
        result.starts,
        result.ends,
        result.kinds,
        cols,
        wanted,
        offsets32,
        out,
        bases,
        _CONTEXT,
        rec_of,
        np.frombuffer(b"".join(pool), dtype=np.uint8),
        head_offs,
        result.context_rest,
        result.context_empty,
    )
    return Gathered(offsets32, valid, out, bases)
