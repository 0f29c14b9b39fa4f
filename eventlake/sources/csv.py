"""The CSV drop-folder source: dropped files -> cleaned, validated rows -> lake and warehouse.

:class:`CsvSource` is the stage object of one dataset (``[sources.csv.<name>]``). Its
:meth:`CsvSource.ingest` takes the files present (or given), and for each one decides:

- ``duplicate``: its content hash is already in a lake commit of ``sources.<name>`` (the
  same bytes load once, whatever the file name); the input is tidied away;
- ``failed``: it breaks the schema; it moves to ``<input_dir>/failed/`` with
  ``<file>.error.json`` beside it (first 100 problems and the total) and none of its rows
  load (a file is all or nothing);
- ``loaded``: its rows go to ``<lake>/sources/<name>/ingest_date=YYYY-MM-DD/`` (one Parquet
  file and one commit per call) and into the warehouse table (``raw.<table>``, one publish
  per call); the input is archived or deleted.

Every outcome is one JSON line in ``<input_dir>/ingest.log``. Idempotent: running it again
on the same folder changes nothing. :meth:`CsvSource.watch` runs it as files arrive
(:mod:`eventlake.sources.csv_watch`).
"""

from __future__ import annotations

import fcntl
import hashlib
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventlake.config import CsvDatasetConfig, Settings
from eventlake.errors import EventlakeError, SourceError
from eventlake.lake import Lake, PendingFile, open_lake
from eventlake.sources import csv_load
from eventlake.sources.csv_clean import (
    FileRejected,
    PreparedFile,
    Problem,
    delimiter_name,
    prepare_file,
)
from eventlake.sources.csv_convert import MAX_PROBLEMS, convert_batch, convert_file
from eventlake.sources.csv_result import (
    CsvFileOutcome,
    CsvIngestResult,
    Outcome,
    PassedFiles,
    is_candidate,
    with_lineage,
)
from eventlake.sources.csv_schema import CsvSchema, load_schema

__all__ = ["CsvFileOutcome", "CsvIngestResult", "CsvSource", "Outcome", "is_candidate"]


class CsvSource:
    """One CSV drop-folder dataset, bound to the lake and warehouse of ``settings``.

    Thread-safe and process-safe: ingests of one dataset are serialised by a lock file
    (``<input_dir>/.ingest.lock``).
    """

    def __init__(
        self,
        settings: Settings,
        name: str,
        *,
        config: CsvDatasetConfig | None = None,
        lake: Lake | None = None,
    ) -> None:
        if config is None:
            if name not in settings.sources.csv:
                known = ", ".join(sorted(settings.sources.csv)) or "none configured"
                raise SourceError(
                    f"unknown CSV dataset {name!r} ({known}); declare [sources.csv.{name}]"
                )
            config = settings.sources.csv[name]
        self.name = name
        self.config = config
        self.settings = settings
        self.input_dir = settings.resolve(config.input_dir)
        self.failed_dir = self.input_dir / "failed"
        self.archive_dir = settings.resolve(config.archive_dir or self.input_dir / "archive")
        self.log_path = self.input_dir / "ingest.log"
        self.schema: CsvSchema = load_schema(settings.resolve(config.schema_file))
        self.stream = f"sources.{name}"
        self._lake = lake
        self._hash_cache: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = open_lake(self.settings.lake_uri(), self.settings.lake.storage_options)
        return self._lake

    def candidates(self) -> list[Path]:
        """Files in the input folder the source would read now, oldest first."""
        if not self.input_dir.is_dir():
            raise SourceError(f"input folder {self.input_dir} of dataset {self.name!r} is missing")
        found = []
        for entry in self.input_dir.iterdir():
            if is_candidate(entry.name, self.config.patterns):
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue  # taken away since the listing
                if stat.S_ISREG(st.st_mode):
                    found.append((st.st_mtime_ns, entry.name, entry))
        return [p for _, _, p in sorted(found)]

    def loaded_hashes(self) -> set[str]:
        """Content hashes of every file already loaded (from the lake's commit records)."""
        return csv_load.loaded_hashes(self.lake, self.stream, self._hash_cache)

    # -- ingest --------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[Path] | None = None,
        *,
        on_outcome: Callable[[CsvFileOutcome], None] | None = None,
    ) -> CsvIngestResult:
        """Ingest ``paths`` (default: every candidate in the input folder).

        Durable on return: loaded rows are in a lake commit and the published warehouse
        before any input is archived or deleted.
        """
        self.input_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.input_dir / ".ingest.lock"
        with self._lock, open(lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                return self._ingest(paths, on_outcome)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _ingest(
        self,
        paths: Iterable[Path] | None,
        on_outcome: Callable[[CsvFileOutcome], None] | None,
    ) -> CsvIngestResult:
        started = time.perf_counter()
        todo = self.candidates() if paths is None else [Path(p) for p in paths]
        with ThreadPoolExecutor(max(1, self.config.workers)) as pool:
            read = [r for r in pool.map(_read, todo) if r is not None]
        stages = {"read": time.perf_counter() - started}
        mark = time.perf_counter()
        known = self.loaded_hashes()
        outcomes: list[CsvFileOutcome] = []
        raws: list[tuple[Path, bytes, str]] = []
        for path, data, sha_or_error in read:
            if data is None:  # unreadable (permissions...): reported, left in place, retried
                outcomes.append(CsvFileOutcome(path.name, "failed", error=sha_or_error))
            else:
                raws.append((path, data, sha_or_error))
        fresh: list[tuple[Path, bytes, str]] = []
        twins: list[tuple[Path, int, str]] = []  # same bytes as another file of this call
        firsts: dict[str, str] = {}
        for path, data, sha in raws:
            if sha in known:
                outcomes.append(CsvFileOutcome(path.name, "duplicate", sha, len(data)))
                self._tidy(path, sha, outcomes[-1])
            elif sha in firsts:
                twins.append((path, len(data), sha))
            else:
                firsts[sha] = path.name
                fresh.append((path, data, sha))
        prepared: list[PreparedFile] = []
        for path, data, sha in fresh:
            t = time.perf_counter()
            try:
                prepared.append(
                    prepare_file(
                        path,
                        data,
                        self.schema,
                        sha256=sha,
                        delimiter=self.config.delimiter,
                        encoding=self.config.encoding,
                        extra_columns=self.config.extra_columns,
                    )
                )
            except FileRejected as exc:
                outcomes.append(self._fail(path, sha, len(data), exc, time.perf_counter() - t))
        stages["prepare"] = time.perf_counter() - mark
        mark = time.perf_counter()
        passed, failed = self._convert(prepared)
        stages["convert"] = time.perf_counter() - mark
        mark = time.perf_counter()
        outcomes.extend(failed)
        commit_id, warehouse_commits = self._commit(passed) if passed.files else (None, [])
        stages["load"] = time.perf_counter() - mark
        mark = time.perf_counter()
        for pf, outcome in passed.files:
            self._tidy(pf.path, pf.sha256, outcome)
            outcomes.append(outcome)
        outcomes.extend(self._settle_twins(twins, outcomes, firsts))
        stages["tidy"] = time.perf_counter() - mark
        result = CsvIngestResult(
            self.name, outcomes, time.perf_counter() - started, commit_id, warehouse_commits
        )
        mark = time.perf_counter()
        self._log(result, on_outcome)
        stages["log"] = time.perf_counter() - mark
        result.stages = stages
        result.seconds = time.perf_counter() - started
        return result

    def _settle_twins(
        self,
        twins: list[tuple[Path, int, str]],
        outcomes: list[CsvFileOutcome],
        firsts: dict[str, str],
    ) -> list[CsvFileOutcome]:
        """A copy shares its original's fate: duplicate if it loaded, failed if it failed."""
        fate = {o.sha256: o for o in outcomes if o.outcome != "duplicate"}
        out = []
        for path, size, sha in twins:
            original = fate.get(sha)
            if original is not None and original.outcome == "failed":
                problem = Problem(f"valid content (same bytes as {firsts[sha]}: {original.error})")
                out.append(self._fail(path, sha, size, FileRejected([problem]), 0.0))
            else:
                out.append(CsvFileOutcome(path.name, "duplicate", sha, size))
                self._tidy(path, sha, out[-1])
        return out

    def _convert(self, prepared: list[PreparedFile]) -> tuple[PassedFiles, list[CsvFileOutcome]]:
        groups: dict[bytes, list[PreparedFile]] = {}
        for pf in prepared:
            groups.setdefault(pf.header_key, []).append(pf)
        passed = PassedFiles()
        redo: list[PreparedFile] = []
        for files in groups.values():
            t = time.perf_counter()
            batch = convert_batch(files, self.schema)
            share = (time.perf_counter() - t) / max(1, len(files))
            passed.tables.append(batch.table)
            for i, rows, empty in batch.passed:
                passed.files.append((files[i], self._outcome(files[i], rows, empty, share)))
            redo.extend(files[i] for i in batch.redo)
        failed: list[CsvFileOutcome] = []

        def precise(pf: PreparedFile) -> tuple[PreparedFile, Any, float]:
            t = time.perf_counter()
            try:
                res: Any = convert_file(pf, self.schema)
            except FileRejected as exc:
                res = exc
            return pf, res, time.perf_counter() - t

        with ThreadPoolExecutor(max(1, self.config.workers)) as pool:
            for pf, res, secs in pool.map(precise, redo):
                if isinstance(res, FileRejected):
                    failed.append(self._fail(pf.path, pf.sha256, pf.size, res, secs, pf))
                else:
                    outcome = self._outcome(pf, res.table.num_rows, res.empty_rows, secs)
                    passed.files.append((pf, outcome))
                    passed.tables.append(res.table)
        return passed, failed

    def _outcome(self, pf: PreparedFile, rows: int, empty: int, secs: float) -> CsvFileOutcome:
        return CsvFileOutcome(
            pf.name,
            "loaded",
            pf.sha256,
            pf.size,
            rows=rows,
            empty_rows=empty,
            encoding=pf.encoding,
            delimiter=delimiter_name(pf.delimiter),
            seconds=secs,
            notes=list(pf.notes),
        )

    def _commit(self, passed: PassedFiles) -> tuple[str, list[str]]:
        now = datetime.now(UTC)
        digest = hashlib.sha256("".join(sorted(pf.sha256 for pf, _ in passed.files)).encode())
        commit_id = f"{now:%Y%m%dT%H%M%S%f}-{digest.hexdigest()[:12]}"
        table = with_lineage(passed)
        day = f"{now:%Y-%m-%d}"
        path = csv_load.lake_file_path(self.name, day, commit_id)
        meta = {
            "dataset": self.name,
            "table": self.config.table,
            "files": [
                {
                    "name": o.file,
                    "sha256": o.sha256,
                    "rows": o.rows,
                    "empty_rows": o.empty_rows,
                    "encoding": o.encoding,
                    "delimiter": o.delimiter,
                }
                for _, o in passed.files
            ],
        }
        for _, o in passed.files:
            o.moved_to = path

        def lake_commit() -> object:
            return self.lake.commit(
                self.stream,
                commit_id,
                [PendingFile(path, table, {"ingest_date": day})],
                meta,
                compression=self.settings.land.compression,
            )

        if self.settings.warehouse.backend != "duckdb":
            lake_commit()
            return commit_id, []
        if self.config.load_mode == "view":
            lake_commit()  # the view lists committed files: commit first
            wait: Callable[[], object] | None = None
            fresh = {}
        else:
            # The Parquet write and the warehouse insert overlap (both release the GIL);
            # the warehouse publishes only once the lake commit, the commit point, is done.
            pool = ThreadPoolExecutor(1)
            future = pool.submit(lake_commit)
            wait, fresh = future.result, {commit_id: table}
        try:
            done = csv_load.load_warehouse(
                self.settings.resolve(self.settings.warehouse.path),
                table=self.config.table,
                schema=self.schema,
                lake=self.lake,
                stream=self.stream,
                fresh=fresh,
                mode=self.config.load_mode,
                before_publish=wait,
            )
        finally:
            if wait is not None:
                pool.shutdown(wait=True)
        return commit_id, done

    def _fail(
        self,
        path: Path,
        sha: str,
        size: int,
        exc: FileRejected,
        secs: float,
        pf: PreparedFile | None = None,
    ) -> CsvFileOutcome:
        report = {
            "dataset": self.name,
            "file": path.name,
            "sha256": sha,
            "bytes": size,
            "failed_at": csv_load.iso_now(),
            "encoding": pf.encoding if pf else None,
            "delimiter": delimiter_name(pf.delimiter) if pf else None,
            "problem_count": exc.total,
            "problems_shown": len(exc.problems[:MAX_PROBLEMS]),
            "problems": [p.to_dict() for p in exc.problems[:MAX_PROBLEMS]],
        }
        outcome = CsvFileOutcome(
            path.name,
            "failed",
            sha,
            size,
            encoding=report["encoding"],  # type: ignore[arg-type]
            delimiter=report["delimiter"],  # type: ignore[arg-type]
            seconds=secs,
            problems=exc.total,
            error=exc.problems[0].describe() if exc.problems else "rejected",
            notes=list(pf.notes) if pf else [],
        )
        try:
            moved = csv_load.move_aside(path, self.failed_dir, sha)
            report["file"] = moved.name
            outcome.moved_to = str(moved)
            outcome.error_file = str(
                csv_load.write_error_report(self.failed_dir, moved.name, report)
            )
        except OSError as exc2:
            raise SourceError(
                f"cannot move failed file {path} to {self.failed_dir}: {exc2}"
            ) from exc2
        return outcome

    def _tidy(self, path: Path, sha: str, outcome: CsvFileOutcome) -> None:
        try:
            if self.config.on_success == "delete":
                path.unlink(missing_ok=True)
            elif path.exists():
                target = csv_load.move_aside(path, self.archive_dir, sha)
                if outcome.outcome == "duplicate":
                    outcome.moved_to = str(target)
        except OSError as exc:
            raise SourceError(f"cannot {self.config.on_success} input {path}: {exc}") from exc

    def _log(
        self, result: CsvIngestResult, on_outcome: Callable[[CsvFileOutcome], None] | None
    ) -> None:
        ts = csv_load.iso_now()
        entries = []
        for o in result.files:
            entry = {"ts": ts, "dataset": self.name, **o.to_dict()}
            entry["commit_id"] = result.commit_id if o.outcome == "loaded" else None
            entries.append(entry)
            if on_outcome is not None:
                on_outcome(o)
        csv_load.append_log(self.log_path, entries)

    def watch(
        self,
        stop: threading.Event,
        *,
        on_result: Callable[[CsvIngestResult], None] | None = None,
        on_outcome: Callable[[CsvFileOutcome], None] | None = None,
        on_error: Callable[[EventlakeError], None] | None = None,
    ) -> None:
        """Ingest files as they arrive until ``stop`` is set (see :mod:`csv_watch`)."""
        from eventlake.sources.csv_watch import DropFolderWatcher

        DropFolderWatcher(self).run(
            stop, on_result=on_result, on_outcome=on_outcome, on_error=on_error
        )


def _read(path: Path) -> tuple[Path, bytes, str] | tuple[Path, None, str] | None:
    """(path, bytes, sha256), or (path, None, error) when unreadable, or None when gone."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None  # taken by someone else between listing and reading
    except OSError as exc:
        return path, None, str(exc)
    return path, data, hashlib.sha256(data).hexdigest()
