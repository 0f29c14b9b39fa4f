"""The Spark reader: DuckDB over the Parquet files a publish manifest lists (no Spark here:
the manifests and files are written by hand, as ``write_published`` lays them out)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.errors import QueryRefusedError, WarehouseError
from eventlake.warehouse.spark import PUBLISHED_FILE, SparkParquetReader


def _manifest(spark_dir: Path, generation: str, tables: dict[str, object]) -> Path:
    path = spark_dir / PUBLISHED_FILE
    path.write_text(json.dumps({"generation": generation, "tables": tables}))
    return path


def _table_files(root: Path, days: dict[str, int]) -> list[str]:
    files = []
    for day, n in days.items():
        folder = root / "raw.db" / "events" / f"event_date={day}"
        folder.mkdir(parents=True)
        path = folder / "part-00000.snappy.parquet"
        pq.write_table(pa.table({"message_id": [f"{day}-{i}" for i in range(n)]}), path)
        files.append(f"file:{path}")
    return files


def test_reads_the_published_tables_and_follows_the_next_publish(tmp_path: Path) -> None:
    spark_dir = tmp_path / "spark"
    spark_dir.mkdir()
    columns = [["message_id", "string"], ["event_date", "date"]]
    files = _table_files(spark_dir / "spark-warehouse", {"2026-03-01": 3, "2026-03-02": 2})
    table = {"columns": columns, "partitioned_by": ["event_date"], "files": files}
    empty = {"columns": [["day", "date"], ["users", "bigint"]], "partitioned_by": [], "files": []}
    manifest = _manifest(spark_dir, "g1", {"raw.events": table, "metrics.dau": empty})
    reader = SparkParquetReader(manifest)
    try:
        assert reader.version() == "g1"
        got = reader.execute(
            "SELECT event_date, count(*) FROM raw.events WHERE message_id <> ? GROUP BY 1 "
            "ORDER BY 1",
            ("none",),
        )
        assert got.rows == [(dt.date(2026, 3, 1), 3), (dt.date(2026, 3, 2), 2)]
        assert reader.execute("SELECT count(*) FROM metrics.dau").rows == [(0,)]
        with pytest.raises(QueryRefusedError):
            reader.execute("CREATE TABLE metrics.x (a INTEGER)")
        _manifest(spark_dir, "g2", {"raw.events": dict(table, files=files[:1])})
        assert reader.version() == "g2"
        assert reader.execute("SELECT count(*) FROM raw.events").rows == [(3,)]
    finally:
        reader.close()


def test_no_publish_yet_is_a_clear_error(tmp_path: Path) -> None:
    reader = SparkParquetReader(tmp_path / PUBLISHED_FILE)
    try:
        with pytest.raises(WarehouseError, match="no published Spark build"):
            reader.execute("SELECT 1")
    finally:
        reader.close()


def test_tables_on_another_filesystem_are_a_clear_error(tmp_path: Path) -> None:
    table = {
        "columns": [["a", "int"]],
        "partitioned_by": [],
        "files": ["s3a://lake/metrics.db/t/part-0.parquet"],
    }
    reader = SparkParquetReader(_manifest(tmp_path, "g1", {"metrics.t": table}))
    try:
        with pytest.raises(WarehouseError, match="s3a://lake.*only local files"):
            reader.execute("SELECT * FROM metrics.t")
    finally:
        reader.close()
