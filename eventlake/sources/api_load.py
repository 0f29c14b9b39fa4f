"""Load a REST API source's lake files into warehouse raw tables, deduplicated.

Each resource becomes ``raw.<table>`` (default ``<source>__<resource>``), rebuilt from the
committed Parquet files of its current generation: one row per primary key, the latest by
the incremental cursor winning, then the latest commit. Rebuilding from the lake (rather
than appending) is what makes a crashed or repeated run harmless. All tables of a run are
replaced in one warehouse transaction (copy, change, atomic publish), so readers see all of
them change together or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from eventlake.errors import WarehouseError
from eventlake.lake import Lake
from eventlake.warehouse.duckdb import write_transaction

__all__ = ["COMMIT_COLUMN", "EXTRACTED_COLUMN", "TableLoad", "column_name", "load_tables"]

COMMIT_COLUMN = "_eventlake_commit_id"
EXTRACTED_COLUMN = "_eventlake_extracted_at"


def column_name(dotted_field: str) -> str:
    """The flattened column of a dotted record field (``a.b`` -> ``a__b``)."""
    return dotted_field.replace(".", "__")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class TableLoad:
    """One raw table to rebuild from lake files (paths relative to the lake root)."""

    table: str
    files: Sequence[str]
    primary_key: Sequence[str]
    cursor: str | None


def load_tables(warehouse: Path, lake: Lake, loads: Sequence[TableLoad]) -> dict[str, int]:
    """Rebuild every ``raw.<table>`` in one transaction; returns rows per table.

    Raises:
        WarehouseError: DuckDB refused a statement (the table is named).
    """
    import duckdb

    counts: dict[str, int] = {}
    todo = [t for t in loads if t.files]
    if not todo:
        return counts
    with write_transaction(warehouse) as work:
        con = duckdb.connect(str(work))
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")
            for t in todo:
                try:
                    counts[t.table] = _load_one(con, lake, t)
                except duckdb.Error as exc:
                    raise WarehouseError(f"cannot load raw.{t.table}: {exc}") from exc
        finally:
            con.close()
    return counts


def _load_one(con: object, lake: Lake, t: TableLoad) -> int:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    if lake.is_local:
        paths = [lake.local_path(p) for p in t.files]
        source = f"read_parquet({paths!r}, union_by_name = true)"
    else:
        tables = [pq.read_table(lake.path(p), filesystem=lake.fs) for p in t.files]
        con.register("_api_load", pa.concat_tables(tables, promote_options="permissive"))
        source = "_api_load"
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    missing = [k for k in t.primary_key if k not in present]
    if missing:
        raise WarehouseError(
            f"raw.{t.table}: primary key column(s) {missing} are not in the data "
            f"(columns: {sorted(present)[:20]})"
        )
    order = [f"{_ident(COMMIT_COLUMN)} DESC"]
    if t.cursor and t.cursor in present:
        order.insert(0, f"{_ident(t.cursor)} DESC NULLS LAST")
    pk = ", ".join(_ident(k) for k in t.primary_key)
    con.execute(
        f"CREATE OR REPLACE TABLE raw.{_ident(t.table)} AS "
        f"SELECT * EXCLUDE (_eventlake_rn) FROM ("
        f"SELECT *, row_number() OVER (PARTITION BY {pk} ORDER BY {', '.join(order)}) "
        f"AS _eventlake_rn FROM {source}) WHERE _eventlake_rn = 1"
    )
    if not lake.is_local:
        con.unregister("_api_load")
    row = con.execute(f"SELECT count(*) FROM raw.{_ident(t.table)}").fetchone()
    return int(row[0]) if row else 0
