"""The local log under real processes: kill -9 of writers and readers, concurrent appenders."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from eventlake.bus import EVENTS
from eventlake.bus.local import LocalConsumer, read_group_offsets

pytestmark = pytest.mark.integration

# Appends batches of uniquely numbered records from 4 threads; prints each acknowledged id.
APPENDER = r"""
import sys, threading
from eventlake.bus.local import LocalProducer
root, tag, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
acks = open(sys.argv[4], "a") if len(sys.argv) > 4 else sys.stdout
p = LocalProducer(root, partitions=3, segment_bytes=64 * 1024)
lock = threading.Lock()
def work(t):
    for b in range(batches):
        ids = [f"{tag}-{t}-{b}-{i}" for i in range(50)]
        vals = [('{"id":"%s","pad":"%s"}' % (x, "p" * 200)).encode() for x in ids]
        p.append("events", vals, [x.encode() for x in ids])
        with lock:
            acks.write("\n".join(ids) + "\n")
            acks.flush()
ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for t in ts: t.start()
for t in ts: t.join()
p.close()
print("DONE", flush=True)
"""

# Reads and commits after every poll until killed.
READER = r"""
import sys
from eventlake.bus.local import LocalConsumer
c = LocalConsumer(sys.argv[1], "crashy", ["events"], partitions=3)
while True:
    recs = c.poll(500, 0.05)
    offs = {}
    for r in recs:
        from eventlake.bus.base import TopicPartition
        offs[TopicPartition(r.topic, r.partition)] = r.offset + 1
    c.commit(offs)
"""


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _all_ids(root: Path) -> list[str]:
    consumer = LocalConsumer(root, f"check-{time.monotonic_ns()}", [EVENTS], partitions=3)
    ids: list[str] = []
    while batch := consumer.poll(100_000, 0.0):
        ids.extend(json.loads(r.value)["id"] for r in batch)
    consumer.close()
    return ids


def test_kill_9_of_writers_and_readers_loses_and_corrupts_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    root = tmp_path / "bus"
    acked: list[str] = []
    for round_no in range(5):
        ackfiles = [tmp_path / f"acks-{round_no}-{w}" for w in range(2)]
        writers = [
            _spawn(APPENDER, str(root), f"r{round_no}w{w}", "1000", str(ackfiles[w]))
            for w in range(2)
        ]
        reader = _spawn(READER, str(root))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            f.exists() and f.stat().st_size for f in ackfiles
        ):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.05, 0.5))  # mid-append, at a random point
        for proc in [*writers, reader]:
            proc.kill()
        for proc in [*writers, reader]:
            _, err = proc.communicate()
            assert "Traceback" not in err, err
        for f in ackfiles:
            acked.extend(line for line in f.read_text().splitlines() if line)
    assert len(acked) >= 5 * 2 * 50, "each writer was acknowledged before each kill"
    ids = _all_ids(root)
    counts = Counter(ids)
    assert [i for i, n in counts.items() if n > 1] == []
    assert set(acked) <= set(counts)
    # The killed reader's committed offsets are intact and resumable with no gap.
    committed = read_group_offsets(root, "crashy").get(EVENTS, {})
    resumed = LocalConsumer(root, "crashy", [EVENTS], partitions=3)
    per_partition: dict[int, list[int]] = {0: [], 1: [], 2: []}
    while batch := resumed.poll(100_000, 0.0):
        for r in batch:
            per_partition[r.partition].append(r.offset)
    resumed.close()
    assert sum(map(len, per_partition.values())) + sum(committed.values()) == len(ids)
    for p, offsets in per_partition.items():
        start = committed.get(p, 0)
        assert offsets == list(range(start, start + len(offsets)))


def test_several_processes_append_at_once(tmp_path: Path) -> None:
    root = tmp_path / "bus"
    procs = [_spawn(APPENDER, str(root), f"w{w}", "15") for w in range(3)]
    acked: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        lines = out.splitlines()
        assert lines[-1] == "DONE"
        acked.extend(lines[:-1])
    assert len(acked) == 3 * 4 * 15 * 50
    ids = _all_ids(root)
    assert len(ids) == len(acked)
    assert set(ids) == set(acked)
    consumer = LocalConsumer(root, "dense", [EVENTS], partitions=3)
    per_partition: dict[int, list[int]] = {}
    while batch := consumer.poll(100_000, 0.0):
        for r in batch:
            per_partition.setdefault(r.partition, []).append(r.offset)
    consumer.close()
    for offsets in per_partition.values():
        assert offsets == list(range(len(offsets)))
