"""The pipeline: sequence the stages for a run, a backfill or a full build; report status.

``run`` lands what is on the bus, loads the lake's new commits into the raw layer and
rebuilds exactly the event days that received rows (late events included), and the
project's own models that read a batch source with new rows; ``backfill``
does the same day by day over a range, resumably; ``build`` rebuilds the models;
``collect_status`` counts every stage and reconciles them. Each returns a typed result
that the CLI prints and the run history records. The pipeline only sequences: the
warehouse is reached through its protocol (``eventlake.warehouse.open_warehouse``), never
with SQL or a branch on the engine.
"""

from __future__ import annotations

from eventlake.pipeline.results import (
    BackfillResult,
    LoadBuildResult,
    RunResult,
    StageStatus,
    StatusReport,
)
from eventlake.pipeline.run import (
    SourceTracking,
    backfill,
    build,
    days_between,
    load_and_build,
    run,
)
from eventlake.pipeline.state import PipelineState
from eventlake.pipeline.status import collect_status

__all__ = [
    "BackfillResult",
    "LoadBuildResult",
    "PipelineState",
    "RunResult",
    "SourceTracking",
    "StageStatus",
    "StatusReport",
    "backfill",
    "build",
    "collect_status",
    "days_between",
    "load_and_build",
    "run",
]
