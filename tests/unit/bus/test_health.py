"""The bus as /healthz sees it: the writability probe and the end offsets of the local log."""

from __future__ import annotations

from pathlib import Path

from eventlake.bus.health import end_offsets, probe_bus
from eventlake.bus.local import LocalProducer
from eventlake.bus.local_admin import status
from eventlake.config import load_config


def test_end_offsets_from_frame_headers_match_the_admin_status(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path, bus={"partitions": 2})
    assert end_offsets(settings) is None  # no log yet
    producer = LocalProducer(settings.resolve(settings.bus.path), partitions=2)
    try:
        for i in range(5):
            producer.append("events", [b'{"n": %d}' % i] * (i + 1), [b"k%d" % i] * (i + 1))
        producer.append("quarantine", [b"{}"], [b"x"])
    finally:
        producer.close()
    ends = end_offsets(settings)
    expected = {
        f"{p.topic}/{p.partition}": p.end_offset for p in status(settings.resolve("data/bus"))
    }
    assert ends == {k: v for k, v in expected.items() if v or k in ends}
    assert sum(v for k, v in ends.items() if k.startswith("events/")) == 15


def test_probe_says_why_the_local_bus_cannot_be_written(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path)
    missing = probe_bus(settings)
    assert not missing.writable and "does not exist" in missing.detail
    root = settings.resolve(settings.bus.path)
    producer = LocalProducer(root, partitions=1)
    try:
        producer.append("events", [b"x" * 5000], [b"k"])
    finally:
        producer.close()
    ok = probe_bus(settings)
    assert ok.writable and ok.backend == "local"
    assert not list(root.glob(".healthz-probe*"))  # the probe leaves nothing behind
    full = probe_bus(load_config(None, base_dir=tmp_path, bus={"max_bytes": 1000}))
    assert not full.writable and "full" in full.detail and "bus.max_bytes" in full.detail
