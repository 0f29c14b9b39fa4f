"""The compiled scan of request records (``land/scan.py``) against the decoding route.

The scan route must give the same rows as the decoding route wherever it vouches for a
batch, and give up (so the decoding route runs) wherever it does not.
"""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlake.bus.request_records import RequestHeader, encode_request_record
from eventlake.land import expand as expand_module
from eventlake.land import scan
from eventlake.land.expand import Fallback, RequestColumns, Segment
from eventlake.spec import parse_timestamp

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _scan_one(text: str) -> scan.ScanResult:
    body = ('[{"type":"track","timestamp":' + json.dumps(text) + "}]").encode()
    return scan.scan_events([body], [1])


def _us(value: dt.datetime) -> int:
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


# -- timestamps -------------------------------------------------------------------------

_spellings = st.tuples(
    st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 12, 30)),
    st.sampled_from(["T", "t", " "]),
    st.integers(0, 6),  # fraction digits
    st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59"]),
)


@settings(max_examples=400, deadline=None)
@given(_spellings)
def test_property_the_scan_reads_times_as_msgspec_does(spelling) -> None:
    when, sep, digits, zone = spelling
    text = when.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += "." + f"{when.microsecond:06d}"[:digits]
    text += zone
    found = _scan_one(text)
    assert found.ok, (text, found.reason)
    assert int(found.time("timestamp")[0]) == _us(parse_timestamp(text))


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00.1234567Z",  # more than microseconds: msgspec rounds
        "2026-01-01T00:00:60Z",
        "2026-02-29T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00Z",
        "2026-01-01",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00ZZ",
        "2026-01-01X00:00:00Z",
        "２０２６-01-01T00:00:00Z",
    ],
)
def test_the_scan_gives_up_on_any_other_spelling(text: str) -> None:
    assert not _scan_one(text).ok


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789-:.TZ+ tz", min_size=15, max_size=32))
def test_property_a_time_the_scan_takes_is_the_time_msgspec_reads(text: str) -> None:
    found = _scan_one(text)
    if found.ok:
        assert int(found.time("timestamp")[0]) == _us(parse_timestamp(text))


# -- whole records: the scan route equals the decoding route ------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_objects = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(["ip", "os", "é", 'k"', ""]), _values, max_size=3)
)
# mostly what the scan takes, sometimes what only decoding can judge (an escape, a number)
_ids = st.sampled_from(
    ["u1", "ünï", "u2", "u3", "u1", "u4", "u5", "u6", "u7", "u8"] + [None, "", 'a"b', 7]
)
_events = st.fixed_dictionaries(
    {
        "messageId": st.sampled_from(["m1", "m2", "é3", "m4", "m5", "m6", "m7", "m8", "m9", 8]),
        "type": st.sampled_from(["track"] * 12 + ["identify", "page", "group", "alias", "x"]),
        "userId": _ids,
        "anonymousId": st.sampled_from(["a1", "a1", "a1", None]),
        "event": st.sampled_from(["Level Completed", "Ünï"] * 4 + [""]),
    },
    optional={
        "name": st.one_of(st.none(), st.just("Home")),
        "groupId": st.sampled_from(["g1"] * 5 + [""]),
        "previousId": st.sampled_from(["a1"] * 5 + [""]),
        "timestamp": st.sampled_from(["2026-03-04T01:02:03Z", "2026-03-04 01:02:03.5+05:30"]),
        "originalTimestamp": st.sampled_from(
            ["2026-03-04T01:02:00Z"] * 5 + ["1800-01-01T00:00:00Z"]
        ),
        "sentAt": st.sampled_from(["2026-03-04T01:02:04.25Z", "2026-03-04T01:02:04.25"]),
        "properties": st.one_of(*[_objects] * 8, _scalars),
        "traits": _objects,
        "context": _objects,
        "integrations": _objects,
        "extra": _values,
    },
)
_layouts = st.sampled_from(
    [
        {"separators": (",", ":"), "ensure_ascii": False},
        {"separators": (", ", ": "), "ensure_ascii": False},
        {"indent": 2, "ensure_ascii": False},
        {"indent": "\t", "ensure_ascii": False},
        {"separators": (",", ":")},  # "ü" as an escape: decoding decides
    ]
)


def _text(event: dict[str, object], layout: dict[str, object], duplicate: bool) -> bytes:
    text = json.dumps(event, **layout)  # type: ignore[arg-type]
    if duplicate and len(event) > 1:  # a repeated key: the last one counts in both routes
        text = text[:-1].rstrip() + ', "userId": "dup"}'
    return text.encode()


def _parts(values: list[bytes], *, scan_route: bool) -> list[tuple[str, object]]:
    """What a route makes of ``values``: whether each was added, then each row (with its
    offset) and each fallback, in order (how rows are split into segments may differ)."""
    cols = RequestColumns(scan=scan_route)
    added = [cols.add(v, offset=k) for k, v in enumerate(values)]
    out: list[tuple[str, object]] = [("added", added)]
    for part in cols.flush():
        if isinstance(part, Segment):
            rows = part.table.to_pylist()
            out += [("row", (r, o)) for r, o in zip(rows, part.offsets.tolist(), strict=True)]
        else:
            assert isinstance(part, Fallback)
            out.append(("fallback", part.offset))
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(_events, _layouts, st.booleans()), min_size=1, max_size=3),
            st.sampled_from([None, "192.0.2.1", 'we"ird']),
            st.sampled_from([None, "2026-03-04T01:02:05Z"]),
        ),
        min_size=1,
        max_size=2,
    )
)
def test_property_the_scan_route_equals_the_decoding_route(records) -> None:
    """About a quarter of these batches take the scan route whole (counted while writing
    the test); the others show that where it gives up, the rows are still the same."""
    values = []
    for events, ip, sent_at in records:
        header = RequestHeader(
            received_at="2026-03-04T01:02:06.000001Z", count=len(events), ip=ip, sent_at=sent_at
        )
        raws = [msgspec.Raw(_text(e, layout, dup)) for e, layout, dup in events]
        values.append(encode_request_record(header, raws))
    assert _parts(values, scan_route=True) == _parts(values, scan_route=False)


def test_the_scan_takes_blanks_duplicates_unknown_keys_and_nested_escapes(monkeypatch) -> None:
    """What the collector commonly passes on, formatted every which way: the scan vouches
    for it (the decoding route never runs) and gives the decoding route's rows."""
    events = [
        b'{ "type" : "track" ,\n "event":"Level Completed", "userId":"u1", "messageId":"m1",'
        b' "properties": {"name":"caf\\u00e9 \\"x\\"", "n":[1.50, -2e3, true, null]},'
        b' "extra": [{"a":{}}], "timestamp": "2026-03-04 01:02:03.5+05:30" }',
        b'{"type":"identify","userId":"u2","anonymousId":"a","messageId":"m2","traits":{},'
        b'"context":{ },"userId":"u3","originalTimestamp":"2026-03-04T01:02:03","sentAt":null}',
        b'{"type":"page","anonymousId":"a2","messageId":"m3","name":"Home",'
        b'"context":{"ip":"203.0.113.9","os":{"ip":1}},"integrations":{"All":false}}',
        b'{"type":"alias","userId":"u4","previousId":"a2","messageId":"m4","context":null,'
        b'"properties":null}',
    ]
    header = RequestHeader(received_at="2026-03-04T01:02:06Z", count=4, ip="192.0.2.1")
    value = encode_request_record(header, [msgspec.Raw(e) for e in events])
    want = _parts([value], scan_route=False)
    monkeypatch.setattr(expand_module, "_build", None)  # the decoding route would fail
    got = _parts([value], scan_route=True)
    assert got == want
    rows = [row for kind, (row, _) in got[1:]]  # type: ignore[misc]
    assert rows[0]["properties"] == '{"name":"caf\\u00e9 \\"x\\"", "n":[1.50, -2e3, true, null]}'
    assert rows[1]["user_id"] == "u3" and rows[1]["context"] == '{"ip":"192.0.2.1"}'
    assert rows[2]["context"] == '{"ip":"203.0.113.9","os":{"ip":1}}'
    assert rows[3]["context"] == '{"ip":"192.0.2.1"}' and rows[3]["properties"] is None


@pytest.mark.parametrize(
    ("body", "count"),
    [
        (b'[{"type":"track"}', 1),  # the array never closes
        (b'[{"type":"track"},{"type":"track"}]', 1),  # more events than the header says
        (b'[{"type":"track"}]', 2),
        (b'[{"type":"track","properties":{"a":[1}]}]', 1),  # brackets that do not match
        (b'[{"type":"track","properties":{"a":"\x01"}}]', 1),  # a raw control character
        (b'[{"type":"track","properties":{"a":nul}}]', 1),
        (b'[{"ty\\u0070e":"track"}]', 1),  # an escaped key might name a field
        (b'[{"type":"track"} x]', 1),
        (b'[{"type":"track","p":' + b"[" * 2000 + b"]" * 2000 + b"}]", 1),  # deeper than MAX_DEPTH
    ],
)
def test_the_scan_gives_up_on_what_it_does_not_vouch_for(body: bytes, count: int) -> None:
    assert not scan.scan_events([body], [count]).ok


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.integers(0, 3))
def test_property_the_scan_never_reads_outside_a_record(tail: bytes, count: int) -> None:
    """Arbitrary bytes (a damaged record): the scan answers, it does not crash."""
    body = b'[{"type":"track","context":{"a' + tail
    found = scan.scan_events([body, tail], [count, count])
    assert found.ok in (True, False)
    assert found.kinds.shape == (len(scan.FIELDS), 2 * count)
    assert np.all(found.ends <= max(len(body), len(tail)))


def test_one_odd_record_sends_only_its_chunk_down_the_decoding_route(monkeypatch) -> None:
    """An integer userId (valid Segment, which the scan leaves to decoding and decoding
    to ``prepare_events``) in one record of a large batch: the other chunks are still
    scanned, and the rows and the fallback are the decoding route's, in order."""
    n_records = 3 * expand_module.SCAN_CHUNK

    def record(k: int) -> bytes:
        user = b"7" if k == 100 else b'"u%d"' % k
        events = [
            msgspec.Raw(
                b'{"type":"track","event":"E","userId":%s,"messageId":"m%d-%d"}' % (user, k, i)
            )
            for i in range(3)
        ]
        header = RequestHeader(received_at="2026-03-04T01:02:06Z", count=3, ip="192.0.2.1")
        return encode_request_record(header, events)

    values = [record(k) for k in range(n_records)]
    want = _parts(values, scan_route=False)
    decoded: list[int] = []
    build = expand_module._build

    def counting(records, envs):  # type: ignore[no-untyped-def]
        decoded.append(len(records))
        return build(records, envs)

    monkeypatch.setattr(expand_module, "_build", counting)
    got = _parts(values, scan_route=True)
    assert got == want
    # only the chunk holding record 100 was decoded (whole, then its records one by one)
    assert max(decoded) == expand_module.SCAN_CHUNK
    assert ("fallback", 100) in got
    rows = [item[0] for kind, item in got[1:] if kind == "row"]  # type: ignore[index]
    assert len(rows) == 3 * (n_records - 1)
    assert rows[299]["message_id"] == "m99-2" and rows[300]["message_id"] == "m101-0"


def test_without_a_writable_cache_the_scan_is_compiled_per_process(monkeypatch, caplog) -> None:
    """A read-only installation with no writable home: numba finds no cache locator and
    refuses ``cache=True`` (a RuntimeError at decoration). The scan is then compiled
    without a cache instead of failing at import. (The locator's refusal is simulated: as
    root, every folder here is writable.)"""
    real_njit = scan.nb.njit
    asked: list[dict[str, object]] = []

    def njit(*args, **options):  # type: ignore[no-untyped-def]
        if args:  # numba's own use while compiling
            return real_njit(*args, **options)
        asked.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return real_njit(**options)

    monkeypatch.setattr(scan.nb, "njit", njit)

    def double(x: int) -> int:
        return 2 * x

    compiled = scan._compiled(double)
    assert compiled(21) == 42
    assert asked == [{"nogil": True, "cache": True}, {"nogil": True}]
    assert "compiled per process" in caplog.text
