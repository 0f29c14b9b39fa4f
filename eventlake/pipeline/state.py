"""Durable pipeline state: the run history and each backfill's per-day progress.

Kept as files under ``[warehouse] state_dir`` (default ``data/pipeline``), outside the
warehouse, because a failed run must be recorded even though its warehouse copy is thrown
away:

- ``runs.jsonl``: one :class:`~eventlake.pipeline.results.RunResult` per line, appended and
  fsynced (a torn last line after a crash is ignored on read);
- ``backfill-<start>--<end>.json``: the days of that backfill already published, rewritten
  atomically (temp file, fsync, ``os.replace``) after each day;
- ``built-sources.json``: the batch-source commits (by stream) the published models were
  last built from, rewritten atomically after each build of every model: a source commit
  not in it makes the next ``eventlake run`` build the models that read that source.

A crash between a day's warehouse publish and its progress write only means that day is
redone on resume, which is harmless because every day is idempotent; likewise a crash
between a build's publish and ``built-sources.json`` only means one more build.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from eventlake.config import Settings
from eventlake.errors import EventlakeError
from eventlake.fsutil import write_atomic
from eventlake.pipeline.results import RunResult

__all__ = ["PipelineState"]

_RUNS = "runs.jsonl"
_BUILT_SOURCES = "built-sources.json"


class PipelineState:
    """The state folder of one project. Safe for one writer at a time (the warehouse lock)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @classmethod
    def for_settings(cls, settings: Settings) -> PipelineState:
        """The state folder ``[warehouse] state_dir`` of ``settings``."""
        return cls(settings.resolve(settings.warehouse.state_dir))

    def _ensure(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EventlakeError(f"cannot create pipeline state folder {self.dir}: {exc}") from exc

    # -- run history ---------------------------------------------------------------------
    def record_run(self, result: RunResult) -> None:
        """Append ``result`` to the history; durable on return."""
        self._ensure()
        line = json.dumps(result.to_dict(), sort_keys=True) + "\n"
        with open(self.dir / _RUNS, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def runs(self, limit: int | None = None) -> list[RunResult]:
        """The recorded runs, oldest first (the last ``limit`` when given)."""
        path = self.dir / _RUNS
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(RunResult.from_dict(json.loads(line)))
            except (ValueError, TypeError, KeyError):
                continue  # a torn last line from a crash mid-append
        return out[-limit:] if limit else out

    def last_run(self, *, ok: bool | None = None) -> RunResult | None:
        """The newest run (the newest successful one with ``ok=True``).

        Reads the history from its end, so it costs the same however long the history of
        a long-running ``eventlake up`` has grown.
        """
        for run in self.recent_runs():
            if ok is None or run.ok == ok:
                return run
        return None

    def recent_runs(self, chunk: int = 64 * 1024) -> Iterator[RunResult]:
        """The recorded runs, newest first, read backwards from the end of the file."""
        path = self.dir / _RUNS
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            return
        with fh:
            end = fh.seek(0, os.SEEK_END)
            tail = b""
            while end > 0 or tail:
                start = max(0, end - chunk)
                if end > 0:
                    fh.seek(start)
                    tail = fh.read(end - start) + tail
                    end = start
                lines = tail.split(b"\n")
                # the first piece may be a partial line unless we reached the file's start
                tail = lines.pop(0) if end > 0 else b""
                for line in reversed(lines):
                    if not line.strip():
                        continue
                    try:
                        yield RunResult.from_dict(json.loads(line))
                    except (ValueError, TypeError, KeyError):
                        continue  # a torn line from a crash mid-append
                if end == 0 and not tail:
                    break

    # -- what the models were built from -------------------------------------------------
    def built_sources(self) -> dict[str, frozenset[str]]:
        """Stream -> the batch-source commit ids the published models were built from
        (empty before the first build; an unreadable file counts as empty: one more build)."""
        try:
            data = json.loads((self.dir / _BUILT_SOURCES).read_text(encoding="utf-8"))
            streams = data["streams"]
            return {str(k): frozenset(str(c) for c in v) for k, v in streams.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def record_built_sources(self, commits: Mapping[str, frozenset[str]]) -> None:
        """Record the source commits a published build of every model read; durable on
        return."""
        self._ensure()
        body = {
            "streams": {k: sorted(v) for k, v in sorted(commits.items())},
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        write_atomic(self.dir / _BUILT_SOURCES, json.dumps(body, indent=1).encode())

    # -- backfill progress ---------------------------------------------------------------
    def _backfill_path(self, start: dt.date, end: dt.date) -> Path:
        return self.dir / f"backfill-{start.isoformat()}--{end.isoformat()}.json"

    def backfill_done(self, start: dt.date, end: dt.date) -> set[dt.date]:
        """Days of the backfill ``start``..``end`` already published."""
        path = self._backfill_path(start, end)
        if not path.exists():
            return set()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EventlakeError(
                f"cannot read backfill progress {path}: {exc}; delete it to start over"
            ) from exc
        return {dt.date.fromisoformat(d) for d in data.get("done", [])}

    def mark_backfill_day(self, start: dt.date, end: dt.date, day: dt.date) -> None:
        """Record that ``day`` of the backfill is published; durable on return."""
        self._ensure()
        done = self.backfill_done(start, end) | {day}
        body = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "done": sorted(d.isoformat() for d in done),
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        write_atomic(self._backfill_path(start, end), json.dumps(body, indent=1).encode())

    def reset_backfill(self, start: dt.date, end: dt.date) -> None:
        """Forget the progress of ``start``..``end`` (``backfill --restart``)."""
        self._backfill_path(start, end).unlink(missing_ok=True)
