"""The engine-neutral helpers of batch-source loads (``warehouse/source_tables.py``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.errors import WarehouseError
from eventlake.lake import PendingFile, open_lake
from eventlake.warehouse.source_tables import (
    AppendCommits,
    LatestByKey,
    SourceFile,
    conform,
    missing_commits,
    new_file_commits,
    pending_batch,
    read_conformed,
    read_schema,
    split_table,
    unified_schema,
)


@pytest.mark.parametrize(
    ("name", "parts"),
    [("students", ("raw", "students")), ("x.students", ("x", "students"))],
)
def test_table_names_default_to_the_raw_schema(name: str, parts: tuple[str, str]) -> None:
    assert split_table(name) == parts


@pytest.mark.parametrize("name", ["", "raw.", 'ra"w.t', "a.`b`"])
def test_bad_table_names_are_refused(name: str) -> None:
    with pytest.raises(WarehouseError, match="invalid warehouse table name"):
        split_table(name)


def test_drifting_columns_widen_like_union_by_name() -> None:
    a = pa.schema([("id", pa.int64()), ("score", pa.int64()), ("tag", pa.null())])
    b = pa.schema([("id", pa.int32()), ("score", pa.float64()), ("rank", pa.int64())])
    c = pa.schema([("rank", pa.string()), ("tag", pa.dictionary(pa.int32(), pa.string()))])
    got = unified_schema([a, b, c])
    assert [(f.name, f.type) for f in got] == [
        ("id", pa.int64()),
        ("score", pa.float64()),
        ("tag", pa.string()),
        ("rank", pa.string()),
    ]
    only_nulls = unified_schema([pa.schema([("x", pa.null())])])
    assert only_nulls.field("x").type == pa.string()


def test_conform_casts_decodes_and_fills() -> None:
    table = pa.table(
        {"b": pa.array(["x", "y"]).dictionary_encode(), "a": pa.array([1, 2], pa.int32())}
    )
    schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.float64())])
    own = conform(table, schema)
    assert own.column_names == ["b", "a"] and own.schema.field("a").type == pa.int64()
    assert own.column("b").to_pylist() == ["x", "y"]
    full = conform(table, schema, fill=True)
    assert full.schema == schema and full.column("c").to_pylist() == [None, None]
    with pytest.raises(WarehouseError, match="'b' holds"):
        conform(table, pa.schema([("b", pa.int64())]))


def test_missing_commits_counts_the_lake_and_fresh_ones(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path / "lake"))
    rows = pa.table({"id": [1]})
    for cid in ("c1", "c2"):
        lake.commit("sources.s", cid, [PendingFile(f"sources/s/{cid}.parquet", rows)], {})
    load = AppendCommits("sources.s", "s", rows.schema, fresh={"c3": rows})
    assert missing_commits(lake, load, {"c1"}) == ["c2", "c3"]
    keyed = LatestByKey(
        "sources.s", "s", [SourceFile("a", "c1", 2), SourceFile("b", "c2", 3)], ["id"]
    )
    assert new_file_commits(keyed, {"c1"}) == {"c2": 3}


def test_pending_batch_takes_fresh_rows_or_reads_the_commit(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path / "lake"))
    stored = pa.table({"id": [1, 2]})
    lake.commit("sources.s", "c1", [PendingFile("sources/s/c1.parquet", stored)], {})
    fresh = pa.table({"id": [3], "extra": ["x"]})
    load = AppendCommits("sources.s", "s", stored.schema, fresh={"c2": fresh})
    assert pending_batch(lake, load, "c1").to_pydict() == {"id": [1, 2]}
    assert pending_batch(lake, load, "c2") is fresh
    assert pending_batch(lake, load, "c1", known=["id"], target="raw.s").num_rows == 2
    with pytest.raises(WarehouseError, match=r"sources.s/c2 has column\(s\) \['extra'\].*raw.s"):
        pending_batch(lake, load, "c2", known=["id"], target="raw.s")


def test_read_schema_and_rows_of_drifted_files(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path / "lake"))
    first = pa.table({"id": [1], "price": pa.array([10], pa.int64())})
    second = pa.table({"id": [2], "price": [2.5], "note": ["n"]})
    files = []
    for cid, table in (("c1", first), ("c2", second)):
        record = lake.commit("sources.s", cid, [PendingFile(f"sources/s/{cid}.parquet", table)])
        files.append(SourceFile(record.files[0].path, cid, table.num_rows))
    schema = read_schema(lake, files)
    assert schema.field("price").type == pa.float64() and schema.names == ["id", "price", "note"]
    rows = [t.to_pylist() for t in read_conformed(lake, files, schema)]
    assert rows == [
        [{"id": 1, "price": 10.0, "note": None}],
        [{"id": 2, "price": 2.5, "note": "n"}],
    ]
    assert pq.read_table(lake.path(files[0].path)).num_rows == 1
    with pytest.raises(WarehouseError, match="gone.parquet"):
        read_schema(lake, [SourceFile("sources/s/gone.parquet", "c9")])
