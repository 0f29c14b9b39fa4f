"""Generated events on a compressed bus land exactly as on an uncompressed one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from eventlake.config import load_config
from eventlake.generate import WorldConfig, generate, write_bus_parallel
from eventlake.land import land
from eventlake.spec import load_tracking_plan

pytestmark = pytest.mark.integration

PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


def _lake_rows(lake: Path, table: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    try:
        return con.execute(
            f"select * from read_parquet('{lake}/{table}/**/*.parquet', hive_partitioning=true) "
            "order by all"
        ).fetchall()
    finally:
        con.close()


def test_compressed_records_land_the_same_rows(tmp_path: Path) -> None:
    world, frame = generate(WorldConfig(users=300, days=5, start=dt.date(2026, 4, 6), seed=9))
    plan = load_tracking_plan(PLAN)
    lakes = {}
    for compression in ("zstd", "lz4", "none"):
        root = tmp_path / compression
        settings = load_config(
            None,
            base_dir=root,
            bus={"path": str(root / "bus"), "arrow_compression": compression},
            lake={"path": str(root / "lake")},
        )
        sent = write_bus_parallel(
            world, frame, settings, source="game", plan=plan, workers=2, chunk_rows=2_000
        )
        landed = land(settings)
        assert (landed.events, landed.quarantined) == (sent.events, sent.quarantined)
        events = _lake_rows(root / "lake", "events")
        assert len(events) == sent.events > 0
        quarantined = len(_lake_rows(root / "lake", "quarantine"))
        assert quarantined == sent.quarantined > 0
        lakes[compression] = (events, quarantined)
        sizes = sum(p.stat().st_size for p in (root / "bus").rglob("*") if p.is_file())
        lakes[compression] += (sizes,)
    assert lakes["zstd"][:2] == lakes["lz4"][:2] == lakes["none"][:2]
    assert lakes["zstd"][2] * 3 < lakes["none"][2] and lakes["lz4"][2] * 2 < lakes["none"][2]
