"""One typed configuration for every stage: ``eventlake.toml`` plus environment overrides.

Every setting lives in a section class (``CollectConfig``, ``BusConfig``...) with a default
and a ``description`` (its help text; a test fails when one is missing). Values come, in
rising priority, from the defaults, the TOML file, and ``EVENTLAKE_<SECTION>__<KEY>``
environment variables (``EVENTLAKE_COLLECT__PORT=9000``; dicts and lists as JSON).

The project is found the way git finds a repository: ``$EVENTLAKE_CONFIG`` if set, else
``eventlake.toml`` in the working directory, then in each parent directory
(:func:`find_config_file`). Relative paths are relative to the directory holding the config
file (or the working directory when there is none), so a project folder can be moved as a
whole. Nothing reads configuration at import time: build a ``Settings`` with
:func:`load_config` and pass it (or the section a stage needs) explicitly.

A bad value names where it came from: the environment variable, else the file.
:func:`unknown_environment_variables` lists ``EVENTLAKE_*`` variables that set nothing (a
misspelled section is otherwise ignored without a word).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from eventlake.config_service import (
    ApiSourceConfig,
    CsvDatasetConfig,
    ScheduleConfig,
    Section,
    SourcesConfig,
    UpConfig,
    check_cron,
)
from eventlake.errors import ConfigError

__all__ = [
    "ApiSourceConfig",
    "BusConfig",
    "CollectConfig",
    "CsvDatasetConfig",
    "LakeConfig",
    "LandConfig",
    "ModelsConfig",
    "ScheduleConfig",
    "ServeConfig",
    "Settings",
    "SourcesConfig",
    "SpecConfig",
    "UpConfig",
    "WarehouseConfig",
    "check_cron",
    "load_config",
    "find_config_file",
    "settings_reference",
    "unknown_environment_variables",
    "CONFIG_FILE_NAME",
    "ENV_PREFIX",
    "NON_SETTING_VARIABLES",
]

CONFIG_FILE_NAME = "eventlake.toml"
ENV_PREFIX = "EVENTLAKE_"

#: ``EVENTLAKE_*`` variables that are not settings but are read on purpose: the config file
#: (``EVENTLAKE_CONFIG``) and what the example game API and tracker scripts take.
NON_SETTING_VARIABLES = frozenset(
    {
        "EVENTLAKE_CONFIG",
        "EVENTLAKE_WRITE_KEY",
        "EVENTLAKE_COLLECTOR_URL",
        "EVENTLAKE_TRACKER_BUFFER",
        # set by `eventlake up` for its children: the supervisor's state file
        "EVENTLAKE_UP_STATE",
    }
)


class SpecConfig(Section):
    """The tracking plan that validates events."""

    tracking_plan: Path | None = Field(
        default=Path("tracking-plan.yaml"),
        description="YAML tracking plan (events, property types, unplanned-event policy); "
        "no file means every well-formed event is accepted.",
    )


class CollectConfig(Section):
    """The Segment-compatible HTTP collector (`eventlake collect`)."""

    host: str = Field(default="127.0.0.1", description="Interface the collector binds.")
    port: int = Field(default=8088, description="TCP port of the collector.")
    workers: int = Field(default=1, description="uvicorn worker processes.")
    write_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Write key -> source name. Prefer EVENTLAKE_COLLECT__WRITE_KEYS (JSON) or "
        "write_keys_file over committing keys.",
    )
    write_keys_file: Path | None = Field(
        default=None,
        description="File outside the repo with one 'key = source' per line, merged into "
        "write_keys.",
    )
    max_batch_bytes: int = Field(
        default=500 * 1024, description="Largest accepted request body (Segment: 500 KB)."
    )
    max_event_bytes: int = Field(
        default=32 * 1024, description="Largest accepted single event (Segment: 32 KB)."
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Largest accepted request head (request line and headers); a larger one "
        "gets 431 before it is read further. Host and User-Agent are stored with at most "
        "1,024 characters.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Peer addresses or networks (CIDR) whose X-Forwarded-For is believed "
        "for context.ip.",
    )
    max_inflight_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Bytes of accepted-but-not-yet-durable events held in memory before "
        "replying 503 with Retry-After (back-pressure); a request whose events alone take "
        "more gets a non-retryable 413.",
    )
    commit_threads: int = Field(
        default=4,
        ge=1,
        description="Commit lanes of the collector: threads, each with its own bus producer, "
        "that append request groups (group commit); events go to lane crc32(key) % lanes, "
        "so set it to bus.partitions for one partition (one fsync) per lane.",
    )
    request_records: bool = Field(
        default=True,
        description="Store a request's accepted events as ONE bus record (the events as sent "
        "plus the request's metadata, once), expanded by the lander, instead of one enriched "
        "JSON record per event: several times cheaper per request. Turn off if programs "
        "other than the lander read the bus and expect JSON event records.",
    )


class BusConfig(Section):
    """The durable log between collectors and landers."""

    backend: Literal["local", "kafka"] = Field(
        default="local", description="'local' (embedded, on disk) or 'kafka' (scale-out)."
    )
    path: Path = Field(default=Path("data/bus"), description="Directory of the local log.")
    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers (backend = 'kafka')."
    )
    topic: str = Field(default="eventlake.events", description="Kafka topic of events.")
    quarantine_topic: str = Field(
        default="eventlake.quarantine", description="Kafka topic of quarantined events."
    )
    partitions: int = Field(default=4, description="Partitions of a topic eventlake creates.")
    client_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed through to the Kafka client (security.protocol, sasl.*, ssl.*).",
    )
    segment_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Local log: start a new segment file once the current one reaches this "
        "size (compaction deletes whole segments).",
    )
    max_bytes: int = Field(
        default=16 * 1024 * 1024 * 1024,
        description="Local log: refuse appends (BusFullError, HTTP 503) once the log holds "
        "this many bytes on disk; land and compact to make room.",
    )
    max_pending_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Local log: bytes of appends waiting for one process's group commit "
        "before further appends get BusFullError; one append larger than this never fits "
        "(AppendTooLargeError). The collector holds at most this much in flight too.",
    )
    arrow_compression: Literal["lz4", "zstd", "none"] = Field(
        default="lz4",
        description="Body compression of the Arrow records producers write (many events "
        "per record, e.g. `generate --to bus`): 'lz4' (~4x smaller, cheapest CPU), 'zstd' "
        "(~7x smaller, more CPU) or 'none'. Readers decompress transparently.",
    )


class LakeConfig(Section):
    """Where Parquet lands: a local folder or an fsspec/pyarrow URI (s3://bucket/prefix)."""

    path: str = Field(default="data/lake", description="Lake root: a path or a URI.")
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec/pyarrow filesystem options for a URI lake (endpoint_url, key...).",
    )


class LandConfig(Section):
    """The lander: bus -> Parquet micro-batches."""

    consumer_group: str = Field(default="lander", description="Bus consumer group.")
    max_records: int = Field(default=200_000, description="Close a batch at this many events.")
    max_bytes: int = Field(
        default=128 * 1024 * 1024, description="Close a batch at this many input bytes."
    )
    max_age_seconds: float = Field(
        default=5.0,
        description="Close a batch this long after its first event (--follow). Under "
        "`eventlake up` running both land and build, a model run also closes the open batch "
        "as it starts loading (docs/pipeline.md), so this bounds lake file sizes, not "
        "freshness.",
    )
    drain_timeout_seconds: float = Field(
        default=120.0,
        description="One-shot land (`eventlake land`, `eventlake run`): fail when no "
        "partition gets closer to the end offset it had at the start for this long (bus "
        "unreachable, or partitions held by another group member that lands nothing).",
    )
    row_group_size: int = Field(default=128 * 1024, description="Parquet rows per row group.")
    compression: str = Field(default="zstd", description="Parquet compression codec.")


class WarehouseConfig(Section):
    """The warehouse the models build in."""

    backend: Literal["duckdb", "postgres", "spark"] = Field(
        default="duckdb", description="'duckdb' (embedded default), 'postgres' or 'spark'."
    )
    path: Path = Field(default=Path("data/warehouse.duckdb"), description="DuckDB database file.")
    url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user@host:port/db); password from "
        "EVENTLAKE_WAREHOUSE__URL or PGPASSWORD, never the file.",
    )
    spark_master: str = Field(
        default="local[2]", description="Spark master URL (local mode or a cluster)."
    )
    spark_dir: Path = Field(
        default=Path("data/spark"),
        description="Spark warehouse: folder of the Derby metastore (metastore_db/) and the "
        "table files (spark-warehouse/), unless spark_conf points them elsewhere.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings (spark.executor.memory, a Hive metastore URI...), "
        "applied to the session eventlake starts and to the dbt profile.",
    )
    threads: int = Field(default=2, description="Parallel threads for loads and dbt.")
    read_timeout: float = Field(
        default=30.0,
        description="Statement timeout, in seconds, of the warehouse's read-only "
        "connections (the reader behind the data API and the dashboards).",
    )
    query_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Time limit, in seconds, of one statement typed by a user "
        "(`eventlake query`, POST /api/query); past it the statement is cancelled.",
    )
    query_memory_mb: int = Field(
        default=2048,
        ge=16,
        description="Memory limit, in MB, of one statement typed by a user (`eventlake "
        "query`, POST /api/query). DuckDB: memory_limit of the query's private instance, "
        "nothing spilled to disk; PostgreSQL: work_mem (per sort or hash, at most a "
        "quarter of it) and temp_file_limit (if the login may set it).",
    )
    state_dir: Path = Field(
        default=Path("data/pipeline"),
        description="Pipeline run history (runs.jsonl) and backfill progress, read by "
        "`eventlake status` and by a resumed `eventlake backfill`.",
    )


class ModelsConfig(Section):
    """The dbt project: ours plus the user's models."""

    events: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="The built-in event models (staging, marts and metrics over tracked "
        "events) and the game dashboard: 'on', 'off', or 'auto': on unless the project "
        "has batch sources ([sources.csv] or [sources.api]) and tracks no events (no "
        "collector write key configured and no event in the lake).",
    )
    user_models_dir: Path | None = Field(
        default=Path("models"),
        description="Folder of the user's own dbt models (SQL and YAML), built in the same "
        "run as ours; subfolders staging/, marts/ and metrics/ land in those schemas.",
    )
    user_seeds_dir: Path | None = Field(
        default=Path("seeds"),
        description="Folder of the user's own dbt seeds (CSV files, with an optional YAML "
        "of their column types), loaded by the same run as the models.",
    )
    user_macros_dir: Path | None = Field(
        default=Path("macros"),
        description="Folder of the user's own dbt macros, usable by their models.",
    )

    @field_validator("events", mode="before")
    @classmethod
    def _events_flag(cls, value: Any) -> Any:
        # `events = false` in TOML (or EVENTLAKE_MODELS__EVENTS=false) reads as "off"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return "on" if value.strip().lower() == "true" else "off"
        return value

    session_timeout_minutes: int = Field(
        default=30, description="Inactivity that ends a session in fct_sessions."
    )
    dbt_dir: Path = Field(
        default=Path("data/dbt"), description="Working folder for dbt (profiles, target)."
    )
    reporting_currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the currency revenue is reported in: every purchase is "
        "converted at the rate in force on its day (models.exchange_rates); the purchase's own "
        "currency and amount are kept beside it.",
    )
    exchange_rates: Path | None = Field(
        default=Path("exchange-rates.csv"),
        description="Your dated exchange-rate CSV (rate_date, currency, usd_per_unit), used "
        "instead of the sample rates shipped with eventlake when the file exists. After "
        "editing it, run `eventlake build --full-refresh` to convert past purchases again.",
    )


class ServeConfig(Section):
    """The data API and dashboard (`eventlake serve`)."""

    host: str = Field(default="127.0.0.1", description="Interface the API binds.")
    port: int = Field(default=8000, description="TCP port of the API and dashboard.")
    token: str | None = Field(
        default=None,
        description="Bearer token for the API and dashboard; unset means open. Prefer "
        "EVENTLAKE_SERVE__TOKEN.",
    )
    query_enabled: bool = Field(
        default=False, description="Enable POST /api/query (read-only SQL)."
    )
    query_token: str | None = Field(
        default=None, description="Bearer token required by POST /api/query."
    )
    dashboards_dir: Path | None = Field(
        default=Path("dashboards"),
        description="Folder of user dashboard YAML files, shown beside the default one.",
    )
    mount_collector: bool = Field(
        default=False, description="Also serve the collector's /v1/* in the same process."
    )
    max_limit: int = Field(
        default=100_000, description="Largest 'limit' (rows per response) the data API allows."
    )
    cache_entries: int = Field(
        default=4096,
        description="Encoded API responses kept in memory per warehouse version (0 = off); "
        "also bounded to 64 MB.",
    )
    cache_seconds: int = Field(
        default=0,
        description="Cache-Control max-age of API responses; 0 means browsers revalidate "
        "every time with the ETag (a 304 costs no query).",
    )
    query_workers: int = Field(
        default=2,
        ge=1,
        description="Threads running the API's warehouse queries; more requests wait their "
        "turn (PostgreSQL: the reader's pool holds one connection more, for version checks).",
    )
    duckdb_threads: int = Field(
        default=1,
        ge=0,
        description="DuckDB threads per API query (0 = DuckDB's default, one per core); also "
        "the Spark reader's, which is DuckDB; PostgreSQL plans its own parallel workers.",
    )
    reload_check_ms: int = Field(
        default=100,
        ge=0,
        description="How often the warehouse and metrics catalog files are checked for a new "
        "publish; a new build is served at most this long after it lands (0 = every request).",
    )


class Settings(BaseSettings):
    """All of eventlake's configuration; build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix="EVENTLAKE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    base_dir: Path = Field(
        default=Path("."), description="Directory relative paths are resolved against."
    )
    spec: SpecConfig = Field(default_factory=SpecConfig, description="Tracking plan.")
    collect: CollectConfig = Field(default_factory=CollectConfig, description="Collector.")
    bus: BusConfig = Field(default_factory=BusConfig, description="Durable log.")
    lake: LakeConfig = Field(default_factory=LakeConfig, description="Parquet lake.")
    land: LandConfig = Field(default_factory=LandConfig, description="Lander.")
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig, description="Warehouse.")
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="dbt models.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="API + dashboard.")
    sources: SourcesConfig = Field(default_factory=SourcesConfig, description="Pull sources.")
    schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="Model and REST source schedules."
    )
    up: UpConfig = Field(default_factory=UpConfig, description="The `eventlake up` supervisor.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _TOML_FILE_FOR_LOAD.get("path")
        sources: list[PydanticBaseSettingsSource] = [env_settings, init_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def resolve(self, path: Path | str) -> Path:
        """Return ``path`` made absolute against the project directory.

        Normalised lexically, not through symbolic links: the DuckDB warehouse's name is a
        symlink to its published generation, and must stay that name.
        """
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(os.path.abspath(self.base_dir / p))

    def lake_uri(self) -> str:
        """The lake root as a URI or an absolute local path."""
        raw = self.lake.path
        if "://" in raw:
            return raw
        return str(self.resolve(raw))

    def write_keys(self) -> dict[str, str]:
        """Write key -> source name, merging ``write_keys_file`` into ``write_keys``."""
        keys = dict(self.collect.write_keys)
        if self.collect.write_keys_file is not None:
            path = self.resolve(self.collect.write_keys_file)
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read write_keys_file {path}: {exc}") from exc
            for lineno, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                key, sep, source = line.partition("=")
                if not sep or not key.strip():
                    raise ConfigError(
                        f"{path}:{lineno}: expected 'key = source name', got {line!r}"
                    )
                keys[key.strip()] = source.strip() or "default"
        return keys


# The TOML path handed to settings_customise_sources for the duration of one load_config
# call (pydantic-settings offers no per-instance hook for a file chosen at run time); the
# lock keeps two threads loading different files from seeing each other's.
_TOML_FILE_FOR_LOAD: dict[str, Path | None] = {"path": None}
_LOAD_LOCK = threading.Lock()


def find_config_file(start: Path | None = None) -> Path | None:
    """The project's config file, found the way git finds a repository.

    ``$EVENTLAKE_CONFIG`` if set; else ``eventlake.toml`` in ``start`` (default: the working
    directory), then in each parent directory up to the filesystem root; else None.
    """
    env = os.environ.get("EVENTLAKE_CONFIG")
    if env:
        return Path(env).expanduser()
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / CONFIG_FILE_NAME
        if path.is_file():
            return path
    return None


def load_config(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Load settings from ``path`` (or the discovered eventlake.toml) and the environment.

    Args:
        path: a TOML file; ``None`` looks for ``$EVENTLAKE_CONFIG`` then ``./eventlake.toml``.
        overrides: section values that win over the file (used by tests and the CLI).

    Raises:
        ConfigError: the file is missing, unreadable or has an invalid value (the message
            names the key).
    """
    file = Path(path).expanduser() if path is not None else find_config_file()
    if file is not None and not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    base_dir = file.resolve().parent if file is not None else Path.cwd()
    try:
        with _LOAD_LOCK:
            _TOML_FILE_FOR_LOAD["path"] = file
            try:
                settings = Settings(**overrides)
            finally:
                _TOML_FILE_FOR_LOAD["path"] = None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        variables = _variables_for(
            tuple(str(p) for p in first["loc"]), os.environ, missing=first["type"] == "missing"
        )
        if variables:
            where = f" from the environment ({', '.join(variables)})"
        else:
            where = f" in {file}" if file else ""
        raise ConfigError(f"invalid setting {loc!r}{where}: {first['msg']}") from exc
    except SettingsError as exc:
        # pydantic-settings could not decode a variable (a dict or list that is not JSON).
        match = re.search(r'field "([^"]+)"', str(exc))
        section = ENV_PREFIX + (match.group(1).upper() if match else "")
        variables = sorted(
            k
            for k, v in os.environ.items()
            if (k.upper() == section or k.upper().startswith(section + "__")) and not _is_json(v)
        )
        raise ConfigError(
            f"cannot read {', '.join(variables) or 'an EVENTLAKE_* variable'}: dicts and "
            'lists are JSON, e.g. EVENTLAKE_COLLECT__WRITE_KEYS=\'{"key": "web"}\''
        ) from exc
    except Exception as exc:  # tomllib.TOMLDecodeError and friends
        raise ConfigError(f"cannot read config {file}: {exc}") from exc
    if "base_dir" not in overrides and "EVENTLAKE_BASE_DIR" not in os.environ:
        settings.base_dir = base_dir
    return settings


def settings_reference() -> list[tuple[str, str, str]]:
    """Every setting as (dotted key, default, help), for docs and the documented-settings test.

    Mappings of named entries (``sources.csv.<name>``) are described by their entry class.
    """
    out: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            key = f"{prefix}{name}"
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, key + ".")
                continue
            args = getattr(ann, "__args__", ())
            entry = args[-1] if args else None
            if (
                getattr(ann, "__origin__", None) is dict
                and isinstance(entry, type)
                and issubclass(entry, BaseModel)
            ):
                walk(entry, key + ".<name>.")
                continue
            if info.is_required():
                default = "(required)"
            else:
                value = (
                    info.default_factory()  # type: ignore[call-arg]
                    if info.default_factory is not None
                    else info.default
                )
                default = repr(str(value) if isinstance(value, Path) else value)
            out.append((key, default, info.description or ""))

    walk(Settings, "")
    return out


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _variables_for(
    loc: tuple[str, ...], environ: Mapping[str, str], *, missing: bool = False
) -> list[str]:
    """The environment variables that set the setting at ``loc`` or a section holding it.

    ``("collect", "port")`` -> ``EVENTLAKE_COLLECT__PORT`` if set, else ``EVENTLAKE_COLLECT``
    (the section as JSON) if set. A ``missing`` field of an entry built from variables
    (``EVENTLAKE_SOURCES__CSV__S1__INPUT_DIR`` without ``..._SCHEMA_FILE``) names those
    variables. Names compare without case, like pydantic-settings does.
    """
    upper = {k.upper(): k for k in environ if k.upper().startswith(ENV_PREFIX)}
    for depth in range(len(loc), 0, -1):
        name = ENV_PREFIX + "__".join(loc[:depth]).upper()
        if name in upper:
            return [upper[name]]
    if missing and len(loc) > 1:
        entry = ENV_PREFIX + "__".join(loc[:-1]).upper() + "__"
        return sorted(orig for key, orig in upper.items() if key.startswith(entry))
    return []


def _setting_patterns() -> tuple[re.Pattern[str], list[str]]:
    """A regex matching every ``EVENTLAKE_*`` name that sets something, and the concrete
    names among them (for did-you-mean suggestions).

    A section may be given whole as JSON (``EVENTLAKE_COLLECT``), a key on its own
    (``EVENTLAKE_COLLECT__PORT``), a dict key by key (``EVENTLAKE_COLLECT__WRITE_KEYS__K1``)
    and a named entry field by field (``EVENTLAKE_SOURCES__CSV__S1__INPUT_DIR``).
    """
    free = "(?:(?!__).)+"  # a name the user chooses (a dict key, a sources.csv entry)
    patterns: list[str] = []
    names: list[str] = []

    def walk(model: type[BaseModel], parts: list[str], concrete: bool) -> None:
        for field_name, info in model.model_fields.items():
            path = [*parts, re.escape(field_name.upper())]
            joined = "__".join(path)
            patterns.append(joined)
            if concrete:
                names.append(ENV_PREFIX + "__".join(parts + [field_name.upper()]))
            ann = info.annotation
            optional = [a for a in get_args(ann) if a is not type(None)]
            if get_origin(ann) is not dict and len(optional) == 1:
                ann = optional[0]  # X | None -> X
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, path, concrete)
            elif get_origin(ann) is dict:
                entry = get_args(ann)[-1] if get_args(ann) else None
                patterns.append(f"{joined}__{free}")
                if isinstance(entry, type) and issubclass(entry, BaseModel):
                    walk(entry, [*path, free], False)

    walk(Settings, [], True)
    regex = re.compile(re.escape(ENV_PREFIX) + "(?:" + "|".join(patterns) + ")", re.IGNORECASE)
    return regex, sorted(set(names))


def unknown_environment_variables(
    environ: Mapping[str, str] | None = None,
) -> list[tuple[str, str | None]]:
    """``EVENTLAKE_*`` variables that set no setting, each with a likely intended name.

    Settings ignore a variable whose section does not exist (``EVENTLAKE_COLECT__PORT``), so
    a typo would otherwise go unnoticed. Not reported: :data:`NON_SETTING_VARIABLES`, and
    single-part names that look like no setting (``EVENTLAKE_MY_API_TOKEN``, say, for a REST
    source's ``auth.env``): only names with a ``__`` section separator, or close to a
    section's name, are meant as settings.
    """
    env = os.environ if environ is None else environ
    regex, names = _setting_patterns()
    sections = [n for n in names if "__" not in n]
    out: list[tuple[str, str | None]] = []
    for key in sorted(env):
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_VARIABLES:
            continue
        if regex.fullmatch(key):
            continue
        meant_as_setting = "__" in upper or bool(
            difflib.get_close_matches(upper, sections, n=1, cutoff=0.8)
        )
        if not meant_as_setting:
            continue
        close = difflib.get_close_matches(upper, names, n=1, cutoff=0.6)
        hint = close[0] if close and not upper.startswith(close[0] + "__") else None
        out.append((key, hint))
    return out
