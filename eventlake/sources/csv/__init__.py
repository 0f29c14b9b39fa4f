"""CSV drop folders: dropped files cleaned, validated against a YAML schema, lake + warehouse.

- :class:`CsvSource` (``source.py``): one dataset (``[sources.csv.<name>]``);
  :func:`open_csv_source` builds it from the settings; :meth:`CsvSource.ingest` (once) and
  :meth:`CsvSource.watch` (as files arrive, ``watch.py``);
- ``clean.py`` (encoding, delimiter, header), ``batch.py`` (many files parsed and validated
  as columns), ``convert.py`` (one file, every problem with its row and line),
  ``schema.py`` (the YAML schema), ``result.py`` (typed outcomes);
- ``commit.py``: the passed rows as lake commits, then one warehouse load through the
  engine's :meth:`~eventlake.warehouse.base.WriteTransaction.load_source`; ``files.py``:
  lake paths, loaded hashes, the failed/archive folders and ``ingest.log``.

The sample data of the docs and tests lives outside the package, in
``examples/students/student_data.py``.
"""

from __future__ import annotations

from eventlake.sources.csv.result import CsvFileOutcome, CsvIngestResult, Outcome, is_candidate
from eventlake.sources.csv.schema import CsvSchema, load_schema, parse_schema
from eventlake.sources.csv.source import CsvSource, open_csv_source, resolved_csv_config
from eventlake.sources.csv.watch import DropFolderWatcher

__all__ = [
    "CsvFileOutcome",
    "CsvIngestResult",
    "CsvSchema",
    "CsvSource",
    "DropFolderWatcher",
    "Outcome",
    "is_candidate",
    "load_schema",
    "open_csv_source",
    "parse_schema",
    "resolved_csv_config",
]
