"""REST API sources: a YAML definition, paginated and incremental extraction, lake + warehouse.

- :class:`ApiSource` (``source.py``): one source (``[sources.api.<name>]``);
  :func:`open_api_source` builds it from the settings, :func:`run_api_source` and
  :func:`api_source_status` are what ``eventlake sources api run / status`` call;
- ``spec.py`` (the definition), ``extract.py`` (the asyncio engine), ``http.py`` (fetcher,
  retries, rate limiter), ``paginate.py``, ``normalize.py`` (flattening, types, drift),
  ``sink.py`` (chunk commits), ``state.py`` (state replayed from commit records);
- ``load.py``: the raw tables to rebuild, one row per primary key, which the engine loads
  through :meth:`~eventlake.warehouse.base.WriteTransaction.load_source`;
- ``result.py``: :class:`ApiRunResult` and :class:`ApiSourceStatus`.
"""

from __future__ import annotations

from eventlake.sources.api.result import (
    ApiRunResult,
    ApiSourceStatus,
    ResourceResult,
    ResourceStatus,
)
from eventlake.sources.api.source import (
    ApiSource,
    api_source_status,
    open_api_source,
    run_api_source,
)
from eventlake.sources.api.spec import ApiDefinition, load_definition

__all__ = [
    "ApiDefinition",
    "ApiRunResult",
    "ApiSource",
    "ApiSourceStatus",
    "ResourceResult",
    "ResourceStatus",
    "api_source_status",
    "load_definition",
    "open_api_source",
    "run_api_source",
]
