"""Which warehouse tables each configured batch source loads (for the pipeline's selection).

``eventlake run`` builds a project's own models after the sources they read: when a
source's stream (``sources.<name>``) brought commits the models were not built from, the
models that read that source's raw tables are rebuilt. This module names those tables from
the configuration alone (no lake, no warehouse): a CSV source's ``table``, a REST source's
``raw.<table>`` per resource of its definition.
"""

from __future__ import annotations

from eventlake.config import Settings
from eventlake.sources.api.extract import table_name
from eventlake.sources.api.spec import load_definition
from eventlake.sources.api.state import stream_name
from eventlake.warehouse.source_tables import split_table

__all__ = ["source_tables"]


def source_tables(settings: Settings) -> dict[str, tuple[tuple[str, str], ...]]:
    """Lake stream -> the ``(schema, table)`` pairs its source loads, for every configured
    CSV and REST source.

    Raises:
        ConfigError: a REST definition cannot be read (the file and key are named).
    """
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for name, csv in sorted(settings.sources.csv.items()):
        out[stream_name(name)] = (split_table(csv.table),)
    for name, api in sorted(settings.sources.api.items()):
        definition = load_definition(settings.resolve(api.definition), base_url=api.base_url)
        out[stream_name(name)] = tuple(
            split_table(table_name(name, resource, spec))
            for resource, spec in sorted(definition.resources.items())
        )
    return out
