"""Every collector endpoint over a real socket, read back from the real local bus."""

from __future__ import annotations

import gzip
import json

import msgspec
import pytest

from eventlake.lake import EVENT_SCHEMA

from .conftest import WRITE_KEY, Collector

pytestmark = pytest.mark.integration

AUTH = (WRITE_KEY, "")
COLUMNS = [f.name for f in EVENT_SCHEMA if not f.name.startswith("bus_")]

SINGLE = {
    "track": {"event": "Level Started", "userId": "u1", "properties": {"level": 2}},
    "identify": {"userId": "u1", "traits": {"email": "a@example.com", "platform": "ios"}},
    "page": {"anonymousId": "a1", "name": "Home", "properties": {"path": "/"}},
    "screen": {"userId": "u1", "name": "Shop"},
    "group": {"userId": "u1", "groupId": "g1", "traits": {"name": "Knights"}},
    "alias": {"userId": "u1", "previousId": "a1"},
}


@pytest.mark.parametrize("kind", sorted(SINGLE))
def test_single_event_endpoint_makes_the_event_durable(collector: Collector, kind: str) -> None:
    body = dict(SINGLE[kind], messageId=f"m-{kind}", context={"locale": "en-US"})
    with collector.client() as client:
        reply = client.post(
            f"/v1/{kind}",
            json=body,
            auth=AUTH,
            headers={"User-Agent": "game/1.0", "Host": "isp.net"},
        )
    assert reply.status_code == 200
    assert reply.json() == {"success": True}
    (record,) = collector.read("events")
    assert list(record) == COLUMNS
    assert record["type"] == kind
    assert record["message_id"] == f"m-{kind}"
    assert record["source"] == "web"
    assert record["host"] == "isp.net"
    assert record["user_agent"] == "game/1.0"
    assert record["ip"] == "127.0.0.1"
    assert json.loads(record["context"]) == {"ip": "127.0.0.1", "locale": "en-US"}
    assert record["received_at"].endswith("Z")


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/import", "/v1/b"])
def test_batch_endpoints_accept_a_batch_with_every_call_type(
    collector: Collector, path: str
) -> None:
    batch = [dict(body, type=kind, messageId=f"b-{kind}") for kind, body in SINGLE.items()]
    with collector.client() as client:
        reply = client.post(
            path, json={"batch": batch, "sentAt": "2026-01-01T00:00:00Z"}, auth=AUTH
        )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"success": True}
    records = collector.read("events")
    assert sorted(r["message_id"] for r in records) == sorted(f"b-{k}" for k in SINGLE)
    assert {r["sent_at"] for r in records} == {"2026-01-01T00:00:00.000000Z"}


def test_short_paths_of_analytics_js_map_to_their_call_type(collector: Collector) -> None:
    with collector.client() as client:
        assert client.post("/v1/t", json=SINGLE["track"], auth=AUTH).status_code == 200
        assert client.post("/v1/p", json=SINGLE["page"], auth=AUTH).status_code == 200
    assert sorted(r["type"] for r in collector.read("events")) == ["page", "track"]


def test_write_key_in_the_body_authenticates_and_names_the_source(collector: Collector) -> None:
    with collector.client() as client:
        single = client.post("/v1/track", json=dict(SINGLE["track"], writeKey="other-key"))
        batch = client.post(
            "/v1/batch",
            json={"writeKey": "other-key", "batch": [dict(SINGLE["screen"], type="screen")]},
        )
    assert (single.status_code, batch.status_code) == (200, 200)
    assert {r["source"] for r in collector.read("events")} == {"ios"}


def test_gzip_body_is_accepted(collector: Collector) -> None:
    raw = msgspec.json.encode({"batch": [dict(SINGLE["track"], type="track")] * 3})
    with collector.client() as client:
        reply = client.post(
            "/v1/batch",
            content=gzip.compress(raw),
            auth=AUTH,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    assert reply.status_code == 200
    assert len(collector.read("events")) == 3


def test_clock_skew_is_corrected_against_received_at(collector: Collector) -> None:
    # The client clock runs one hour ahead: the event happened 10 s before it was sent.
    event = dict(
        SINGLE["track"],
        timestamp="2030-01-01T01:00:00+01:00",
        sentAt="2030-01-01T00:00:10Z",
    )
    with collector.client() as client:
        assert client.post("/v1/track", json=event, auth=AUTH).status_code == 200
    (record,) = collector.read("events")
    from eventlake.spec import parse_timestamp

    received = parse_timestamp(record["received_at"])
    assert record["original_timestamp"] == "2030-01-01T00:00:00.000000Z"
    assert (received - parse_timestamp(record["timestamp"])).total_seconds() == 10


def test_message_id_is_filled_when_missing(collector: Collector) -> None:
    with collector.client() as client:
        client.post("/v1/identify", json={"userId": "u9"}, auth=AUTH)
    (record,) = collector.read("events")
    assert len(record["message_id"]) == 36


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    start_collector,
) -> None:
    collector = start_collector(trusted_proxies=["127.0.0.0/8"])
    headers = {"X-Forwarded-For": "198.51.100.7, 127.0.0.5"}
    with collector.client() as client:
        client.post("/v1/track", json=SINGLE["track"], auth=AUTH, headers=headers)
    (record,) = collector.read("events")
    assert record["ip"] == "198.51.100.7"


def test_forwarded_for_from_an_untrusted_peer_is_not_believed(collector: Collector) -> None:
    with collector.client() as client:
        client.post(
            "/v1/track", json=SINGLE["track"], auth=AUTH, headers={"X-Forwarded-For": "1.2.3.4"}
        )
    assert collector.read("events")[0]["ip"] == "127.0.0.1"


def test_health_endpoint(collector: Collector) -> None:
    with collector.client() as client:
        reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json()["ok"] is True


def test_cors_preflight_is_answered(collector: Collector) -> None:
    with collector.client() as client:
        reply = client.options("/v1/track")
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == "*"
