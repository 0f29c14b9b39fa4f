"""The supervisor's state file: what each child is doing, for /healthz and ``status``.

``eventlake up`` rewrites ``<warehouse.state_dir>/up.json`` (``up-<roles>.json`` for
``--role``) atomically whenever a child changes state and every couple of seconds besides
(the heartbeat). Readers (the collector's and serve's /healthz, ``eventlake status``) never
talk to the supervisor: they read this file, and a heartbeat older than
:data:`STALE_SECONDS` means the supervisor is gone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventlake.config import Settings
from eventlake.fsutil import temp_name
from eventlake.health import ChildHealth

__all__ = [
    "STALE_SECONDS",
    "STATE_ENV",
    "SupervisorState",
    "read_state",
    "state_files",
    "state_path",
    "write_state",
]

#: Environment variable through which children learn where the state file is.
STATE_ENV = "EVENTLAKE_UP_STATE"
#: A state file not rewritten for this long belongs to a supervisor that is gone.
STALE_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class SupervisorState:
    """One snapshot of a supervisor: its process, roles and children."""

    pid: int
    roles: tuple[str, ...]
    started_at: str
    updated_at: str
    stopping: bool = False
    children: tuple[ChildHealth, ...] = field(default_factory=tuple)

    def age_seconds(self, now: dt.datetime | None = None) -> float:
        """Seconds since the supervisor last wrote the file."""
        now = now or dt.datetime.now(dt.UTC)
        return (now - dt.datetime.fromisoformat(self.updated_at)).total_seconds()

    def alive(self) -> bool:
        """Whether the supervisor wrote the file lately."""
        return self.age_seconds() < STALE_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "roles": list(self.roles),
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "stopping": self.stopping,
            "children": [c.to_dict() for c in self.children],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SupervisorState:
        return cls(
            pid=int(data["pid"]),
            roles=tuple(data.get("roles", ())),
            started_at=str(data["started_at"]),
            updated_at=str(data["updated_at"]),
            stopping=bool(data.get("stopping", False)),
            children=tuple(ChildHealth(**c) for c in data.get("children", ())),
        )


def state_path(settings: Settings, roles: tuple[str, ...] | None = None) -> Path:
    """The state file of a supervisor running ``roles`` (None: every role)."""
    folder = settings.resolve(settings.warehouse.state_dir)
    name = "up.json" if not roles else "up-" + "-".join(sorted(roles)) + ".json"
    return folder / name


def state_files(settings: Settings) -> list[Path]:
    """Every supervisor state file of the project (one per combination of roles)."""
    folder = settings.resolve(settings.warehouse.state_dir)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("up*.json"))


def write_state(path: Path, state: SupervisorState) -> None:
    """Replace the state file atomically (not fsynced: it describes the running moment,
    and a lost heartbeat is rewritten two seconds later)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    tmp.write_bytes(json.dumps(state.to_dict(), indent=1).encode())
    os.replace(tmp, path)


def read_state(path: Path | str | None = None) -> SupervisorState | None:
    """The state in ``path`` (default: ``$EVENTLAKE_UP_STATE``); None if absent or torn."""
    if path is None:
        env = os.environ.get(STATE_ENV)
        if not env:
            return None
        path = env
    try:
        return SupervisorState.from_dict(json.loads(Path(path).read_bytes()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
