"""The lake's commit protocol: atomic, exactly once, recoverable, readable without eventlake."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.errors import CommitConflictError
from eventlake.lake import PendingFile, open_lake


def _table(n: int, start: int = 0) -> pa.Table:
    return pa.table({"id": list(range(start, start + n))})


def _file(day: str, name: str, table: pa.Table) -> PendingFile:
    return PendingFile(f"events/event_date={day}/{name}.parquet", table, {"event_date": day})


def test_commit_writes_files_and_record_readable_by_plain_duckdb(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path))
    rec = lake.commit(
        "events",
        "c1",
        [_file("2026-01-01", "a", _table(3)), _file("2026-01-02", "b", _table(2, 3))],
        {"offsets": [0, 4]},
    )
    assert [f.rows for f in rec.files] == [3, 2]
    assert lake.read_commit("events", "c1").meta == {"offsets": [0, 4]}
    rows = duckdb.sql(
        f"select event_date, count(*) from read_parquet('{tmp_path}/events/*/*.parquet',"
        " hive_partitioning=true) group by 1 order by 1"
    ).fetchall()
    assert [(str(d), n) for d, n in rows] == [("2026-01-01", 3), ("2026-01-02", 2)]
    assert not [n for _, _, names in os.walk(tmp_path) for n in names if n.endswith(".tmp")]


def test_same_commit_id_twice_is_refused(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path))
    lake.commit("events", "c1", [_file("2026-01-01", "a", _table(1))])
    with pytest.raises(CommitConflictError, match="already exists"):
        lake.commit("events", "c1", [_file("2026-01-01", "a2", _table(1))])
    assert len(list((tmp_path / "events" / "event_date=2026-01-01").iterdir())) == 1


def test_racing_writers_of_one_commit_id_leave_exactly_one_winner(tmp_path: Path) -> None:
    import threading

    lake = open_lake(str(tmp_path))
    outcomes: list[str] = []

    def write(n: int) -> None:
        try:
            lake.commit("events", "race", [_file("2026-01-01", "x", _table(n))])
            outcomes.append("won")
        except CommitConflictError:
            outcomes.append("lost")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    record = lake.read_commit("events", "race")
    files = list((tmp_path / "events" / "event_date=2026-01-01").iterdir())
    assert [f.name for f in files] == [Path(record.files[0].path).name]
    assert pq.read_table(files[0]).num_rows == record.files[0].rows


def test_crash_before_the_record_leaves_nothing_visible_and_recover_cleans(
    tmp_path: Path,
) -> None:
    lake = open_lake(str(tmp_path))
    part = tmp_path / "events" / "event_date=2026-01-01"
    part.mkdir(parents=True)
    pq.write_table(_table(5), part / ".orphan.parquet.tmp")
    assert lake.committed_files() == []
    assert lake.recover() == 0  # young: may belong to a live writer
    assert lake.recover(stale_seconds=0) == 1
    assert list(part.iterdir()) == []


def test_crash_after_the_record_is_rolled_forward(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path))
    rec = lake.commit("events", "c1", [_file("2026-01-01", "a", _table(4))])
    final = Path(lake.path(rec.files[0].path))
    # Simulate a crash between the commit record and the rename.
    os.replace(final, final.with_name(f".{final.name}.tmp"))
    assert lake.recover() == 1
    assert pq.read_table(final).num_rows == 4


def test_commit_ids_sorted_and_streams_listed(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path))
    for cid in ["p0001-00000000000000000020", "p0001-00000000000000000003"]:
        lake.commit("events", cid, [_file("2026-01-01", cid, _table(1))])
    lake.commit("sources.students", "h1", [PendingFile("sources/students/x.parquet", _table(1))])
    assert lake.commit_ids("events") == [
        "p0001-00000000000000000003",
        "p0001-00000000000000000020",
    ]
    assert lake.streams() == ["events", "sources.students"]
    assert len(lake.committed_files("events/")) == 2


def test_lake_on_fsspec_memory_filesystem_commits_without_rename() -> None:
    lake = open_lake("memory://lake-test-bucket/prefix", {})
    assert not lake.is_local
    lake.commit("events", "c1", [_file("2026-01-01", "a", _table(2))])
    files = lake.committed_files()
    assert len(files) == 1
    assert "events/event_date=2026-01-01/a-" in files[0]
    with lake.fs.open_input_file(files[0]) as src:
        assert pq.read_table(src).num_rows == 2
