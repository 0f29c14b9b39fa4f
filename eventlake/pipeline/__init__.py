"""The pipeline: sequence the stages for a run, a backfill or a full build; report status.

``run`` lands what is on the bus, loads the lake's new commits into the raw layer and
rebuilds exactly the event days that received rows (late events included); ``backfill``
does the same day by day over a range, resumably; ``build`` rebuilds the models;
``collect_status`` counts every stage and reconciles them. Each returns a typed result
that the CLI prints and the run history records.
"""

from __future__ import annotations

from eventlake.pipeline.results import BackfillResult, RunResult, StageStatus, StatusReport
from eventlake.pipeline.run import backfill, build, days_between, load_and_build, run
from eventlake.pipeline.state import PipelineState
from eventlake.pipeline.status import collect_status

__all__ = [
    "BackfillResult",
    "PipelineState",
    "RunResult",
    "StageStatus",
    "StatusReport",
    "backfill",
    "build",
    "collect_status",
    "days_between",
    "load_and_build",
    "run",
]
