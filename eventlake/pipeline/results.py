"""Typed results of the pipeline's verbs: what the CLI prints and ``status`` reads back.

Each result is a plain frozen dataclass with ``to_dict``/``from_dict`` so it can be stored as
one JSON line in the run history (:mod:`eventlake.pipeline.state`) and printed with
``--json``. Dates are ISO strings in the stored form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BackfillResult",
    "LoadBuildResult",
    "RunResult",
    "StageStatus",
    "StatusReport",
    "format_seconds",
    "freshness_between",
    "short_error",
]


@dataclass(frozen=True, slots=True)
class LoadBuildResult:
    """What one warehouse write transaction of a run did: the raw load, then the build.

    ``changed_days`` are the event days whose raw rows were replaced (ISO dates);
    ``full_refresh`` says every day was rebuilt (asked for, or the first build);
    ``skipped_build`` that nothing new arrived, so dbt did not run.
    ``oldest_new_event_at`` is the oldest ``received_at`` (ISO, UTC) of the events this
    transaction loaded for the first time, ``published_at`` when the transaction published
    (both None when no new event was published): their difference is the build's
    freshness (:attr:`freshness_seconds`). ``sources_changed`` are the batch-source
    streams (``sources.<name>``) whose new commits made this build run; ``source_commits``
    the source commits the models are built from once it published (None: not all models
    were built, e.g. a ``--select``, so nothing to record).
    """

    commits_loaded: int = 0
    changed_days: tuple[str, ...] = ()
    raw_rows: int = 0
    full_refresh: bool = False
    skipped_build: bool = False
    models_built: int = 0
    tests_passed: int = 0
    oldest_new_event_at: str | None = None
    published_at: str | None = None
    sources_changed: tuple[str, ...] = ()
    source_commits: Mapping[str, frozenset[str]] | None = None

    @property
    def freshness_seconds(self) -> float | None:
        """Seconds from the collector's acknowledgement of the oldest event this build
        published for the first time to the publish (None: no new event)."""
        return freshness_between(self.oldest_new_event_at, self.published_at)

    def with_build(
        self, *, models_built: int = 0, tests_passed: int = 0, skipped: bool = False
    ) -> LoadBuildResult:
        """This load followed by a build that did that (or was skipped)."""
        return dataclasses.replace(
            self, models_built=models_built, tests_passed=tests_passed, skipped_build=skipped
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    """One pipeline run (``run``, ``build`` or one day of a ``backfill``).

    ``changed_days`` are the event days whose raw rows were replaced and whose incremental
    models were rebuilt; ``landed``/``quarantined`` the rows the lander wrote in this run.
    """

    run_id: str
    kind: str
    ok: bool
    started_at: str
    finished_at: str
    landed: int = 0
    quarantined: int = 0
    commits_loaded: int = 0
    changed_days: tuple[str, ...] = ()
    raw_rows: int = 0
    models_built: int = 0
    tests_passed: int = 0
    full_refresh: bool = False
    skipped_build: bool = False
    error: str | None = None
    oldest_new_event_at: str | None = None
    published_at: str | None = None
    #: where the run was started from: "cli" (a verb), "up" (the supervisor's scheduler)
    trigger: str | None = None
    #: batch-source streams (``sources.<name>``) whose new commits made the models build
    sources_changed: tuple[str, ...] = ()

    @property
    def freshness_seconds(self) -> float | None:
        """The run's freshness: seconds from the collector's 200 for the oldest event the
        published build includes for the first time to the publish (None: no new event)."""
        return freshness_between(self.oldest_new_event_at, self.published_at)

    @property
    def seconds(self) -> float:
        return (
            dt.datetime.fromisoformat(self.finished_at) - dt.datetime.fromisoformat(self.started_at)
        ).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["changed_days"] = list(self.changed_days)
        out["sources_changed"] = list(self.sources_changed)
        out["seconds"] = round(self.seconds, 3)
        fresh = self.freshness_seconds
        out["freshness_seconds"] = None if fresh is None else round(fresh, 3)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["changed_days"] = tuple(kwargs.get("changed_days", ()))
        kwargs["sources_changed"] = tuple(kwargs.get("sources_changed", ()))
        return cls(**kwargs)

    def summary(self) -> str:
        """One line for humans."""
        if not self.ok:
            return (
                f"{self.kind} {self.run_id} FAILED after {self.seconds:.1f} s: "
                f"{short_error(self.error)}"
            )
        days = _days_text(self.changed_days)
        what = (
            "nothing new to build"
            if self.skipped_build
            else f"built {self.models_built} models, {self.tests_passed} tests passed"
        )
        landed = f"landed {self.landed:,} events, {self.quarantined:,} quarantined; "
        fresh = self.freshness_seconds
        freshness = "" if fresh is None else f"; freshness {format_seconds(fresh)}"
        names = ", ".join(s.removeprefix("sources.") for s in self.sources_changed)
        sources = f"; new from sources: {names}" if names else ""
        return (
            f"{self.kind} {self.run_id} ok in {self.seconds:.1f} s: "
            f"{landed if self.kind == 'run' and self.trigger != 'up' else ''}"
            f"loaded {self.commits_loaded} lake "
            f"commits; days rebuilt: {days}{sources}; {what}{freshness}"
        )


def freshness_between(oldest: str | None, published: str | None) -> float | None:
    """Seconds from ``oldest`` to ``published`` (ISO timestamps), None if either is None."""
    if oldest is None or published is None:
        return None
    delta = dt.datetime.fromisoformat(published) - dt.datetime.fromisoformat(oldest)
    return delta.total_seconds()


def format_seconds(seconds: float) -> str:
    """A duration for humans: ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``, ``29 days 3 h``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days {s % 86400 // 3600} h"


def short_error(error: str | None) -> str:
    """The first line of a (possibly multi-line, e.g. dbt's) error, plus its log pointer."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    log = lines[-1][lines[-1].rfind("(log: ") :] if "(log: " in lines[-1] else ""
    return lines[0] if not log or len(lines) == 1 else f"{lines[0]} ... {log}"


def _days_text(days: tuple[str, ...]) -> str:
    if not days:
        return "none"
    if len(days) <= 4:
        return ", ".join(days)
    return f"{days[0]} .. {days[-1]} ({len(days)} days)"


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """A backfill of ``start``..``end``: days done now, days already done before, the failure."""

    start: str
    end: str
    done: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed_day: str | None = None
    error: str | None = None
    runs: tuple[RunResult, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failed_day is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "ok": self.ok,
            "done": list(self.done),
            "skipped": list(self.skipped),
            "failed_day": self.failed_day,
            "error": self.error,
            "runs": [r.to_dict() for r in self.runs],
        }

    def summary(self) -> str:
        head = f"backfill {self.start} .. {self.end}: {len(self.done)} days done"
        if self.skipped:
            head += f", {len(self.skipped)} already done before (resumed)"
        if not self.ok:
            head += f"; FAILED on {self.failed_day}: {short_error(self.error)} (re-run to resume)"
        return head


@dataclass(frozen=True, slots=True)
class StageStatus:
    """One stage's row in ``eventlake status``: a count and what it means."""

    stage: str
    rows: int | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Counts of every stage, their reconciliation, the last runs and the lag."""

    received: int | None
    landed: int
    quarantined: int
    pending_on_bus: int | None
    loaded: int
    not_yet_loaded: int
    modeled: int | None
    duplicates: int
    last_run: RunResult | None = None
    last_success: RunResult | None = None
    newest_event_at: str | None = None
    lag_seconds: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: the newest builds that published new events: (run id, published at, freshness s)
    recent_freshness: tuple[tuple[str, str, float], ...] = field(default_factory=tuple)

    @property
    def stages(self) -> list[StageStatus]:
        return [
            StageStatus("bus", self.received, "events received (both topics)"),
            StageStatus("land", self.landed, "events landed in the lake"),
            StageStatus("quarantine", self.quarantined, "events quarantined, with a reason"),
            StageStatus("raw", self.loaded, "lake rows loaded into raw.events"),
            StageStatus("models", self.modeled, "unique events in staging.stg_events"),
        ]

    def reconciliation(self) -> list[tuple[str, bool | None]]:
        """Each check as a sentence and whether it holds (None: cannot be checked)."""
        checks: list[tuple[str, bool | None]] = []
        if self.received is None:
            checks.append(("received on the bus: unknown (bus not readable)", None))
        else:
            pending = self.pending_on_bus or 0
            checks.append(
                (
                    f"received {self.received:,} = landed {self.landed:,} + quarantined "
                    f"{self.quarantined:,} + waiting on the bus {pending:,}",
                    self.received == self.landed + self.quarantined + pending,
                )
            )
        if self.modeled is None:
            checks.append((f"landed {self.landed:,}; not modeled yet (run `eventlake run`)", None))
        else:
            checks.append(
                (
                    f"landed {self.landed:,} = modeled {self.modeled:,} + duplicates "
                    f"{self.duplicates:,} + not yet loaded {self.not_yet_loaded:,}",
                    self.landed == self.modeled + self.duplicates + self.not_yet_loaded,
                )
            )
        return checks

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [dataclasses.asdict(s) for s in self.stages],
            "received": self.received,
            "landed": self.landed,
            "quarantined": self.quarantined,
            "pending_on_bus": self.pending_on_bus,
            "loaded": self.loaded,
            "not_yet_loaded": self.not_yet_loaded,
            "modeled": self.modeled,
            "duplicates": self.duplicates,
            "reconciliation": [{"check": text, "ok": ok} for text, ok in self.reconciliation()],
            "last_run": self.last_run.to_dict() if self.last_run else None,
            "last_success": self.last_success.to_dict() if self.last_success else None,
            "newest_event_at": self.newest_event_at,
            "lag_seconds": self.lag_seconds,
            "notes": list(self.notes),
            "freshness": [
                {"run_id": r, "published_at": p, "freshness_seconds": round(f, 3)}
                for r, p, f in self.recent_freshness
            ],
        }
