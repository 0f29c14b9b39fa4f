"""RequestHandler: JSON errors with positions, auth, limits; no input raises anything but 4xx."""

from __future__ import annotations

import base64
import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlake.bus.request_records import expand_request_record
from eventlake.collect.auth import WriteKeys
from eventlake.collect.body import HttpError
from eventlake.collect.handler import RequestHandler, RequestMeta
from eventlake.tracking_plan import CompiledPlan

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
AUTH = "Basic " + base64.b64encode(b"key:").decode()
HANDLER = RequestHandler(
    WriteKeys({"key": "web"}), CompiledPlan.allow_all(), max_batch_bytes=2000, max_event_bytes=500
)


def prepare(kind: str, body: bytes, auth: str | None = AUTH, **meta):
    return HANDLER.prepare(kind, body, RequestMeta(authorization=auth, **meta), NOW)


def status_of(kind: str, body: bytes, auth: str | None = AUTH) -> tuple[int, str]:
    with pytest.raises(HttpError) as info:
        prepare(kind, body, auth)
    return info.value.status, info.value.message


def test_malformed_json_names_line_column_and_byte() -> None:
    status, message = status_of("batch", b'{"batch": [\n {"a" 1}]}')
    assert status == 400
    assert message.startswith("malformed JSON at line 2, column 7 (byte 18)")


def test_body_shape_errors_are_400() -> None:
    assert status_of("batch", b'{"batch": 5}')[0] == 400
    assert status_of("batch", b"{}")[0] == 400
    assert status_of("batch", b"[]")[0] == 400
    assert status_of("track", b'"x"')[0] == 400


def test_auth_header_wins_over_body_key_and_failures_are_401() -> None:
    body = b'{"writeKey": "key", "userId": "u"}'
    assert prepare("identify", body, auth=None).records
    assert status_of("identify", body, auth="Basic " + base64.b64encode(b"bad:").decode()) == (
        401,
        "unknown write key",
    )
    assert status_of("identify", b'{"userId": "u"}', auth=None)[0] == 401
    assert status_of("identify", body, auth="Basic %%%")[0] == 401


def test_limits_are_413_per_body_and_per_event() -> None:
    big = msgspec.json.encode({"userId": "u", "properties": {"x": "y" * 600}})
    assert status_of("track", big)[0] == 413
    batch = msgspec.json.encode(
        {"batch": [{"type": "track", "event": "e", "userId": "u"}, {"userId": "u", "p": "y" * 600}]}
    )
    status, message = status_of("batch", batch)
    assert (status, "event #1 of the batch" in message) == (413, True)


def test_unknown_kind_is_404() -> None:
    assert status_of("everything", b"{}")[0] == 404


def test_meta_is_passed_to_the_records() -> None:
    batch = prepare("page", b'{"userId": "u"}', host="h", user_agent="ua", ip="1.2.3.4")
    (request,) = batch.records  # the request's metadata once, in one request record
    record = msgspec.json.decode(expand_request_record(request).records[0])
    assert (record["host"], record["user_agent"], record["ip"], record["source"]) == (
        "h",
        "ua",
        "1.2.3.4",
        "web",
    )


@given(
    kind=st.sampled_from(["batch", "track", "import", "alias"]),
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda v: msgspec.json.encode({"batch": v}),
            st.lists(
                st.dictionaries(
                    st.sampled_from(["type", "userId", "event", "timestamp"]),
                    st.one_of(st.text(max_size=10), st.integers(), st.none()),
                ),
                max_size=5,
            ),
        ),
    ),
)
@settings(max_examples=300, deadline=None)
def test_any_body_gives_a_batch_or_a_4xx(kind: str, body: bytes) -> None:
    try:
        batch = prepare(kind, body)
    except HttpError as exc:
        assert 400 <= exc.status < 500
    else:
        assert batch.records or batch.quarantined or body.find(b'"batch"') >= 0


def test_a_write_key_in_the_body_is_not_kept_in_the_quarantine() -> None:
    batch = prepare("track", b'{"writeKey": "key", "anonymousId": "a"}', auth=None)
    (record,) = batch.quarantine_records
    assert b"writeKey" not in record and b'"key"' not in record
