"""Spark's loads of batch-source commits (``warehouse/source_tables.py``); private to
``spark.py``.

Spark has no transactions, so exactly-once comes from idempotent writes instead:

- :class:`~eventlake.warehouse.source_tables.AppendCommits` (``table`` mode): ``raw.<table>``
  is a Parquet table partitioned by ``_source_commit``, the lake commit each row came from
  (the one column it has beyond DuckDB's and PostgreSQL's table). Each missing commit's
  rows are written with a dynamic-partition ``INSERT OVERWRITE`` of that commit's
  partition, then the commit is recorded in ``raw._source_commits``. A load that dies
  between the two has recorded nothing, and the next one overwrites the same partitions:
  no commit is ever loaded twice. The caller's ``ready`` is called before anything is
  written (a partition of a commit that then never reached the lake would stay). ``view``
  mode is refused (the Spark reader reads table files, not views).
- :class:`~eventlake.warehouse.source_tables.LatestByKey`: the files are read with pyarrow
  (any lake filesystem; unified schema), handed to Spark as Arrow, ranked with
  ``row_number()`` and written over ``raw.<table>`` (``saveAsTable`` in overwrite mode).

The rows of one load pass through the driver as one Arrow table: size the driver for the
largest commit (appends) or the largest resource (rebuilds).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import Lake
from eventlake.warehouse._spark_raw import _TYPE_NAMES, spark_type
from eventlake.warehouse.raw import columns_ddl
from eventlake.warehouse.source_tables import (
    SOURCE_COMMITS_SCHEMA,
    SOURCE_COMMITS_TABLE,
    AppendCommits,
    LatestByKey,
    SourceLoad,
    SourceLoadResult,
    conform,
    missing_commits,
    new_file_commits,
    pending_batch,
    read_conformed,
    read_schema,
    split_table,
    view_refused,
)

__all__ = ["COMMIT_PARTITION", "load_source"]

#: The partition column of an appended source table on Spark: the row's lake commit.
COMMIT_PARTITION = "_source_commit"
_COMMITS = f"raw.`{SOURCE_COMMITS_TABLE}`"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Session:
    """The SparkSession, with errors turned into WarehouseError naming the table."""

    def __init__(self, spark: Any, target: str, qualified: str) -> None:
        self.spark = spark
        self.target = target
        self.qualified = qualified

    def sql(self, sql: str) -> list[Any]:
        try:
            return list(self.spark.sql(sql).collect())
        except Exception as exc:  # pyspark's AnalysisException & py4j errors
            raise WarehouseError(f"cannot load {self.target} into Spark: {exc}") from exc


def load_source(spark: Any, lake: Lake, load: SourceLoad) -> SourceLoadResult:
    """Run ``load`` in the process's SparkSession (see the module docstring)."""
    schema, name = split_table(load.table)
    target = f"{_ident(schema)}.{_ident(name)}"
    if isinstance(load, AppendCommits) and load.mode == "view":
        raise view_refused("Spark", target, load)
    qualified = f"{schema}.{name}"
    session = _Session(spark, target, qualified)
    session.sql("CREATE DATABASE IF NOT EXISTS raw")
    session.sql(f"CREATE DATABASE IF NOT EXISTS {_ident(schema)}")
    session.sql(
        f"CREATE TABLE IF NOT EXISTS {_COMMITS} "
        f"({columns_ddl(SOURCE_COMMITS_SCHEMA, _TYPE_NAMES, quote='`', constraints=False)}) "
        "USING parquet"
    )
    if isinstance(load, AppendCommits):
        commits, rows = _append(session, lake, load)
    else:
        commits, rows = _latest_by_key(session, lake, load)
    return SourceLoadResult(qualified, commits, rows)


def _done(session: _Session, stream: str) -> set[str]:
    rows = session.sql(f"SELECT commit_id FROM {_COMMITS} WHERE stream = {_literal(stream)}")
    return {str(r[0]) for r in rows}


def _record(session: _Session, stream: str, rows_by_commit: dict[str, int]) -> None:
    if not rows_by_commit:
        return
    now = dt.datetime.now(dt.UTC)
    rows = [(stream, cid, int(n), now) for cid, n in rows_by_commit.items()]
    ddl = columns_ddl(SOURCE_COMMITS_SCHEMA, _TYPE_NAMES, quote="`", constraints=False)
    try:
        session.spark.createDataFrame(rows, schema=ddl).write.insertInto(_COMMITS)
    except Exception as exc:
        raise WarehouseError(f"cannot record loaded commits of {stream} in Spark: {exc}") from exc


def _append(session: _Session, lake: Lake, load: AppendCommits) -> tuple[tuple[str, ...], int]:
    target = session.target
    if load.ready is not None:
        load.ready()  # before any partition is written: see the module docstring
    missing = missing_commits(lake, load, _done(session, load.stream))
    if not missing:
        return (), 0
    cols = ", ".join(f"{_ident(f.name)} {spark_type(f.type)}" for f in load.columns)
    session.sql(
        f"CREATE TABLE IF NOT EXISTS {target} ({cols}, {_ident(COMMIT_PARTITION)} STRING) "
        f"USING parquet PARTITIONED BY ({_ident(COMMIT_PARTITION)})"
    )
    have = {str(c.name) for c in session.spark.catalog.listColumns(session.qualified)}
    new = [f for f in load.columns if f.name not in have]
    if new:  # additive schema evolution, as on DuckDB
        added = ", ".join(f"{_ident(f.name)} {spark_type(f.type)}" for f in new)
        session.sql(f"ALTER TABLE {target} ADD COLUMNS ({added})")
    fields = session.spark.table(target).schema.fields
    known = {f.name for f in fields}
    parts, rows_by_commit = [], {}
    for cid in missing:
        batch = pending_batch(lake, load, cid, known=known, target=target)
        typed = conform(batch, _arrow_schema(batch, load.columns))
        parts.append(typed.append_column(COMMIT_PARTITION, pa.array([cid] * typed.num_rows)))
        rows_by_commit[cid] = batch.num_rows
    arrow = pa.concat_tables(parts, promote_options="permissive")
    select = [
        f"CAST({_ident(f.name)} AS {f.dataType.simpleString()}) AS {_ident(f.name)}"
        if f.name in arrow.column_names
        else f"CAST(NULL AS {f.dataType.simpleString()}) AS {_ident(f.name)}"
        for f in fields
    ]
    try:
        df = session.spark.createDataFrame(arrow).selectExpr(*select)
        df.write.option("partitionOverwriteMode", "dynamic").insertInto(target, overwrite=True)
    except Exception as exc:
        raise WarehouseError(f"cannot load {target} into Spark: {exc}") from exc
    _record(session, load.stream, rows_by_commit)
    return tuple(missing), sum(rows_by_commit.values())


def _arrow_schema(batch: pa.Table, columns: pa.Schema) -> pa.Schema:
    """The batch's own columns, typed as the load declares them where it does."""
    fields = []
    for f in batch.schema:
        if f.name in columns.names:
            fields.append(columns.field(f.name))
        elif pa.types.is_dictionary(f.type):
            fields.append(pa.field(f.name, f.type.value_type))
        else:
            fields.append(f)
    return pa.schema(fields)


def _latest_by_key(session: _Session, lake: Lake, load: LatestByKey) -> tuple[tuple[str, ...], int]:
    target = session.target
    if not load.files:
        return (), 0
    schema = read_schema(lake, load.files)
    missing = [k for k in load.primary_key if k not in schema.names]
    if missing:
        raise WarehouseError(
            f"{target}: primary key column(s) {missing} are not in the data "
            f"(columns: {sorted(schema.names)[:20]})"
        )
    arrow = pa.concat_tables(list(read_conformed(lake, load.files, schema)))
    order = [f"{_ident(load.commit_column)} DESC"]
    if load.cursor and load.cursor in schema.names:
        order.insert(0, f"{_ident(load.cursor)} DESC NULLS LAST")
    pk = ", ".join(_ident(k) for k in load.primary_key)
    columns = ", ".join(_ident(n) for n in schema.names)
    view = "_eventlake_source_rows"
    try:
        session.spark.createDataFrame(arrow).createOrReplaceTempView(view)
        ranked = session.spark.sql(
            f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY {pk} "
            f"ORDER BY {', '.join(order)}) AS _eventlake_rn FROM {view}) WHERE _eventlake_rn = 1"
        )
        ranked.write.mode("overwrite").format("parquet").saveAsTable(target)
        rows = int(session.spark.table(target).count())
    except Exception as exc:
        raise WarehouseError(f"cannot load {target} into Spark: {exc}") from exc
    finally:
        session.spark.catalog.dropTempView(view)
    new = new_file_commits(load, _done(session, load.stream))
    _record(session, load.stream, new)
    return tuple(sorted(new)), rows
