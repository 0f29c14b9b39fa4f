"""The bus as /healthz sees it: ``Bus.probe`` and ``Bus.end_offsets`` of the local log."""

from __future__ import annotations

from pathlib import Path

from eventlake.bus import open_bus
from eventlake.bus.local import LocalProducer
from eventlake.bus.local_admin import status
from eventlake.config import Settings, load_config


def probe_bus(settings: Settings):
    return open_bus(settings.bus, settings.base_dir).probe()


def end_offsets(settings: Settings):
    return open_bus(settings.bus, settings.base_dir).end_offsets()


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
    assert ends is not None
    expected = {
        f"{p.topic}/{p.partition}": p.end_offset for p in status(settings.resolve("data/bus"))
    }
    by_name = {f"{tp.topic}/{tp.partition}": end for tp, end in ends.items()}
    assert by_name == {k: v for k, v in expected.items() if v or k in by_name}
    assert sum(v for tp, v in ends.items() if tp.topic == "events") == 15


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
