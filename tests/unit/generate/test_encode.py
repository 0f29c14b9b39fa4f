"""The vectorised bus encoder agrees with eventlake.spec.prepare_events, event for event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import numpy as np
import pytest

from eventlake.generate import BusEncoder, WorldConfig, generate, segment_event
from eventlake.generate import catalog as C
from eventlake.generate.text import iso_timestamps
from eventlake.spec import load_tracking_plan
from eventlake.tracking_plan import parse_tracking_plan

PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


@pytest.fixture(scope="module")
def world_frame():
    return generate(WorldConfig(users=300, days=10, start=dt.date(2026, 2, 20), seed=3))


def _reference(encoder: BusEncoder, frame, rows) -> tuple[list[dict], list[dict]]:
    events, quarantine = [], []
    for i in rows:
        batch = encoder.prepare(frame, int(i))
        events += [msgspec.json.decode(r) for r in batch.records]
        quarantine += [msgspec.json.decode(r) for r in batch.quarantine_records]
    return events, quarantine


def _check_agreement(encoder: BusEncoder, frame, rows) -> None:
    chunk = encoder.encode(frame, rows)
    events, quarantine = _reference(encoder, frame, rows)
    assert [msgspec.json.decode(v) for v in chunk.values] == events
    assert [msgspec.json.decode(v) for v in chunk.quarantine_values] == quarantine
    ref_keys = [(e["user_id"] or e["anonymous_id"]).encode() for e in events]
    assert chunk.keys == ref_keys


def test_fast_records_equal_the_collectors(world_frame) -> None:
    world, frame = world_frame
    encoder = BusEncoder(world, source="game", plan=load_tracking_plan(PLAN))
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(frame), 4000, replace=False))
    # every head and every plan-breaking variant is in the sample
    rows = np.union1d(rows, [np.flatnonzero(frame.head == h)[0] for h in range(len(C.HEADS))])
    rows = np.union1d(rows, np.flatnonzero(frame.bad > 0))
    _check_agreement(encoder, frame, rows)


def test_a_stricter_plan_quarantines_the_same_events(world_frame) -> None:
    world, frame = world_frame
    strict = parse_tracking_plan(
        PLAN.read_text()
        .replace("bow, armor, gems_pack", "bow, armor")
        .replace("unplanned_events: allow", "unplanned_events: quarantine")
    )
    encoder = BusEncoder(world, source="game", plan=strict)
    rows = np.arange(0, len(frame), 7)
    chunk = encoder.encode(frame, rows)
    # the generator's own plan-breaking events, and now every gems pack too
    assert len(chunk.quarantine_values) > (frame.bad[rows] > 0).sum()
    raws = [msgspec.json.decode(msgspec.json.decode(q)["raw"]) for q in chunk.quarantine_values]
    assert any(r.get("properties", {}).get("item") == "gems_pack" for r in raws)
    _check_agreement(encoder, frame, rows[:3000])


def test_no_plan_accepts_every_well_formed_event(world_frame) -> None:
    world, frame = world_frame
    encoder = BusEncoder(world, source="game", plan=None)
    rows = np.arange(len(frame))
    chunk = encoder.encode(frame, rows)
    assert len(chunk.values) == len(frame) and not chunk.quarantine_values


def test_iso_timestamps_match_datetime() -> None:
    rng = np.random.default_rng(1)
    us = np.concatenate(
        [
            rng.integers(0, 4_102_444_800_000_000, 2000),  # 1970 .. 2100
            np.array([0, 951_782_400_000_000, 4_107_542_399_999_999]),  # 2000-02-29, 2100
        ]
    )
    text = [bytes(r).decode() for r in iso_timestamps(us)]
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    want = [
        (epoch + dt.timedelta(microseconds=int(u))).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for u in us
    ]
    assert text == want


def test_segment_event_is_a_valid_envelope(world_frame) -> None:
    world, frame = world_frame
    i = int(np.flatnonzero(frame.head == C.H_PURCHASE)[0])
    event = segment_event(world, frame, i)
    assert event["type"] == "track" and event["event"] == "Item Purchased"
    assert set(event["properties"]) == {"item", "price", "currency", "quantity"}
    assert event["context"]["os"]["name"] in ("iOS", "Android", "Web")
    assert event["context"]["location"]["country"]
    assert "sentAt" in event and "sentAt" not in segment_event(world, frame, i, sent_at=False)


def test_arrow_records_hold_the_same_events_as_json_records(world_frame) -> None:
    from eventlake.bus.records import record_events
    from eventlake.generate.arrow import ArrowEncoder

    world, frame = world_frame
    encoder = BusEncoder(world, source="game", plan=load_tracking_plan(PLAN))
    rows = np.arange(len(frame), dtype=np.int64)
    arrow = ArrowEncoder(encoder, partitions=4).encode(frame, rows)
    json_chunk = encoder.encode(frame, rows)

    def order(e: dict) -> tuple[str, str]:
        return e["message_id"], e["received_at"]

    from_arrow = sorted((e for v in arrow.values for e in record_events(v)), key=order)
    from_json = sorted((msgspec.json.decode(v) for v in json_chunk.values), key=order)
    assert from_arrow == from_json
    assert arrow.quarantine_values == json_chunk.quarantine_values
    # one Arrow record per partition, keyed by a key that hashes to that partition
    assert len(arrow.values) <= 4  # every plan-breaking row went to quarantine
    import zlib

    for value, key in zip(arrow.values, arrow.keys, strict=True):
        users = {(e["user_id"] or e["anonymous_id"]) for e in record_events(value)}
        assert {zlib.crc32(u.encode()) % 4 for u in users} == {zlib.crc32(key) % 4}
