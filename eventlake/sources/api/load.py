"""What a REST API source asks the warehouse to load: one deduplicated raw table per resource.

Each resource that completed a run becomes ``raw.<table>`` (default
``<source>__<resource>``), rebuilt from the committed Parquet files of its current
generation: one row per primary key, the latest by the incremental cursor winning, then the
latest commit (:class:`~eventlake.warehouse.source_tables.LatestByKey`). Rebuilding from
the lake (rather than appending) is what makes a crashed, resumed or repeated run harmless.
The engine does the rebuild (:meth:`~eventlake.warehouse.base.WriteTransaction.load_source`);
all tables of a run are loaded in one write transaction (on DuckDB, readers see all of them
change together or none).
"""

from __future__ import annotations

from collections.abc import Sequence

from eventlake.sources.api.result import ResourceResult
from eventlake.sources.api.spec import ApiDefinition
from eventlake.sources.api.state import SourceState, stream_name
from eventlake.warehouse.source_tables import LatestByKey, SourceFile

__all__ = ["COMMIT_COLUMN", "EXTRACTED_COLUMN", "column_name", "table_loads"]

#: Columns every landed row carries: its lake commit and when it was extracted (UTC).
COMMIT_COLUMN = "_eventlake_commit_id"
EXTRACTED_COLUMN = "_eventlake_extracted_at"


def column_name(dotted_field: str) -> str:
    """The flattened column of a dotted record field (``a.b`` -> ``a__b``)."""
    return dotted_field.replace(".", "__")


def table_loads(
    source: str,
    definition: ApiDefinition,
    state: SourceState,
    resources: Sequence[ResourceResult],
) -> list[LatestByKey]:
    """The raw tables to rebuild after a run: those of ``resources`` that completed."""
    loads = []
    for r in resources:
        if r.status != "ok":
            continue
        spec = definition.resources[r.name]
        rs = state.of(r.name)
        rows = {(path, cid): n for _, path, n, cid in rs.files}
        loads.append(
            LatestByKey(
                stream=stream_name(source),
                table=r.table,
                files=[SourceFile(p, c, rows.get((p, c), 0)) for p, c in rs.current_files()],
                primary_key=[column_name(k) for k in spec.primary_key],
                cursor=column_name(spec.incremental.cursor_field) if spec.incremental else None,
                commit_column=COMMIT_COLUMN,
            )
        )
    return loads
