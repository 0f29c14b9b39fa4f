"""The CSV drop-folder source: dropped files -> cleaned, validated rows -> lake and warehouse.

:class:`CsvSource` is the stage object of one dataset (``[sources.csv.<name>]``), built
from its own config section, a lake and a warehouse (:func:`open_csv_source` makes one from
the settings). Its :meth:`CsvSource.ingest` takes the files present (or given), and for
each one decides:

- ``duplicate``: its content hash is already in a lake commit of ``sources.<name>`` (the
  same bytes load once, whatever the file name); the input is tidied away;
- ``failed``: it breaks the schema; it moves to ``<input_dir>/failed/`` with
  ``<file>.error.json`` beside it (first 100 problems and the total) and none of its rows
  load (a file is all or nothing);
- ``loaded``: its rows go to ``<lake>/sources/<name>/ingest_date=YYYY-MM-DD/`` (one Parquet
  file and one commit per call; a large call is cut into up to ``workers`` commits written
  in parallel, see :mod:`eventlake.sources.csv.commit`) and into the warehouse table
  (``raw.<table>``, one write transaction per call, on any engine); the input is archived
  (a rename) or deleted.

Every outcome is one JSON line in ``<input_dir>/ingest.log``. Idempotent: running it again
on the same folder changes nothing. :meth:`CsvSource.watch` runs it as files arrive
(:mod:`eventlake.sources.csv.watch`).
"""

from __future__ import annotations

import fcntl
import hashlib
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventlake.config import CsvDatasetConfig, Settings
from eventlake.errors import EventlakeError, SourceError
from eventlake.lake import Lake, open_lake
from eventlake.sources.csv import files
from eventlake.sources.csv.batch import convert_chunks
from eventlake.sources.csv.clean import (
    FileRejected,
    PreparedFile,
    Problem,
    delimiter_name,
    prepare_file,
)
from eventlake.sources.csv.commit import commit_passed, load_commits
from eventlake.sources.csv.convert import MAX_PROBLEMS, convert_file
from eventlake.sources.csv.result import (
    CsvFileOutcome,
    CsvIngestResult,
    Outcome,
    PassedFiles,
    is_candidate,
)
from eventlake.sources.csv.schema import CsvSchema, load_schema
from eventlake.sources.csv.watch import DropFolderWatcher

if TYPE_CHECKING:
    from eventlake.warehouse.base import Warehouse

__all__ = [
    "CsvFileOutcome",
    "CsvIngestResult",
    "CsvSource",
    "Outcome",
    "is_candidate",
    "open_csv_source",
    "resolved_csv_config",
]


def resolved_csv_config(config: CsvDatasetConfig, base_dir: Path) -> CsvDatasetConfig:
    """``config`` with its paths made absolute against ``base_dir`` (the project folder)."""

    def resolve(path: Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (Path(base_dir) / p).resolve()

    input_dir = resolve(config.input_dir)
    return config.model_copy(
        update={
            "input_dir": input_dir,
            "schema_file": resolve(config.schema_file),
            "archive_dir": resolve(config.archive_dir or input_dir / "archive"),
        }
    )


def open_csv_source(settings: Settings, name: str) -> CsvSource:
    """The dataset ``[sources.csv.<name>]`` of ``settings``, on its lake and warehouse.

    Raises:
        SourceError: no such dataset.
        ConfigError: its schema file or the warehouse settings are invalid.
    """
    from eventlake.warehouse import open_warehouse

    config = settings.sources.csv.get(name)
    if config is None:
        known = ", ".join(sorted(settings.sources.csv)) or "none configured"
        raise SourceError(f"unknown CSV dataset {name!r} ({known}); declare [sources.csv.{name}]")
    return CsvSource(
        name,
        resolved_csv_config(config, settings.base_dir),
        lake=open_lake(settings.lake_uri(), settings.lake.storage_options),
        warehouse=open_warehouse(settings),
        compression=settings.land.compression,
    )


class CsvSource:
    """One CSV drop-folder dataset, bound to a lake and a warehouse.

    ``config``'s paths are absolute (:func:`open_csv_source` resolves them against the
    project folder). Thread-safe and process-safe: ingests of one dataset are serialised
    by a lock file (``<input_dir>/.ingest.lock``).
    """

    def __init__(
        self,
        name: str,
        config: CsvDatasetConfig,
        *,
        lake: Lake,
        warehouse: Warehouse,
        compression: str = "zstd",
    ) -> None:
        self.name = name
        self.config = config
        self.lake = lake
        self.warehouse = warehouse
        self.compression = compression
        self.input_dir = Path(config.input_dir)
        self.failed_dir = self.input_dir / "failed"
        self.archive_dir = Path(config.archive_dir or self.input_dir / "archive")
        self.log_path = self.input_dir / "ingest.log"
        self.schema: CsvSchema = load_schema(Path(config.schema_file))
        self.stream = f"sources.{name}"
        self._hash_cache: dict[str, set[str]] = {}
        self._lock = threading.Lock()

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
        return files.loaded_hashes(self.lake, self.stream, self._hash_cache)

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
        # One pool for every step: its threads (and their allocator heaps) are reused.
        with ThreadPoolExecutor(max(1, self.config.workers), "csv-ingest") as pool:
            return self._ingest_on(pool, paths, on_outcome)

    def _ingest_on(
        self,
        pool: ThreadPoolExecutor,
        paths: Iterable[Path] | None,
        on_outcome: Callable[[CsvFileOutcome], None] | None,
    ) -> CsvIngestResult:
        started = time.perf_counter()
        todo = self.candidates() if paths is None else [Path(p) for p in paths]
        read = self._read_all(todo, pool)
        stages = {"read": time.perf_counter() - started}
        mark = time.perf_counter()
        known = self.loaded_hashes()
        outcomes: list[CsvFileOutcome] = []
        prepared: list[PreparedFile] = []
        twins: list[tuple[Path, int, str]] = []  # same bytes as another file of this call
        firsts: dict[str, str] = {}
        dupes: list[tuple[Path, CsvFileOutcome]] = []
        for item in read:
            if item.sha256 is None:  # unreadable (permissions...): reported, left, retried
                outcomes.append(CsvFileOutcome(item.path.name, "failed", error=item.error))
            elif item.sha256 in known:
                dupes.append(
                    (item.path, CsvFileOutcome(item.path.name, "duplicate", item.sha256, item.size))
                )
                outcomes.append(dupes[-1][1])
            elif item.sha256 in firsts:
                twins.append((item.path, item.size, item.sha256))
            else:
                firsts[item.sha256] = item.path.name
                if isinstance(item.prepared, FileRejected):
                    outcomes.append(
                        self._fail(item.path, item.sha256, item.size, item.prepared, item.seconds)
                    )
                elif item.prepared is not None:
                    prepared.append(item.prepared)
        self._tidy(dupes)
        stages["dedup"] = time.perf_counter() - mark
        mark = time.perf_counter()
        passed, failed = self._convert(prepared, pool)
        stages["convert"] = time.perf_counter() - mark
        mark = time.perf_counter()
        outcomes.extend(failed)
        commit_ids: list[str] = []
        warehouse_commits: list[str] = []
        if passed.files:
            commit_ids, warehouse_commits = commit_passed(
                self.config,
                name=self.name,
                schema=self.schema,
                lake=self.lake,
                warehouse=self.warehouse,
                passed=passed,
                compression=self.compression,
                pool=pool,
            )
        elif dupes or twins:
            # Files already in the lake came back: maybe a crash hit between their lake
            # commit and the warehouse load. Catch up on any commit the warehouse lacks.
            warehouse_commits = load_commits(
                self.config,
                name=self.name,
                schema=self.schema,
                lake=self.lake,
                warehouse=self.warehouse,
            )
        stages["load"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self._tidy([(pf.path, outcome) for pf, outcome in passed.files])
        outcomes.extend(outcome for _, outcome in passed.files)
        outcomes.extend(self._settle_twins(twins, outcomes, firsts))
        stages["tidy"] = time.perf_counter() - mark
        result = CsvIngestResult(
            self.name,
            outcomes,
            time.perf_counter() - started,
            commit_ids[0] if commit_ids else None,
            warehouse_commits,
            commit_ids=commit_ids,
        )
        mark = time.perf_counter()
        self._log(result, on_outcome)
        stages["log"] = time.perf_counter() - mark
        result.stages = stages
        result.seconds = time.perf_counter() - started
        return result

    def _read_all(self, todo: list[Path], pool: Executor) -> list[_Input]:
        """Read, hash and prepare files on the pool (I/O and SHA-256 drop the GIL).

        Files go to the threads in runs, not one by one: a task per file costs about as
        much as reading it.
        """
        workers = max(1, self.config.workers)
        run = max(1, min(64, -(-len(todo) // (4 * workers))))
        runs = [todo[i : i + run] for i in range(0, len(todo), run)]

        def read_run(paths: list[Path]) -> list[_Input]:
            out = []
            for path in paths:
                item = _read(path)
                if item is not None:
                    if item.data is not None:
                        item.prepared = self._prepare(item)
                        item.data = None  # the prepared file holds the text it needs
                    out.append(item)
            return out

        if len(runs) <= 1 or workers == 1:
            return [item for r in runs for item in read_run(r)]
        return [item for part in pool.map(read_run, runs) for item in part]

    def _prepare(self, item: _Input) -> PreparedFile | FileRejected:
        t = time.perf_counter()
        assert item.data is not None and item.sha256 is not None
        try:
            return prepare_file(
                item.path,
                item.data,
                self.schema,
                sha256=item.sha256,
                delimiter=self.config.delimiter,
                encoding=self.config.encoding,
                extra_columns=self.config.extra_columns,
            )
        except FileRejected as exc:
            return exc
        finally:
            item.seconds = time.perf_counter() - t

    def _settle_twins(
        self,
        twins: list[tuple[Path, int, str]],
        outcomes: list[CsvFileOutcome],
        firsts: dict[str, str],
    ) -> list[CsvFileOutcome]:
        """A copy shares its original's fate: duplicate if it loaded, failed if it failed."""
        fate = {o.sha256: o for o in outcomes if o.outcome != "duplicate"}
        out = []
        copies: list[tuple[Path, CsvFileOutcome]] = []
        for path, size, sha in twins:
            original = fate.get(sha)
            if original is not None and original.outcome == "failed":
                problem = Problem(f"valid content (same bytes as {firsts[sha]}: {original.error})")
                out.append(self._fail(path, sha, size, FileRejected([problem]), 0.0))
            else:
                out.append(CsvFileOutcome(path.name, "duplicate", sha, size))
                copies.append((path, out[-1]))
        self._tidy(copies)
        return out

    def _convert(
        self, prepared: list[PreparedFile], pool: Executor
    ) -> tuple[PassedFiles, list[CsvFileOutcome]]:
        passed = PassedFiles()
        t = time.perf_counter()
        batch = convert_chunks(prepared, self.schema, workers=self.config.workers, pool=pool)
        share = (time.perf_counter() - t) / max(1, len(prepared))
        passed.tables.extend(batch.tables)
        for i, rows, empty in batch.passed:
            passed.files.append((prepared[i], self._outcome(prepared[i], rows, empty, share)))
        failed: list[CsvFileOutcome] = []

        def precise(pf: PreparedFile) -> tuple[PreparedFile, Any, float]:
            t = time.perf_counter()
            try:
                res: Any = convert_file(pf, self.schema)
            except FileRejected as exc:
                res = exc
            return pf, res, time.perf_counter() - t

        redo = [prepared[i] for i in batch.redo]
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
            "failed_at": files.iso_now(),
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
            moved = files.move_aside(path, self.failed_dir, sha)
            report["file"] = moved.name
            outcome.moved_to = str(moved)
            outcome.error_file = str(files.write_error_report(self.failed_dir, moved.name, report))
        except OSError as exc2:
            raise SourceError(
                f"cannot move failed file {path} to {self.failed_dir}: {exc2}"
            ) from exc2
        return outcome

    def _tidy(self, items: list[tuple[Path, CsvFileOutcome]]) -> None:
        """Archive (a rename) or delete inputs that are loaded or duplicates."""
        try:
            if self.config.on_success == "delete":
                for path, _ in items:
                    path.unlink(missing_ok=True)
                return
            targets = files.move_many([(path, o.sha256) for path, o in items], self.archive_dir)
        except OSError as exc:
            raise SourceError(
                f"cannot {self.config.on_success} inputs of {self.input_dir}: {exc}"
            ) from exc
        for (_, outcome), target in zip(items, targets, strict=True):
            if outcome.outcome == "duplicate" and target is not None:
                outcome.moved_to = str(target)

    def _log(
        self, result: CsvIngestResult, on_outcome: Callable[[CsvFileOutcome], None] | None
    ) -> None:
        ts = files.iso_now()
        entries = []
        for o in result.files:
            entries.append({"ts": ts, "dataset": self.name, **o.to_dict()})
            if on_outcome is not None:
                on_outcome(o)
        files.append_log(self.log_path, entries)

    def watch(
        self,
        stop: threading.Event,
        *,
        on_result: Callable[[CsvIngestResult], None] | None = None,
        on_outcome: Callable[[CsvFileOutcome], None] | None = None,
        on_error: Callable[[EventlakeError], None] | None = None,
    ) -> None:
        """Ingest files as they arrive until ``stop`` is set (see :mod:`.watch`)."""

        DropFolderWatcher(self).run(
            stop, on_result=on_result, on_outcome=on_outcome, on_error=on_error
        )


@dataclass(slots=True)
class _Input:
    """One file as read: its bytes and hash (or why it could not be read), then prepared."""

    path: Path
    data: bytes | None
    sha256: str | None
    size: int = 0
    error: str | None = None
    prepared: PreparedFile | FileRejected | None = None
    seconds: float = 0.0


def _read(path: Path) -> _Input | None:
    """The file's bytes and SHA-256; an error when unreadable; None when gone."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None  # taken by someone else between listing and reading
    except OSError as exc:
        return _Input(path, None, None, error=str(exc))
    return _Input(path, data, hashlib.sha256(data).hexdigest(), len(data))
