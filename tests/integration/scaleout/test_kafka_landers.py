"""Two landers in one Kafka consumer group; one is killed -9 mid-batch; exactly once holds.

A real Kafka-protocol broker (tansu, ``kafka_broker`` fixture), two lander *processes* in
one group sharing a lake, a producer appending while they land. Once both have landed
something, lander A is paused inside a batch (a partition's lake commit done, its bus
offsets not committed, the batch's other partitions maybe in flight) and killed with
SIGKILL. Lander B is given A's partitions by the group and resumes them from the lake's
commit records. Every event the producer got an acknowledgement for is in the lake exactly
once (read through the commit records, as any eventlake reader does).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from eventlake.bus import EVENTS, open_producer
from eventlake.config import load_config
from eventlake.lake import open_lake

pytestmark = pytest.mark.integration

LANDER = Path(__file__).with_name("lander_proc.py")


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _lake_ids(lake_root: Path) -> Counter[str]:
    lake = open_lake(str(lake_root))
    ids: Counter[str] = Counter()
    for record in lake.commits("events"):
        for f in record.files:
            if f.path.startswith("events/"):
                table = pq.read_table(lake.path(f.path), columns=["message_id"])
                ids.update(table.column("message_id").to_pylist())
    return ids


def test_two_landers_kill9_one_mid_batch_exactly_once(
    kafka_broker: str, tmp_path: Path, so: SimpleNamespace
) -> None:
    tag = uuid.uuid4().hex[:8]
    (tmp_path / "eventlake.toml").write_text(
        f"""
[spec]
tracking_plan = ""
[bus]
backend = "kafka"
bootstrap_servers = "{kafka_broker}"
topic = "ev-{tag}"
quarantine_topic = "q-{tag}"
partitions = 4
[lake]
path = "lake"
[land]
consumer_group = "landers-{tag}"
max_records = 60
max_age_seconds = 0.3
"""
    )
    settings = load_config(tmp_path / "eventlake.toml")
    from eventlake.bus.kafka import ensure_topics

    ensure_topics(settings.bus)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(LANDER), str(tmp_path / "eventlake.toml"), str(tmp_path), name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"{name}.err", "wb"),  # noqa: SIM115
        )
        for name in ("a", "b")
    }
    acked: list[str] = []
    producing = threading.Event()
    producing.set()

    def produce() -> None:
        producer = open_producer(settings)
        try:
            day = dt.date(2026, 11, 20)
            u = 0
            while producing.is_set():
                rows = so.lakedata.game_events(
                    day + dt.timedelta(days=u % 3), 10, first_user=u, tag=f"{tag}-"
                )
                values = [so.lakedata.bus_value(r) for r in rows]
                keys = [str(r["user_id"]).encode() for r in rows]
                producer.append(EVENTS, values, keys)  # returns once acknowledged
                acked.extend(str(r["message_id"]) for r in rows)
                u += 10
                time.sleep(0.05)
        finally:
            producer.close()

    producer_thread = threading.Thread(target=produce, daemon=True)
    try:
        _wait(
            lambda: all((tmp_path / f"{n}.started").exists() for n in procs),
            60,
            "both landers to start",
        )
        producer_thread.start()
        # both members of the group land something: the partitions are shared
        _wait(
            lambda: (
                all((tmp_path / f"{n}.log").exists() for n in procs)
                and all(p.poll() is None for p in procs.values())
            ),
            90,
            "both landers to land a batch",
        )
        (tmp_path / "a.pause").write_text("")
        _wait(lambda: (tmp_path / "a.paused").exists(), 60, "lander a to pause mid-batch")
        os.kill(procs["a"].pid, signal.SIGKILL)
        assert procs["a"].wait(timeout=10) == -signal.SIGKILL
        a_partitions = set((tmp_path / "a.log").read_text().split())
        b_before = len((tmp_path / "b.log").read_text().split())
        time.sleep(3.0)  # keep producing: a's partitions get records only b can land
        producing.clear()
        producer_thread.join(timeout=120)
        assert not producer_thread.is_alive()
        want = Counter(acked)
        assert len(want) == len(acked) > 0

        _wait(
            lambda: set(_lake_ids(tmp_path / "lake")) >= set(want),
            120,
            "lander b to land every acknowledged event",
        )
        time.sleep(1.0)  # a duplicate would show up now, after the last batch
        landed = _lake_ids(tmp_path / "lake")
        assert landed == want, "an acknowledged event is missing or landed twice"
        b_log = (tmp_path / "b.log").read_text().split()
        assert len(b_log) > b_before
        # b took over the partitions a owned when it died
        assert a_partitions <= set(b_log), (a_partitions, set(b_log))
    finally:
        producing.clear()
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert procs["b"].returncode == 0, (tmp_path / "b.err").read_text()[-2000:]
