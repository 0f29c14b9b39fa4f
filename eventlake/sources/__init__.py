"""sources stage."""

# REST APIs (eventlake.sources.api): declarative, paginated, incremental, resumable.
from eventlake.sources.api import ApiRunResult, api_source_status, run_api_source

# CSV drop folders (eventlake.sources.csv): a watched folder, a YAML schema, lake + warehouse.
from eventlake.sources.csv import CsvFileOutcome, CsvIngestResult, CsvSource
from eventlake.sources.csv_schema import CsvSchema, load_schema

__all__ = ["CsvFileOutcome", "CsvIngestResult", "CsvSchema", "CsvSource", "load_schema"]
__all__ += ["ApiRunResult", "api_source_status", "run_api_source"]
