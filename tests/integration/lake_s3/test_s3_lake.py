"""The lake on object storage, against moto's S3 server mode (a stand-in for S3)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from eventlake.errors import CommitConflictError
from eventlake.lake import PendingFile, open_lake

pytestmark = pytest.mark.integration


def _file(day: str, name: str, n: int) -> PendingFile:
    return PendingFile(
        f"events/event_date={day}/{name}.parquet",
        pa.table({"id": list(range(n))}),
        {"event_date": day},
    )


def test_commit_and_read_back_through_duckdb_without_extensions(
    s3_server: dict[str, str], s3_bucket: str
) -> None:
    lake = open_lake(f"s3://{s3_bucket}/prefix", s3_server)
    assert not lake.is_local
    lake.commit("events", "c1", [_file("2026-01-01", "a", 3), _file("2026-01-02", "b", 2)])
    urls = [lake.url(p) for p in lake.committed_files("events/")]
    assert all(u.startswith(f"s3://{s3_bucket}/prefix/events/") for u in urls)
    con = duckdb.connect()
    lake.register_duckdb(con)
    rows = con.execute(
        "select event_date, count(*) from read_parquet(?, hive_partitioning=true) "
        "group by 1 order by 1",
        [urls],
    ).fetchall()
    assert [(str(d), n) for d, n in rows] == [("2026-01-01", 3), ("2026-01-02", 2)]


def test_files_without_a_commit_record_are_invisible(
    s3_server: dict[str, str], s3_bucket: str
) -> None:
    lake = open_lake(f"s3://{s3_bucket}/p", s3_server)
    # A writer that crashed after its data file and before its record: an orphan object.
    lake.fs.create_dir(lake.path("events/event_date=2026-01-01"), recursive=True)
    with lake.fs.open_output_stream(lake.path("events/event_date=2026-01-01/orphan.parquet")):
        pass
    lake.commit("events", "c1", [_file("2026-01-01", "a", 1)])
    files = lake.committed_files()
    assert len(files) == 1 and "orphan" not in files[0]


def test_recommitting_an_id_is_refused(s3_server: dict[str, str], s3_bucket: str) -> None:
    lake = open_lake(f"s3://{s3_bucket}/p", s3_server)
    lake.commit("events", "c1", [_file("2026-01-01", "a", 1)])
    with pytest.raises(CommitConflictError):
        lake.commit("events", "c1", [_file("2026-01-01", "a", 1)])
    assert len(lake.committed_files()) == 1
