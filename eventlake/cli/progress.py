"""Stage-by-stage progress of a pipeline run on a terminal (`eventlake run`, `build`).

The pipeline calls ``on_stage(name)`` as each stage starts; this shows a spinner with what
is happening and, as the next stage starts, a line for the one that finished with its
time. Quiet when stderr is not a terminal or the command prints JSON, so scripts and logs
get only the final result.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

__all__ = ["STAGE_LABELS", "StageProgress"]

STAGE_LABELS = {
    "land": "landing what waits on the bus",
    "load": "loading new lake files into the raw layer",
    "build": "building the models and running their tests (dbt)",
}


class StageProgress:
    """A context manager and the ``on_stage`` callback of one pipeline call."""

    def __init__(self, *, enabled: bool = True, console: Any = None) -> None:
        from rich.console import Console

        self.console = console if console is not None else Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self._status: Any = None
        self._current: str | None = None
        self._started = 0.0

    def __call__(self, stage: str) -> None:
        if not self.enabled:
            return
        self._finish()
        self._current, self._started = stage, time.monotonic()
        label = STAGE_LABELS.get(stage, stage)
        if self._status is None:
            self._status = self.console.status(label, spinner="dots")
            self._status.start()
        else:
            self._status.update(label)

    def _finish(self) -> None:
        if self._current is not None:
            seconds = time.monotonic() - self._started
            label = STAGE_LABELS.get(self._current, self._current)
            self.console.print(f"[green]done[/green] {label} ({seconds:.1f} s)", highlight=False)
            self._current = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
        if exc is None:
            self._finish()
