"""`eventlake up` as a user runs it: events in through the collector, answers out of the API,
children killed with SIGKILL and restarted, a graceful SIGTERM, /healthz on a full bus.

Every process is real (the supervisor and its children on free 127.0.0.1 ports); every
check is against what the test itself sent and read back from the lake with DuckDB, never
against the models' own SQL. Waits are generous and no timing is asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import httpx
import pytest

uphelp = support.load_helper("eventlake_tests_up", Path(__file__).with_name("uphelp.py"))
WRITE_KEY = uphelp.WRITE_KEY
UpProcess = uphelp.UpProcess
students_toml, up_env, wait_for = uphelp.students_toml, uphelp.up_env, uphelp.wait_for

pytestmark = pytest.mark.integration


def _event(message_id: str, user: str) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": "Level Started",
        "properties": {"level": 1},
    }


def _api_events(up: UpProcess) -> int:
    """Events the data API reports over every day (events_daily, summed)."""
    body = httpx.get(
        f"{up.serve_url}/api/metrics/events_daily.json", params={"limit": 100000}, timeout=10
    ).json()
    return sum(int(row["events"]) for row in body.get("rows", []))


def _lake_rows(root: Path) -> list[tuple[str, int, int]]:
    """(message_id, bus_partition, bus_offset) of every committed events row in the lake."""
    events = root / "data" / "lake" / "events"
    if not events.exists():
        return []
    con = duckdb.connect()
    try:
        return con.execute(
            "select message_id, bus_partition, bus_offset from read_parquet("
            f"'{events}/**/*.parquet', hive_partitioning=true)"
        ).fetchall()
    finally:
        con.close()


def test_events_sent_with_the_sdk_appear_in_the_api(up_factory: Any) -> None:
    from eventlake.tracker import Client

    up = up_factory()
    up.wait_running()
    users = [f"sdk-user-{i}" for i in range(7)]
    with Client(WRITE_KEY, up.collect_url, flush_interval=0.1) as client:
        for i in range(60):
            client.track("Level Started", {"level": 1 + i % 3}, user_id=users[i % len(users)])
        assert client.flush(timeout=60)
    # No other command runs: the lander lands, the builder builds, serve serves.
    wait_for(lambda: _api_events(up) == 60, "the 60 events in /api/metrics/events_daily")
    body = httpx.get(f"{up.serve_url}/api/metrics/daily_active_users.json", timeout=10).json()
    assert max(int(r["dau"]) for r in body["rows"]) == len(users)
    # the run history holds scheduled runs, each with its freshness
    health = httpx.get(f"{up.serve_url}/healthz", timeout=10).json()
    assert health["status"] == "ok", health
    assert health["last_build"]["freshness_seconds"] is not None
    assert health["lander"]["lag_records"] == 0
    metrics = httpx.get(f"{up.serve_url}/metrics", timeout=10).text
    assert "eventlake_build_freshness_seconds " in metrics
    assert 'eventlake_child_restarts_total{child="collect"} 0' in metrics
    status = subprocess.run(
        [sys.executable, "-m", "eventlake", "status", "--json"],
        cwd=up.root,
        env=up.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(status.stdout)
    assert report["freshness"] and report["freshness"][0]["freshness_seconds"] >= 0
    (supervisor,) = report["supervisors"]
    assert supervisor["alive"] and {c["name"] for c in supervisor["children"]} == {
        "collect",
        "land",
        "build",
        "serve",
    }
    assert up.stop() == 0


def test_a_run_asks_the_lander_for_its_open_batch_instead_of_waiting_its_age(
    up_factory: Any,
) -> None:
    """land.max_age_seconds = 1 hour: no batch closes by age during the test, so events
    that reach the API were landed because a model run asked the lander (land/flush.py),
    each once."""
    from eventlake.tracker import Client

    up = up_factory(env=up_env(EVENTLAKE_LAND__MAX_AGE_SECONDS="3600"))
    up.wait_running()
    with Client(WRITE_KEY, up.collect_url, flush_interval=0.1) as client:
        for i in range(40):
            client.track("Level Started", {"level": 1}, user_id=f"flush-user-{i % 5}")
        assert client.flush(timeout=60)
    wait_for(lambda: _api_events(up) == 40, "the 40 events in /api/metrics/events_daily")
    rows = _lake_rows(up.root)
    assert len(rows) == 40 and len({r[0] for r in rows}) == 40
    with Client(WRITE_KEY, up.collect_url, flush_interval=0.1) as client:
        for i in range(15):
            client.track("Level Started", {"level": 2}, user_id=f"flush-user-{i % 5}")
        assert client.flush(timeout=60)
    wait_for(lambda: _api_events(up) == 55, "the next 15 events in the API")
    assert len({r[0] for r in _lake_rows(up.root)}) == len(_lake_rows(up.root)) == 55
    assert up.stop() == 0


class _Sender:
    """Sends batches over HTTP in a thread and records exactly what was acknowledged.

    A batch whose request failed without a reply (the collector was killed mid-request)
    is sent again, same message ids, until a 200: its ids are *uncertain* (the first
    attempt may have been made durable before the kill), all others must land once.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: list[str] = []
        self.uncertain: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.errors = 0

    def run(self) -> None:
        n = 0
        with httpx.Client(timeout=10, auth=(WRITE_KEY, "")) as client:
            while not self.stop.is_set():
                ids = [str(uuid.uuid4()) for _ in range(20)]
                batch = {"batch": [_event(m, f"user-{(n + i) % 13}") for i, m in enumerate(ids)]}
                n += 20
                while True:
                    try:
                        reply = client.post(f"{self.url}/v1/batch", json=batch)
                    except httpx.HTTPError:
                        reply = None
                    if reply is not None and reply.status_code == 200:
                        break
                    self.errors += 1
                    if reply is None:
                        self.uncertain.update(ids)  # maybe durable, no reply
                    self.stop.wait(0.2)
                self.acked.extend(ids)
                self.stop.wait(0.05)


def _wait_restarted(up: UpProcess, name: str, restarts: int) -> None:
    def back() -> bool:
        child = up.children()[name]
        return child["restarts"] >= restarts and child["state"] == "running"

    wait_for(back, f"{name} restarted")


def test_kill_9_each_child_in_turn_loses_and_doubles_nothing(up_factory: Any) -> None:
    from eventlake.pipeline import collect_status

    student_csv = support.students().student_csv

    up = up_factory(setup=students_toml)
    up.wait_running(["land", "build", "serve", "collect", "sources"])
    sender = _Sender(up.collect_url)
    sender.thread.start()
    drop = up.root / "drop"
    try:
        wait_for(lambda: len(sender.acked) >= 100, "the first acknowledged events")
        for i, name in enumerate(["collect", "land", "build", "serve", "sources"]):
            before = len(sender.acked)
            pid = up.children()[name]["pid"]
            os.kill(pid, signal.SIGKILL)
            _wait_restarted(up, name, 1)
            (drop / f"students_{i}.csv").write_text(student_csv(10, seed=i), "utf-8")
            wait_for(lambda b=before: len(sender.acked) >= b + 60, f"events acked after {name}")
    finally:
        sender.stop.set()
        sender.thread.join(60)
    acked = list(sender.acked)
    assert len(acked) == len(set(acked))

    def landed_all() -> bool:
        ids = {m for m, _, _ in _lake_rows(up.root)}
        return set(acked) <= ids

    wait_for(landed_all, "every acknowledged event in the lake")
    rows = _lake_rows(up.root)
    # the lander never wrote a bus record twice
    assert len(rows) == len(set(rows)), "a bus record was landed twice"
    per_id: dict[str, int] = {}
    for m, _, _ in rows:
        per_id[m] = per_id.get(m, 0) + 1
    assert set(per_id) == set(acked), "the lake holds events nobody acknowledged"
    doubled = {m for m, n in per_id.items() if n > 1}
    # only a batch re-sent after a reply was lost may be in the lake twice
    assert doubled <= sender.uncertain
    # the API counts each acknowledged event once (staging deduplicates by messageId)
    wait_for(lambda: _api_events(up) == len(acked), "every acknowledged event in the API")
    status = collect_status(up.settings())
    assert all(ok is not False for _, ok in status.reconciliation()), status.reconciliation()
    assert status.pending_on_bus == 0 and status.landed == len(rows)

    # each CSV file dropped around the kills is in the lake exactly once. A sources child
    # killed between a file's lake commit and its log line finds the file again after the
    # restart and archives it as a duplicate of that commit: "loaded" or "duplicate" in
    # ingest.log, never both "loaded" twice, and its rows once in the lake.
    def outcomes(name: str) -> list[str]:
        lines = (drop / "ingest.log").read_text("utf-8").splitlines()
        return [e["outcome"] for e in map(json.loads, lines) if e["file"] == name]

    names = [f"students_{i}.csv" for i in range(5)]
    for name in names:
        wait_for(lambda n=name: (drop / "archive" / n).exists(), f"{name} archived")
        got = outcomes(name)
        assert got.count("loaded") <= 1 and set(got) <= {"loaded", "duplicate"}, (name, got)
    lake_csv = up.root / "data" / "lake" / "sources" / "students"
    con = duckdb.connect()
    try:
        per_file = dict(
            con.execute(
                "SELECT _source_file, count(*) FROM read_parquet(?) GROUP BY 1",
                [str(lake_csv / "*" / "*.parquet")],
            ).fetchall()
        )
    finally:
        con.close()
    assert per_file == {name: 10 for name in names}, per_file
    kids = up.children()
    assert all(kids[n]["restarts"] == 1 for n in kids), kids
    assert all(kids[n]["last_exit"] == "killed by SIGKILL" for n in kids), kids
    assert up.stop() == 0


def test_sigterm_stops_every_child_within_the_bound_and_exits_0(up_factory: Any) -> None:
    up = up_factory(env=up_env(EVENTLAKE_UP__STOP_TIMEOUT="30"))
    up.wait_running()
    pids = [c["pid"] for c in up.state()["children"]]
    assert len(pids) == 4
    reply = httpx.post(
        f"{up.collect_url}/v1/track", json=_event(str(uuid.uuid4()), "u"), auth=(WRITE_KEY, "")
    )
    assert reply.status_code == 200
    assert up.stop(timeout=120) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    state = up.state()
    assert {c["state"] for c in state["children"]} == {"stopped"}
    # the collector drained and the lander finished: the acknowledged event is in the lake
    assert len(_lake_rows(up.root)) == 1
    assert "stopped" in up.log()


def test_healthz_says_503_when_the_bus_cannot_be_written(up_factory: Any) -> None:
    # A bus that is full refuses every append (BusFullError): the pipeline cannot accept
    # events. (Root ignores file permissions, so a full bus is how this test makes it
    # unwritable; the probe also catches a read-only or missing folder.)
    up = up_factory(env=up_env(EVENTLAKE_BUS__MAX_BYTES="40000"))
    up.wait_running()
    for url in (up.collect_url, up.serve_url):
        reply = httpx.get(f"{url}/healthz", timeout=10)
        assert reply.status_code == 200 and reply.json()["bus"]["writable"] is True
    with httpx.Client(timeout=10, auth=(WRITE_KEY, "")) as client:
        refused = None
        # The producer re-reads the log's size at most once a second: keep sending until
        # it has seen the log pass bus.max_bytes (bounded by the number of tries).
        for _ in range(600):
            batch = {"batch": [_event(str(uuid.uuid4()), "u") for _ in range(50)]}
            reply = client.post(f"{up.collect_url}/v1/batch", json=batch)
            if reply.status_code != 200:
                refused = reply
                break
            time.sleep(0.05)
    assert refused is not None and refused.status_code == 503
    assert refused.json()["code"] == "bus_full"
    for url in (up.collect_url, up.serve_url):
        reply = httpx.get(f"{url}/healthz", timeout=10)
        body = reply.json()
        assert reply.status_code == 503, body
        assert body["status"] == "failing"
        assert body["bus"]["writable"] is False and "full" in body["bus"]["detail"]
        assert any("bus cannot be written" in p for p in body["problems"])
    metrics = httpx.get(f"{up.serve_url}/metrics", timeout=10).text
    assert "eventlake_bus_writable 0" in metrics
    assert up.stop() == 0
