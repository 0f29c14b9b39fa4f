"""What ``/healthz`` and ``/metrics`` report about the running pipeline (common core).

A :class:`HealthReport` is one snapshot: the supervisor's children (each one's state and
restarts), whether the bus can be written, the lander's lag, and the last successful build
with its age and freshness. ``eventlake up`` makes them (``eventlake/up/health.py``) and
hands a :data:`HealthSource` to the collector and serve apps it starts, which only read
it: the stages never import the supervisor.

The HTTP status a health endpoint answers follows :meth:`HealthReport.failing`: 503 when
the pipeline cannot accept events (the bus cannot be written). Children that are
restarting, crash-looping, a lagging lander or a failed last build make the report
``degraded`` but keep the 200: a load balancer must not take a working collector out of
rotation because a build failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChildHealth", "HealthReport", "HealthSource"]


@dataclass(frozen=True, slots=True)
class ChildHealth:
    """One supervised child: ``state`` is starting, running, backoff (died, restart
    pending), stopping or stopped; ``restarts`` counts every restart since the supervisor
    started, ``recent_restarts`` those within the crash-loop window."""

    name: str
    role: str
    state: str
    pid: int | None
    restarts: int
    recent_restarts: int
    crash_loop: bool
    started_at: str | None = None
    last_exit: str | None = None
    last_exit_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "recent_restarts": self.recent_restarts,
            "crash_loop": self.crash_loop,
            "started_at": self.started_at,
            "last_exit": self.last_exit,
            "last_exit_at": self.last_exit_at,
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One snapshot of the pipeline's health.

    ``children`` is None when no supervisor runs this process (a bare ``eventlake serve``);
    ``supervisor_alive`` whether its state file was refreshed lately. ``bus_writable`` is
    None when this endpoint does not check the bus. ``lander_lag_records``: bus records
    not in the lake yet (None: unknown, e.g. on Kafka). ``last_build_*`` describe the
    newest successful model run; ``last_run_error`` the newest run's error when it failed.
    """

    children: tuple[ChildHealth, ...] | None = None
    supervisor_alive: bool | None = None
    bus_writable: bool | None = None
    bus_detail: str | None = None
    lander_lag_records: int | None = None
    last_build_at: str | None = None
    last_build_age_seconds: float | None = None
    last_build_freshness_seconds: float | None = None
    last_run_error: str | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)

    def failing(self) -> bool:
        """The pipeline cannot accept events now (answer 503)."""
        return self.bus_writable is False

    @property
    def status(self) -> str:
        """``ok``, ``degraded`` (see ``problems``) or ``failing``."""
        if self.failing():
            return "failing"
        return "degraded" if self.problems else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "problems": list(self.problems),
            "supervisor": None
            if self.children is None
            else {
                "alive": self.supervisor_alive,
                "children": [c.to_dict() for c in self.children],
            },
            "bus": None
            if self.bus_writable is None
            else {"writable": self.bus_writable, "detail": self.bus_detail},
            "lander": {"lag_records": self.lander_lag_records},
            "last_build": None
            if self.last_build_at is None
            else {
                "finished_at": self.last_build_at,
                "age_seconds": self.last_build_age_seconds,
                "freshness_seconds": self.last_build_freshness_seconds,
            },
            "last_run_error": self.last_run_error,
        }


#: Called by a health endpoint for a fresh snapshot (blocking I/O: run it in a thread).
HealthSource = Callable[[], HealthReport]
