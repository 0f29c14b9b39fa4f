"""Watch mode of the CSV drop source: ingest files as they arrive, once they are complete.

Filesystem events (watchdog: inotify on Linux) tell which names appeared or changed; a full
rescan every ``rescan_seconds`` is the safety net for missed events (network filesystems,
overflowed queues, files present at start). A file is read only when complete:

- written under a temporary or hidden name (``.x``, ``~x``, ``*.tmp``, ``*.part``...) and
  renamed: ignored until the rename, then read after the stability wait;
- written in place: read once its size and mtime have not changed for ``stable_seconds``.

Each tick ingests every file that became ready in one ``CsvSource.ingest`` call, so a
burst of files uses the batch path and one warehouse load.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from eventlake.config import CsvDatasetConfig
from eventlake.errors import EventlakeError
from eventlake.sources.csv.result import CsvFileOutcome, CsvIngestResult, is_candidate

__all__ = ["DropFolderWatcher", "WatchedSource"]


class WatchedSource(Protocol):
    """What the watcher needs of a source (:class:`~eventlake.sources.csv.CsvSource`)."""

    @property
    def input_dir(self) -> Path: ...

    @property
    def config(self) -> CsvDatasetConfig: ...

    def candidates(self) -> list[Path]:
        """Files in the input folder the source would read now."""
        ...

    def ingest(
        self,
        paths: Iterable[Path] | None = None,
        *,
        on_outcome: Callable[[CsvFileOutcome], None] | None = None,
    ) -> CsvIngestResult:
        """Ingest ``paths`` in one call (one lake commit, one warehouse load)."""
        ...


class _Handler(FileSystemEventHandler):
    def __init__(self, notify: Callable[[str], None]) -> None:
        self._notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        dest = getattr(event, "dest_path", "")
        for p in (event.src_path, dest):
            if p:
                self._notify(os.fsdecode(p))


class DropFolderWatcher:
    """Runs a source over its input folder until stopped."""

    def __init__(self, source: WatchedSource, *, tick: float = 0.1) -> None:
        self.source = source
        self.tick = tick
        self.stable_seconds = source.config.stable_seconds
        self.rescan_seconds = source.config.rescan_seconds
        self._seen: dict[Path, tuple[int, int, float]] = {}  # path -> (size, mtime, since)
        self._events: set[Path] = set()
        self._mutex = threading.Lock()

    def _notify(self, path: str) -> None:
        p = Path(path)
        if p.parent == self.source.input_dir:
            with self._mutex:
                self._events.add(p)

    def _observe(self, paths: set[Path], now: float) -> None:
        for p in paths:
            if not is_candidate(p.name, self.source.config.patterns):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:
                self._seen.pop(p, None)
                continue
            old = self._seen.get(p)
            if old is None or (old[0], old[1]) != (st.st_size, st.st_mtime_ns):
                self._seen[p] = (st.st_size, st.st_mtime_ns, now)

    def ready(self, now: float) -> list[Path]:
        """Files whose size and mtime have held still for ``stable_seconds``."""
        self._observe(set(self._seen), now)
        return sorted(
            p for p, (_, _, since) in self._seen.items() if now - since >= self.stable_seconds
        )

    def run(
        self,
        stop: threading.Event,
        *,
        on_result: Callable[[CsvIngestResult], None] | None = None,
        on_outcome: Callable[[CsvFileOutcome], None] | None = None,
        on_error: Callable[[EventlakeError], None] | None = None,
    ) -> None:
        """Block until ``stop`` is set, ingesting ready files each tick."""
        folder = self.source.input_dir
        folder.mkdir(parents=True, exist_ok=True)
        observer: Any = Observer()
        observer.schedule(_Handler(self._notify), str(folder), recursive=False)
        observer.start()
        try:
            last_scan = -float("inf")
            while not stop.is_set():
                now = time.monotonic()
                with self._mutex:
                    events, self._events = self._events, set()
                if now - last_scan >= self.rescan_seconds:
                    events |= set(self.source.candidates())
                    last_scan = now
                self._observe(events, now)
                ready = self.ready(now)
                if ready:
                    try:
                        result = self.source.ingest(ready, on_outcome=on_outcome)
                    except EventlakeError as exc:
                        # A warehouse or lake hiccup must not end the watch: the files stay
                        # in place and are retried after the next stability wait.
                        if on_error is not None:
                            on_error(exc)
                        for p in ready:
                            self._seen.pop(p, None)
                        last_scan = now - self.rescan_seconds + max(self.stable_seconds, 1.0)
                    else:
                        for p in ready:
                            self._seen.pop(p, None)
                        if on_result is not None:
                            on_result(result)
                stop.wait(self.tick)
        finally:
            observer.stop()
            observer.join(timeout=5)
