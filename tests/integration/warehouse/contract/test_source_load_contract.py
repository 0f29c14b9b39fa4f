"""Loading batch-source commits (``WriteTransaction.load_source``), on every engine.

The lake is written here with ``Lake.commit`` exactly as the CSV and REST sources write it
(stream ``sources.<name>``); every expected row is computed in Python from the rows
written, never from the warehouse's SQL. Spark's appended tables carry one more column
(``_source_commit``, their partition), so the tests read named columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pytest

from eventlake.config import Settings
from eventlake.errors import WarehouseError
from eventlake.lake import Lake, PendingFile, open_lake
from eventlake.warehouse import (
    AppendCommits,
    LatestByKey,
    SourceFile,
    Warehouse,
    open_warehouse,
)

pytestmark = pytest.mark.integration

STREAM = "sources.people"
COLUMNS = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("name", pa.string()),
        pa.field("born", pa.date32()),
        pa.field("_source_file", pa.string()),
    ]
)
D = dt.date(2026, 3, 1)


def _lake(settings: Settings) -> Lake:
    return open_lake(settings.lake_uri())


def _people(ids: Sequence[int], tag: str) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"{tag}{i}" for i in ids],
            "born": [D + dt.timedelta(days=i) for i in ids],
            "_source_file": pa.array([f"{tag}.csv"] * len(ids)).dictionary_encode(),
        }
    )


def _commit_csv(lake: Lake, commit_id: str, table: pa.Table) -> None:
    path = f"sources/people/ingest_date={D}/{commit_id}.parquet"
    lake.commit(STREAM, commit_id, [PendingFile(path, table, {"ingest_date": str(D)})], {})


def _append(settings: Settings, **kwargs: Any) -> Any:
    load = AppendCommits(
        stream=STREAM, table="people", columns=kwargs.pop("columns", COLUMNS), **kwargs
    )
    with open_warehouse(settings).transaction() as tx:
        return tx.load_source(_lake(settings), load)


def _read(warehouse: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    reader = warehouse.reader()
    try:
        return [tuple(r) for r in reader.execute(sql).rows]
    finally:
        reader.close()


def _loaded(warehouse: Warehouse) -> set[str]:
    rows = _read(warehouse, f"SELECT commit_id FROM raw._source_commits WHERE stream = '{STREAM}'")
    return {str(r[0]) for r in rows}


def _people_rows(warehouse: Warehouse, extra: str = "") -> list[tuple[Any, ...]]:
    return sorted(_read(warehouse, f"SELECT id, name, _source_file{extra} FROM raw.people"))


def _expected(*tables: pa.Table) -> list[tuple[Any, ...]]:
    out = []
    for t in tables:
        files = t.column("_source_file").cast(pa.string()).to_pylist()
        out.extend(
            zip(t.column("id").to_pylist(), t.column("name").to_pylist(), files, strict=True)
        )
    return sorted(out)


def test_source_append_is_idempotent_and_exactly_once(wh_settings: Settings) -> None:
    lake, warehouse = _lake(wh_settings), open_warehouse(wh_settings)
    assert warehouse.source_commits() == {}  # nothing loaded yet
    a, b = _people([1, 2, 3], "a"), _people([4, 5], "b")
    _commit_csv(lake, "c1", a)
    _commit_csv(lake, "c2", b)

    first = _append(wh_settings)
    # what the pipeline reads to know the models' sources changed
    assert warehouse.source_commits() == {STREAM: frozenset({"c1", "c2"})}
    assert (first.table, sorted(first.commits), first.rows) == ("raw.people", ["c1", "c2"], 5)
    assert _people_rows(warehouse) == _expected(a, b)
    # the same commits again, from the lake and as fresh rows: nothing loads twice
    again = _append(wh_settings, fresh={"c1": a})
    assert (again.commits, again.rows) == ((), 0)
    assert _people_rows(warehouse) == _expected(a, b)
    assert _loaded(warehouse) == {"c1", "c2"}

    # a fresh commit whose record is still being written loads from the rows handed over
    c = _people([6], "c")
    fresh = _append(wh_settings, fresh={"c3": c}, ready=lambda: _commit_csv(lake, "c3", c))
    assert (fresh.commits, fresh.rows) == (("c3",), 1)
    assert _people_rows(warehouse) == _expected(a, b, c)
    assert _loaded(warehouse) == {"c1", "c2", "c3"}
    assert warehouse.source_commits() == {STREAM: frozenset({"c1", "c2", "c3"})}


def test_source_append_adds_columns_new_in_the_schema(wh_settings: Settings) -> None:
    lake, warehouse = _lake(wh_settings), open_warehouse(wh_settings)
    old = _people([1, 2], "old")
    _commit_csv(lake, "c1", old)
    _append(wh_settings)
    new = _people([3], "new").append_column("note", pa.array(["hi"]))
    _commit_csv(lake, "c2", new)
    _append(wh_settings, columns=COLUMNS.insert(3, pa.field("note", pa.string())))
    rows = _read(warehouse, "SELECT id, note FROM raw.people")
    assert sorted(rows) == [(1, None), (2, None), (3, "hi")]


def _commit_rest(lake: Lake, commit_id: str, rows: list[dict[str, Any]]) -> SourceFile:
    table = pa.Table.from_pylist([{**r, "_eventlake_commit_id": commit_id} for r in rows])
    path = f"sources/shop/items/{commit_id}.parquet"
    record = lake.commit("sources.shop", commit_id, [PendingFile(path, table)], {})
    [f] = record.files
    return SourceFile(f.path, commit_id, f.rows)


def _latest(settings: Settings, files: list[SourceFile]) -> Any:
    load = LatestByKey(
        stream="sources.shop",
        table="shop__items",
        files=files,
        primary_key=["item_id"],
        cursor="updated_at",
    )
    with open_warehouse(settings).transaction() as tx:
        return tx.load_source(_lake(settings), load)


def _items(warehouse: Warehouse) -> dict[int, tuple[Any, ...]]:
    rows = _read(warehouse, "SELECT item_id, price, label, updated_at FROM raw.shop__items")
    return {int(r[0]): (float(r[1]), r[2], r[3]) for r in rows}


def test_latest_by_key_dedups_repeated_pages_and_keeps_the_latest(wh_settings: Settings) -> None:
    lake, warehouse = _lake(wh_settings), open_warehouse(wh_settings)
    t0, t1, t2 = "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"
    page = [
        {"item_id": 1, "price": 10, "label": "one", "updated_at": t1},
        {"item_id": 2, "price": 20, "label": "two", "updated_at": t1},
        {"item_id": 3, "price": 30, "label": "three", "updated_at": t1},
    ]
    files = [_commit_rest(lake, "r1-000001", page)]
    # the same page sent again in a later commit (a resumed run): same cursor, later commit
    resent = [dict(r, label=r["label"] + "!") for r in page[1:]]
    files.append(_commit_rest(lake, "r2-000001", resent))
    # a later run: item 1 changed (newer cursor), item 2 seen with an OLDER cursor (stale
    # replica): the cursor wins over the commit; a float price widens the column
    later = [
        {"item_id": 1, "price": 11.5, "label": "one v2", "updated_at": t2},
        {"item_id": 2, "price": 99.0, "label": "stale", "updated_at": t0},
        {"item_id": 4, "price": 40.0, "label": "four", "updated_at": None},
    ]
    files.append(_commit_rest(lake, "r3-000001", later))

    expected = {
        1: (11.5, "one v2", t2),
        2: (20.0, "two!", t1),
        3: (30.0, "three!", t1),
        4: (40.0, "four", None),
    }
    first = _latest(wh_settings, files)
    assert (first.table, first.rows) == ("raw.shop__items", 4)
    assert set(first.commits) == {"r1-000001", "r2-000001", "r3-000001"}
    assert _items(warehouse) == expected
    again = _latest(wh_settings, files)  # the same files again: the same table
    assert (again.commits, again.rows) == ((), 4)
    assert _items(warehouse) == expected


def test_latest_by_key_new_generation_replaces_the_table(wh_settings: Settings) -> None:
    lake, warehouse = _lake(wh_settings), open_warehouse(wh_settings)
    t = "2026-03-01T00:00:00Z"
    gen0 = [{"item_id": i, "price": i, "label": f"g0-{i}", "updated_at": t} for i in (1, 2, 3)]
    _latest(wh_settings, [_commit_rest(lake, "r1-000001", gen0)])
    assert set(_items(warehouse)) == {1, 2, 3}
    gen1 = [{"item_id": i, "price": i, "label": f"g1-{i}", "updated_at": t} for i in (1, 2)]
    result = _latest(wh_settings, [_commit_rest(lake, "r2-000001", gen1)])
    assert result.rows == 2
    assert _items(warehouse) == {1: (1.0, "g1-1", t), 2: (2.0, "g1-2", t)}


def test_failed_source_load_publishes_nothing(wh_settings: Settings) -> None:
    """A load that fails once it has written (``ready`` raises after DuckDB's inserts and
    PostgreSQL's COPY; Spark calls it before writing) leaves the table and the bookkeeping
    as they were; the next load brings the commit exactly once."""
    lake, warehouse = _lake(wh_settings), open_warehouse(wh_settings)
    a = _people([1, 2], "a")
    _commit_csv(lake, "c1", a)
    _append(wh_settings)
    b = _people([3, 4, 5], "b")
    _commit_csv(lake, "c2", b)

    def lake_commit_failed() -> None:
        raise RuntimeError("a concurrent lake commit failed")

    with pytest.raises(RuntimeError, match="concurrent lake commit"):
        _append(wh_settings, fresh={"c2": b}, ready=lake_commit_failed)
    assert _people_rows(warehouse) == _expected(a)
    assert _loaded(warehouse) == {"c1"}

    # a rebuild that fails (a file listed but gone) keeps the table it would have replaced
    t = "2026-03-01T00:00:00Z"
    good = _commit_rest(
        lake, "r1-000001", [{"item_id": 1, "price": 1, "label": "x", "updated_at": t}]
    )
    _latest(wh_settings, [good])
    with pytest.raises(WarehouseError, match="gone.parquet"):
        _latest(wh_settings, [good, SourceFile("sources/shop/items/gone.parquet", "r2-000001")])
    assert _items(warehouse) == {1: (1.0, "x", t)}

    retry = _append(wh_settings)
    assert retry.commits == ("c2",)
    assert _people_rows(warehouse) == _expected(a, b)
    assert _loaded(warehouse) == {"c1", "c2"}


def test_view_mode_is_duckdb_only_and_says_what_to_set(wh_settings: Settings) -> None:
    lake, warehouse = _lake(wh_settings), open_warehouse(wh_settings)
    a, b = _people([1, 2], "a"), _people([3], "b")
    _commit_csv(lake, "c1", a)
    _commit_csv(lake, "c2", b)
    setting = "sources.csv.people.load_mode"
    if wh_settings.warehouse.backend != "duckdb":
        with pytest.raises(WarehouseError, match=rf'{setting} = "table"'):
            _append(wh_settings, mode="view", setting=setting)
        return
    result = _append(wh_settings, mode="view", setting=setting)
    assert (sorted(result.commits), result.rows) == (["c1", "c2"], 3)
    assert _people_rows(warehouse) == _expected(a, b)
    kind = _read(
        warehouse,
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'people'",
    )
    assert kind == [("VIEW",)]
