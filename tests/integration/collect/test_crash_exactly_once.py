"""Crash test: kill -9 the lander and the collector at random moments; nothing acked is lost
or duplicated.

The collector (`eventlake collect`) and the lander (`eventlake land --follow`) run as real
subprocesses on a real local bus and lake. A client thread keeps posting batches of events
with fresh messageIds and records the ids of every batch that got 200. Each round kills the
lander, then the collector, with SIGKILL at random moments while traffic flows, and starts
them again. At the end the lake, read with plain DuckDB and pyarrow (no eventlake code),
holds every acknowledged messageId exactly once, and no messageId twice. (A client never
re-sends an unacknowledged batch here: a real SDK would, and its duplicates are what the
warehouse's dedup by messageId is for.)
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import duckdb
import httpx
import pyarrow.dataset as ds
import pytest

pytestmark = pytest.mark.integration

EVENTLAKE = [sys.executable, "-c", "from eventlake.cli import main; main()"]
WRITE_KEY = "crash-key"
ROUNDS = 3


class Client(threading.Thread):
    """Posts batches until stopped; remembers what was acknowledged and what was not."""

    def __init__(self, port: int, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/v1/batch"
        self.rng = rng
        self.acked: list[str] = []
        self.unacked: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5.0, auth=(WRITE_KEY, "")) as http:
            while not self.stop.is_set():
                ids = [str(uuid.uuid4()) for _ in range(self.rng.randint(1, 40))]
                batch = [
                    {
                        "type": "track",
                        "event": "Level Started",
                        "userId": f"u{self.rng.randint(0, 50)}",
                        "messageId": mid,
                        "properties": {"level": 1},
                    }
                    for mid in ids
                ]
                try:
                    reply = http.post(self.url, json={"batch": batch})
                    ok = reply.status_code == 200
                except httpx.HTTPError:
                    ok = False
                (self.acked if ok else self.unacked).extend(ids)
                if not ok:
                    time.sleep(0.05)


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"collector exited with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the collector did not start")


def test_every_acknowledged_event_lands_exactly_once_across_kill_9(
    project_dir: Path, free_port: int
) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED", "20261125"))  # not EVENTLAKE_*: cleaned
    rng = random.Random(seed)
    cfg = project_dir / "eventlake.toml"
    cfg.write_text(
        f'[collect]\nwrite_keys = {{ "{WRITE_KEY}" = "crash" }}\n'
        '[bus]\npath = "bus"\n[lake]\npath = "lake"\n'
        "[land]\nmax_age_seconds = 0.2\nmax_records = 500\n"
    )
    log = open(project_dir / "processes.log", "wb")  # noqa: SIM115 - closed at the end
    collect_cmd = [
        *EVENTLAKE,
        "-c",
        str(cfg),
        "collect",
        "--port",
        str(free_port),
        "--log-level",
        "warning",
    ]
    land_cmd = [*EVENTLAKE, "-c", str(cfg), "land", "--follow", "-q"]

    def spawn(cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, cwd=project_dir, stdout=log, stderr=log)

    collector = spawn(collect_cmd)
    lander = spawn(land_cmd)
    wait_listening(free_port, collector)
    client = Client(free_port, rng)
    client.start()
    try:
        for _ in range(ROUNDS):
            time.sleep(rng.uniform(0.5, 2.0))
            lander.send_signal(signal.SIGKILL)
            lander.wait()
            time.sleep(rng.uniform(0.1, 1.0))
            collector.send_signal(signal.SIGKILL)
            collector.wait()
            lander = spawn(land_cmd)
            collector = spawn(collect_cmd)
            wait_listening(free_port, collector)
        time.sleep(1.0)
    finally:
        client.stop.set()
        client.join(30)
        collector.terminate()
        collector.wait(30)
        lander.terminate()
        lander.wait(30)
    # Drain whatever the last lander left on the bus, then read the lake without eventlake.
    drained = subprocess.run(
        [*EVENTLAKE, "-c", str(cfg), "land", "-q"], cwd=project_dir, stdout=log, stderr=log
    )
    log.close()
    assert drained.returncode == 0, (project_dir / "processes.log").read_text()[-3000:]

    assert len(client.acked) > 100, "the client got too few events acknowledged to be a test"
    events = project_dir / "lake" / "events"
    counts = dict(
        duckdb.sql(
            "select message_id, count(*) from read_parquet(?, hive_partitioning = true) "
            "group by message_id",
            params=[str(events / "**" / "*.parquet")],
        ).fetchall()
    )
    missing = [m for m in client.acked if m not in counts]
    duplicated = {m: n for m, n in counts.items() if n > 1}
    assert missing == [], f"{len(missing)} acknowledged events are not in the lake"
    assert duplicated == {}, f"{len(duplicated)} events landed more than once"
    assert set(counts) <= set(client.acked) | set(client.unacked)
    table = ds.dataset(events, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(counts)
    print(
        f"crash test (seed {seed}): {len(client.acked)} acknowledged, {len(client.unacked)} not, "
        f"{table.num_rows} rows in the lake after {ROUNDS} rounds of kill -9"
    )
