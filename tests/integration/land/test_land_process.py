"""`eventlake land --follow` as a real process: kill -9 at random moments, SIGTERM exits."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.integration


def _eventlake(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "eventlake", "-c", str(config), *args]


def test_kill_9_of_a_following_lander_then_sigterm_lands_every_event_once(project, events_appender):
    settings = project(max_records=300)
    config = settings.base_dir / "eventlake.toml"
    rng = random.Random(7)
    acked: list[str] = []
    done = threading.Event()

    def produce() -> None:
        for i in range(40):
            good, _ = events_appender(settings, 100, start=i * 100)
            acked.extend(good)
            time.sleep(0.05)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        for _ in range(3):
            proc = subprocess.Popen(
                _eventlake(config, "land", "--follow", "-q"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            time.sleep(rng.uniform(1.0, 2.5))
            proc.kill()
            _, err = proc.communicate()
            assert b"Traceback" not in err, err.decode()
    finally:
        producer.join()
    assert done.is_set()

    proc = subprocess.Popen(
        _eventlake(config, "land", "--follow", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # The lander announces itself once its SIGINT/SIGTERM handlers are installed; a signal
    # sent before that would find Python's default handler.
    assert b"landing" in proc.stderr.readline()
    root = Path(settings.lake_uri())
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        files = list((root / "events").rglob("*.parquet"))
        if files and _count(root) >= len(acked):
            break
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["events"] >= 0

    drained = subprocess.run(
        _eventlake(config, "land", "--json"), capture_output=True, timeout=60, check=True
    )
    assert json.loads(drained.stdout)["events"] == 0
    ids = Counter(
        r[0]
        for r in duckdb.sql(
            f"select message_id from read_parquet('{root}/events/**/*.parquet', "
            "hive_partitioning=true)"
        ).fetchall()
    )
    assert ids == Counter(acked)


def _count(root: Path) -> int:
    return int(
        duckdb.sql(f"select count(*) from read_parquet('{root}/events/**/*.parquet')").fetchall()[
            0
        ][0]
    )
