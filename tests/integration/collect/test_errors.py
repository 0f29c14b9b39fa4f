"""Every bad input gets its status code and a reason; nothing is dropped; no input gives 5xx."""

from __future__ import annotations

import gzip
import json

import msgspec
import pytest

from .conftest import WRITE_KEY, Collector

pytestmark = pytest.mark.integration

AUTH = (WRITE_KEY, "")
GOOD = {"type": "track", "event": "Level Started", "userId": "u1", "properties": {"level": 1}}


def test_malformed_json_is_400_naming_the_position(collector: Collector) -> None:
    body = b'{"batch": [\n  {"type": "track",, "userId": "u"}\n]}'
    with collector.client() as client:
        reply = client.post("/v1/batch", content=body, auth=AUTH)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_json"
    assert "line 2, column 20 (byte 31)" in reply.json()["message"]
    assert reply.json()["success"] is False


def test_truncated_json_is_400(collector: Collector) -> None:
    with collector.client() as client:
        reply = client.post("/v1/track", content=b'{"userId": "u', auth=AUTH)
    assert reply.status_code == 400
    assert "ends too early" in reply.json()["message"]


def test_a_batch_that_is_not_an_array_is_400(collector: Collector) -> None:
    with collector.client() as client:
        reply = client.post("/v1/batch", json={"batch": {"a": 1}}, auth=AUTH)
    assert reply.status_code == 400
    assert "`batch`" in reply.json()["message"]


@pytest.mark.parametrize(
    ("auth", "body_key", "message"),
    [
        (None, None, "missing write key"),
        (("wrong", ""), None, "unknown write key"),
        (None, "wrong", "unknown write key"),
    ],
)
def test_a_missing_or_wrong_write_key_is_401(
    collector: Collector, auth, body_key, message: str
) -> None:
    body = dict(GOOD, writeKey=body_key) if body_key else GOOD
    with collector.client() as client:
        reply = client.post("/v1/track", json=body, auth=auth)
    assert reply.status_code == 401
    assert message in reply.json()["message"]
    assert collector.read("events") == []


def test_a_body_over_the_batch_limit_is_413_naming_the_limit(collector: Collector) -> None:
    events = [dict(GOOD, properties={"level": 1, "pad": "x" * 20_000})] * 30  # ~600 KB
    with collector.client() as client:
        reply = client.post("/v1/batch", json={"batch": events}, auth=AUTH)
    assert reply.status_code == 413
    assert "512000-byte limit (collect.max_batch_bytes)" in reply.json()["message"]


def test_an_event_over_32_kb_is_413_naming_the_limit(collector: Collector) -> None:
    big = dict(GOOD, properties={"level": 1, "pad": "x" * 33_000})
    with collector.client() as client:
        single = client.post("/v1/track", json=big, auth=AUTH)
        batch = client.post("/v1/batch", json={"batch": [GOOD, big]}, auth=AUTH)
    assert single.status_code == batch.status_code == 413
    assert "collect.max_event_bytes" in single.json()["message"]
    assert "event #1 of the batch" in batch.json()["message"]
    assert collector.read("events") == []


def test_a_gzip_bomb_is_413_on_its_decompressed_size(collector: Collector) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 5_000_000 + b"]}")
    with collector.client() as client:
        reply = client.post(
            "/v1/batch", content=bomb, auth=AUTH, headers={"Content-Encoding": "gzip"}
        )
    assert len(bomb) < 512_000
    assert reply.status_code == 413
    assert "decompressed" in reply.json()["message"]


def test_corrupt_gzip_is_400_and_unknown_encoding_is_415(collector: Collector) -> None:
    with collector.client() as client:
        corrupt = client.post(
            "/v1/track", content=b"not gzip", auth=AUTH, headers={"Content-Encoding": "gzip"}
        )
        unknown = client.post(
            "/v1/track", content=b"{}", auth=AUTH, headers={"Content-Encoding": "br"}
        )
    assert corrupt.status_code == 400
    assert unknown.status_code == 415


def test_unknown_endpoint_is_404_and_wrong_method_is_405(collector: Collector) -> None:
    with collector.client() as client:
        assert client.post("/v1/nope", json=GOOD, auth=AUTH).status_code == 404
        assert client.get("/v1/track").status_code == 405


def test_bad_events_are_quarantined_with_reasons_and_good_ones_kept(
    collector: Collector,
) -> None:
    batch = [
        GOOD,
        {"type": "track", "event": "Level Started", "properties": {"level": 1}},
        {"type": "track", "event": "Level Started", "userId": "u", "properties": {"level": "x"}},
        {"type": "explode", "userId": "u"},
        {"type": "track", "userId": ["not", "an", "id"], "event": "Level Started"},
        {"type": "track", "userId": "u"},
        "just a string",
        {
            "type": "track",
            "event": "Item Purchased",
            "userId": "u",
            "properties": {"item": "dagger", "price": 3, "currency": "USD"},
        },
    ]
    with collector.client() as client:
        reply = client.post("/v1/batch", json={"batch": batch}, auth=AUTH)
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is True
    codes = {q["index"]: q["code"] for q in body["quarantined"]}
    assert codes == {
        1: "missing_id",
        2: "plan_violation",
        3: "unknown_type",
        4: "invalid_event",
        5: "missing_field",
        6: "invalid_event",
        7: "plan_violation",
    }
    reasons = {q["index"]: q["reason"] for q in body["quarantined"]}
    assert "properties.level" in reasons[2]
    assert "'dagger'" in reasons[7] and "allowed" in reasons[7]
    assert len(collector.read("events")) == 1
    quarantine = collector.read("quarantine")
    assert len(quarantine) == 7
    assert {q["reason_code"] for q in quarantine} == set(codes.values())
    # raw is the event exactly as it arrived (the bus order across partitions is not)
    raws = sorted(json.dumps(json.loads(q["raw"]), sort_keys=True) for q in quarantine)
    assert raws == sorted(json.dumps(e, sort_keys=True) for e in batch[1:])


def test_a_single_endpoint_body_that_is_not_an_object_is_400(collector: Collector) -> None:
    with collector.client() as client:
        reply = client.post("/v1/track", json=[1, 2], auth=AUTH)
    assert reply.status_code == 400


def test_bus_refusing_records_is_503_with_retry_after(start_collector) -> None:
    collector = start_collector(bus={"max_bytes": 0})
    with collector.client() as client:
        reply = client.post("/v1/track", json=GOOD, auth=AUTH)
    assert reply.status_code == 503
    assert int(reply.headers["retry-after"]) >= 1
    assert reply.json()["code"] == "bus_full"


def test_random_garbage_bodies_never_give_5xx(collector: Collector) -> None:
    import random

    rng = random.Random(7)
    seeds = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b'{"batch": null}',
        b'{"batch": [null, 1, {}]}',
        b'{"batch": [{"type": "track", "userId": "u", "event": "e", "timestamp": "nope"}]}',
        b'{"batch": [{"type":"track","userId":"u","event":"e","sentAt":"9999-12-31T23:59:59Z",'
        b'"timestamp":"0001-01-01T00:00:00Z"}]}',
        b'{"userId": "\xff\xfe"}',
        msgspec.json.encode({"batch": [GOOD] * 3}),
    ]
    bodies = list(seeds)
    for _ in range(40):
        seed = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            if seed:
                seed[rng.randrange(len(seed))] = rng.randrange(256)
        bodies.append(bytes(seed))
    with collector.client() as client:
        for body in bodies:
            for path in ("/v1/batch", "/v1/track"):
                reply = client.post(path, content=body, auth=AUTH)
                assert reply.status_code < 500, (path, body, reply.text)


def test_a_full_in_flight_buffer_is_503_with_retry_after(start_collector) -> None:
    import fcntl
    import os
    import threading

    # one such request is a ~260-byte request record: one fits, two do not
    collector = start_collector(max_inflight_bytes=400)
    with collector.client() as client:
        assert client.post("/v1/track", json=GOOD, auth=AUTH).status_code == 200
    bus = collector.settings.resolve(collector.settings.bus.path)
    locks = []
    for lock in sorted((bus / "topics" / "events").glob("*/.lock")):
        fd = os.open(lock, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)  # as if another process were appending forever
        locks.append(fd)
    first: dict[str, int] = {}

    def send_first() -> None:
        with collector.client() as client:
            first["status"] = client.post("/v1/track", json=GOOD, auth=AUTH).status_code

    sender = threading.Thread(target=send_first)
    sender.start()
    try:
        with collector.client() as client:
            for _ in range(100):  # until the first request is waiting for the bus
                if client.get("/healthz").json()["inflight_bytes"]:
                    break
                threading.Event().wait(0.02)
            reply = client.post("/v1/track", json=GOOD, auth=AUTH)
        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "1"
        assert "collect.max_inflight_bytes" in reply.json()["message"]
    finally:
        for fd in locks:
            os.close(fd)  # closing releases the flock
        sender.join(10)
    assert first["status"] == 200


def test_a_reply_lists_at_most_100_quarantined_events_and_their_total(
    collector: Collector,
) -> None:
    batch = [{"type": "track", "event": "E"}] * 150 + [GOOD]
    with collector.client() as client:
        reply = client.post("/v1/batch", json={"batch": batch}, auth=AUTH)
    body = reply.json()
    assert reply.status_code == 200
    assert len(body["quarantined"]) == 100
    assert body["quarantinedTotal"] == 150
    assert len(collector.read("quarantine")) == 150
    assert len(collector.read("events")) == 1


def test_a_client_leaving_mid_body_stores_nothing(collector: Collector) -> None:
    import base64
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(collector.url)
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    body = msgspec.json.encode({"batch": [GOOD] * 10})
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            f"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
    with collector.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/batch", json={"batch": [GOOD]}, auth=AUTH).status_code == 200
    assert len(collector.read("events")) == 1
