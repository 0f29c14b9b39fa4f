"""The lake: Parquet files by date plus the commit records that make them visible.

This is the hand-off contract between every writer (the lander, the batch sources) and every
reader (the warehouse raw layer, ``eventlake status``, users' own tools). Layout::

    <lake>/events/event_date=YYYY-MM-DD/<file>.parquet        valid events
    <lake>/quarantine/received_date=YYYY-MM-DD/<file>.parquet  rejected events + reason
    <lake>/sources/<name>/.../<file>.parquet                    batch sources
    <lake>/_commits/<stream>/<commit_id>.json                  one record per commit

Writing (``Lake.commit``), exactly once:

1. every data file gets a unique token in its name (``x.parquet`` -> ``x-<token>.parquet``),
   so two writers racing for the same commit can never overwrite each other's files, and is
   written under a hidden temporary name (``.<name>.tmp``) and fsynced (object stores:
   straight to its final key, which no record names yet);
2. the commit record (files, row counts, partitions, and the writer's ``meta`` such as the
   bus offsets covered) is created atomically and exclusively (``os.link``: exactly one of
   two writers of the same commit id wins; the other gets ``CommitConflictError`` and its
   files are removed): this is the commit point;
3. the temporary files are renamed into place (local filesystems only).

A crash before 2 leaves only hidden garbage that :meth:`Lake.recover` deletes; a crash after
2 is rolled forward by :meth:`Lake.recover`. Plain Parquet readers of a local lake see a file
only after its rename; readers through eventlake (and every reader of an object store, which
has no rename) see exactly the files named by commit records. Commit ids are chosen by the
writer and deterministic (e.g. bus partition and first offset), so re-committing the same
id is refused instead of duplicating rows. On object stores the existence check before the
record is not atomic: give each commit id a single writer (a Kafka partition has one owner
per consumer-group generation).
"""

from __future__ import annotations

import json
import os
import posixpath
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eventlake.errors import CommitConflictError, LakeError
from eventlake.fsutil import create_exclusive, fsync_path

__all__ = [
    "COMMITS_DIR",
    "CommitRecord",
    "EVENT_SCHEMA",
    "EVENTS_DIR",
    "Lake",
    "LakeFile",
    "PendingFile",
    "QUARANTINE_RAW_SCHEMA",
    "QUARANTINE_SCHEMA",
    "QUARANTINE_DIR",
    "SOURCES_DIR",
    "open_lake",
]

EVENTS_DIR = "events"
QUARANTINE_DIR = "quarantine"
SOURCES_DIR = "sources"
COMMITS_DIR = "_commits"

_TS = pa.timestamp("us", tz="UTC")

#: Columns of ``<lake>/events`` (``event_date`` is the hive partition key, not in the file).
#: Nested envelope fields are JSON text. ``timestamp`` is the clock-corrected event time.
EVENT_SCHEMA = pa.schema(
    [
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("event", pa.string()),
        pa.field("name", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("anonymous_id", pa.string()),
        pa.field("group_id", pa.string()),
        pa.field("previous_id", pa.string()),
        pa.field("timestamp", _TS, nullable=False),
        pa.field("original_timestamp", _TS),
        pa.field("sent_at", _TS),
        pa.field("received_at", _TS, nullable=False),
        pa.field("properties", pa.string()),
        pa.field("traits", pa.string()),
        pa.field("context", pa.string()),
        pa.field("integrations", pa.string()),
        pa.field("source", pa.string()),
        pa.field("host", pa.string()),
        pa.field("user_agent", pa.string()),
        pa.field("ip", pa.string()),
        pa.field("bus_partition", pa.int32()),
        pa.field("bus_offset", pa.int64()),
    ]
)

_QUARANTINE_EVENT_FIELDS = [
    pa.field("message_id", pa.string()),
    pa.field("type", pa.string()),
    pa.field("event", pa.string()),
    pa.field("user_id", pa.string()),
    pa.field("anonymous_id", pa.string()),
    pa.field("received_at", _TS, nullable=False),
    pa.field("source", pa.string()),
    pa.field("reason_code", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("raw", pa.string(), nullable=False),
]
_BUS_FIELDS = [pa.field("bus_partition", pa.int32()), pa.field("bus_offset", pa.int64())]

#: Columns of ``<lake>/quarantine`` (partition key ``received_date``): the event as far as
#: it could be read, why it was rejected, the raw JSON it arrived as, the request's
#: enrichment (``host``, ``user_agent``, ``ip``, the batch's ``sentAt`` and ``context``)
#: that a replay re-applies, and where the lander read it. Files written before the
#: enrichment columns existed lack them; readers by column name get nulls
#: (``pq.read_table(..., schema=QUARANTINE_SCHEMA)``, DuckDB's ``union_by_name``).
QUARANTINE_SCHEMA = pa.schema(
    [
        *_QUARANTINE_EVENT_FIELDS,
        pa.field("host", pa.string()),
        pa.field("user_agent", pa.string()),
        pa.field("ip", pa.string()),
        pa.field("batch_sent_at", _TS),
        pa.field("batch_context", pa.string()),
        *_BUS_FIELDS,
    ]
)

#: The quarantine columns the warehouse's ``raw.quarantine`` table holds: those of the
#: first lake layout, so existing warehouses keep loading without a table migration (the
#: enrichment columns serve replay, which reads the lake).
QUARANTINE_RAW_SCHEMA = pa.schema([*_QUARANTINE_EVENT_FIELDS, *_BUS_FIELDS])


@dataclass(frozen=True, slots=True)
class PendingFile:
    """A data file to commit: a table and its path relative to the lake root."""

    path: str
    table: pa.Table
    partition: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LakeFile:
    """A committed data file as its commit record describes it."""

    path: str
    rows: int
    bytes: int
    partition: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """One atomic commit: its files and the writer's metadata (e.g. offsets covered)."""

    stream: str
    commit_id: str
    created_at: float
    files: tuple[LakeFile, ...]
    meta: Mapping[str, Any]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "stream": self.stream,
                "commit_id": self.commit_id,
                "created_at": self.created_at,
                "files": [
                    {"path": f.path, "rows": f.rows, "bytes": f.bytes, "partition": f.partition}
                    for f in self.files
                ],
                "meta": self.meta,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> CommitRecord:
        obj = json.loads(data)
        return cls(
            stream=obj["stream"],
            commit_id=obj["commit_id"],
            created_at=obj["created_at"],
            files=tuple(
                LakeFile(f["path"], f["rows"], f["bytes"], dict(f["partition"]))
                for f in obj["files"]
            ),
            meta=obj["meta"],
        )


def _tmp_name(path: str) -> str:
    head, tail = posixpath.split(path)
    return posixpath.join(head, f".{tail}.tmp")


def _with_token(path: str, token: str) -> str:
    stem, dot, ext = path.rpartition(".")
    if not dot or "/" in ext:
        return f"{path}-{token}"
    return f"{stem}-{token}.{ext}"


class Lake:
    """A lake root on a pyarrow filesystem (local disk, or any fsspec/pyarrow URI).

    Thread-safe for commits with distinct commit ids.
    """

    def __init__(
        self, fs: pafs.FileSystem, root: str, uri: str, fsspec_fs: Any | None = None
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.uri = uri
        self.is_local = isinstance(fs, pafs.LocalFileSystem)
        #: the fsspec filesystem behind a URI lake (None for a local lake)
        self.fsspec_fs = fsspec_fs
        self._scheme = uri.split("://", 1)[0] if "://" in uri else ""

    # -- paths ---------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """Absolute path on ``self.fs`` of a path relative to the lake root."""
        return posixpath.join(self.root, *parts) if parts else self.root

    def url(self, fs_path: str) -> str:
        """A path on ``self.fs`` as a URL that DuckDB/pyarrow/pandas open (``s3://...``).

        DuckDB reads URI lakes through :meth:`register_duckdb`, with no extension download.
        """
        if self.is_local or "://" in fs_path:
            return fs_path
        return f"{self._scheme}://{fs_path}"

    def register_duckdb(self, con: Any) -> None:
        """Let a DuckDB connection read this lake's URLs through its fsspec filesystem.

        DuckDB's own httpfs extension downloads itself at run time, which fails offline and
        behind firewalls; an fsspec filesystem registered with the connection does not.
        """
        if self.fsspec_fs is not None:
            con.register_filesystem(self.fsspec_fs)

    def local_path(self, *parts: str) -> str:
        """Absolute OS path (only for a local lake)."""
        if not self.is_local:
            raise LakeError(f"lake {self.uri} is not on the local filesystem")
        return self.path(*parts)

    # -- writing -------------------------------------------------------------------------
    def commit(
        self,
        stream: str,
        commit_id: str,
        files: Sequence[PendingFile],
        meta: Mapping[str, Any] | None = None,
        *,
        compression: str = "zstd",
        row_group_size: int | None = None,
    ) -> CommitRecord:
        """Write ``files`` and their commit record atomically; durable on return.

        Each file's name gets a unique token before its extension (see the module docstring);
        the returned record names the final paths.

        Raises:
            CommitConflictError: ``commit_id`` is already committed in ``stream`` (the caller
                is about to duplicate rows); nothing of this attempt remains.
            LakeError: the filesystem failed.
        """
        if self.commit_exists(stream, commit_id):
            raise CommitConflictError(f"commit {stream}/{commit_id} already exists in {self.uri}")
        token = uuid.uuid4().hex[:12]
        written: list[LakeFile] = []
        try:
            for pf in files:
                rel = _with_token(pf.path, token)
                target = self.path(rel)
                dest = _tmp_name(target) if self.is_local else target
                self.fs.create_dir(posixpath.dirname(target), recursive=True)
                with self.fs.open_output_stream(dest) as sink:
                    pq.write_table(
                        pf.table,
                        sink,
                        compression=compression,
                        row_group_size=row_group_size,
                    )
                if self.is_local:
                    fsync_path(dest)
                size = self.fs.get_file_info(dest).size or 0
                written.append(LakeFile(rel, pf.table.num_rows, size, dict(pf.partition)))
            record = CommitRecord(stream, commit_id, time.time(), tuple(written), dict(meta or {}))
            try:
                self._write_record(record)
            except CommitConflictError:
                self._discard(written)
                raise
            if self.is_local:
                self._roll_forward(record)
        except OSError as exc:
            raise LakeError(f"cannot commit {stream}/{commit_id} to {self.uri}: {exc}") from exc
        return record

    def _record_path(self, stream: str, commit_id: str) -> str:
        return self.path(COMMITS_DIR, stream, f"{commit_id}.json")

    def _discard(self, files: Sequence[LakeFile]) -> None:
        for f in files:
            target = self.path(f.path)
            for candidate in (_tmp_name(target), target) if self.is_local else (target,):
                try:
                    self.fs.delete_file(candidate)
                except (OSError, FileNotFoundError):
                    pass

    def _write_record(self, record: CommitRecord) -> None:
        final = self._record_path(record.stream, record.commit_id)
        self.fs.create_dir(posixpath.dirname(final), recursive=True)
        data = record.to_json()
        if self.is_local:
            try:
                create_exclusive(Path(final), data)
            except FileExistsError:
                raise CommitConflictError(
                    f"commit {record.stream}/{record.commit_id} already exists in {self.uri}"
                ) from None
        else:
            if self.commit_exists(record.stream, record.commit_id):
                raise CommitConflictError(
                    f"commit {record.stream}/{record.commit_id} already exists in {self.uri}"
                )
            with self.fs.open_output_stream(final) as sink:
                sink.write(data)

    def _roll_forward(self, record: CommitRecord) -> None:
        dirs: set[str] = set()
        for f in record.files:
            target = self.path(f.path)
            tmp = _tmp_name(target)
            if os.path.exists(tmp):
                os.replace(tmp, target)
                dirs.add(posixpath.dirname(target))
            elif not os.path.exists(target):
                raise LakeError(
                    f"commit {record.stream}/{record.commit_id} names {f.path}, which is gone"
                )
        for d in dirs:
            fsync_path(d)

    def recover(self, *, stale_seconds: float = 300.0) -> int:
        """Finish interrupted commits and delete uncommitted temporary files.

        Idempotent; call it before writing after a crash. Temporary files younger than
        ``stale_seconds`` may belong to a live concurrent writer and are kept (pass 0 when
        no other writer can be running). Returns the number of files fixed.
        """
        fixed = 0
        if not self.is_local:
            return 0
        named: set[str] = set()
        for record in self.commits():
            for f in record.files:
                named.add(self.path(f.path))
                if os.path.exists(_tmp_name(self.path(f.path))):
                    fixed += 1
            self._roll_forward(record)
        now = time.time()
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                if name.startswith(".") and ".tmp" in name:
                    full = os.path.join(dirpath, name)
                    try:
                        if now - os.path.getmtime(full) >= stale_seconds:
                            os.unlink(full)
                            fixed += 1
                    except FileNotFoundError:
                        pass
        return fixed

    # -- reading -------------------------------------------------------------------------
    def commit_exists(self, stream: str, commit_id: str) -> bool:
        info = self.fs.get_file_info(self._record_path(stream, commit_id))
        return bool(info.type == pafs.FileType.File)

    def streams(self) -> list[str]:
        """Names of the streams that have commit records."""
        sel = pafs.FileSelector(self.path(COMMITS_DIR), allow_not_found=True)
        return sorted(
            posixpath.basename(i.path)
            for i in self.fs.get_file_info(sel)
            if i.type == pafs.FileType.Directory
        )

    def commit_ids(self, stream: str) -> list[str]:
        """Commit ids of ``stream`` in sorted order (cheap: a directory listing)."""
        sel = pafs.FileSelector(self.path(COMMITS_DIR, stream), allow_not_found=True)
        ids = []
        for info in self.fs.get_file_info(sel):
            base = posixpath.basename(info.path)
            if info.type == pafs.FileType.File and base.endswith(".json"):
                if not base.startswith("."):
                    ids.append(base[: -len(".json")])
        return sorted(ids)

    def read_commit(self, stream: str, commit_id: str) -> CommitRecord:
        with self.fs.open_input_stream(self._record_path(stream, commit_id)) as src:
            return CommitRecord.from_json(src.read())

    def commits(self, stream: str | None = None) -> Iterator[CommitRecord]:
        """Every commit record, of one stream or all, in (stream, id) order."""
        for s in [stream] if stream else self.streams():
            for cid in self.commit_ids(s):
                yield self.read_commit(s, cid)

    def committed_files(self, prefix: str = "") -> list[str]:
        """Absolute paths (on ``self.fs``) of committed files under ``prefix``."""
        out = []
        for record in self.commits():
            for f in record.files:
                if f.path.startswith(prefix):
                    out.append(self.path(f.path))
        return sorted(out)


def open_lake(
    uri: str, storage_options: Mapping[str, Any] | None = None, *, create: bool = True
) -> Lake:
    """Open the lake at a local path or URI (``s3://bucket/prefix``, ``memory://``...).

    Local paths use pyarrow's native filesystem; URIs with ``storage_options`` go through
    fsspec (e.g. s3fs with ``endpoint_url``) wrapped for pyarrow. ``create=False`` leaves a
    missing local root missing (read-only commands create nothing); reading it finds no
    commits.
    """
    if "://" not in uri or uri.startswith("file://"):
        local = uri[len("file://") :] if uri.startswith("file://") else uri
        root = os.path.abspath(local)
        if create:
            os.makedirs(root, exist_ok=True)
        return Lake(pafs.LocalFileSystem(), root, root)
    try:
        import fsspec

        fs, _, paths = fsspec.get_fs_token_paths(uri, storage_options=dict(storage_options or {}))
        pyfs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
        return Lake(pyfs, paths[0], uri, fsspec_fs=fs)
    except (ImportError, ValueError) as exc:
        raise LakeError(
            f"cannot open lake {uri}: {exc} (install eventlake[s3] for s3:// URIs)"
        ) from exc
