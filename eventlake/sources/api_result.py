"""What a REST API source run returns: per-resource outcomes, printed and sent as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ApiRunResult", "ResourceResult"]


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
