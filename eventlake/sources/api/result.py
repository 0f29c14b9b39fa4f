"""What a REST API source returns: a run's per-resource outcomes, and its saved state.

Both are printed by the CLI and sent as JSON (``to_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ApiRunResult", "ApiSourceStatus", "ResourceResult", "ResourceStatus"]


@dataclass
class ResourceResult:
    """What one run did to one resource."""

    name: str
    table: str
    status: str = "pending"  # ok | failed
    pages: int = 0
    records: int = 0
    files: int = 0
    units_skipped: int = 0
    generation: int = 0
    cursor_before: Any = None
    cursor_after: Any = None
    drift: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class ApiRunResult:
    """The outcome of ``eventlake sources api run NAME`` (printed, and ``--json``)."""

    source: str
    run_id: str
    full_refresh: bool
    resources: list[ResourceResult]
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0  # the whole run
    extract_seconds: float = 0.0  # HTTP and lake commits, before the warehouse load
    loaded: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.resources)

    @property
    def drift(self) -> list[str]:
        return [d for r in self.resources for d in r.drift]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


@dataclass(frozen=True)
class ResourceStatus:
    """The saved state of one resource (``eventlake sources api status``)."""

    name: str
    table: str  # schema-qualified: raw.<table>
    cursor: Any
    generation: int
    last_completed_run: str | None
    last_completed_at: float | None
    lake_rows: int
    lake_files: int
    columns: int
    interrupted_runs: list[str]
    resumable_units: int


@dataclass(frozen=True)
class ApiSourceStatus:
    """The saved state of a source: its commits and every resource's state."""

    source: str
    commits: int
    resources: list[ResourceStatus]

    def resource(self, name: str) -> ResourceStatus:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
