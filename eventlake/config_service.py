"""The sections of the running service: ``[schedule]``, ``[up]`` and ``[sources.*]``.

Part of the configuration (:mod:`eventlake.config` builds ``Settings`` from them and
re-exports every name here); kept apart so that each module stays small. The rules are
``config``'s: every setting has a default (or is required) and a ``description``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ApiSourceConfig",
    "CsvDatasetConfig",
    "ScheduleConfig",
    "Section",
    "SourcesConfig",
    "UpConfig",
    "check_cron",
]


class Section(BaseModel):
    """A section of ``eventlake.toml``: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class ScheduleConfig(Section):
    """When `eventlake up` runs the models and the REST API sources.

    Cron expressions are read by croniter: five fields (minute hour day-of-month month
    day-of-week), the nicknames ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, or six
    fields whose last one is the second (``*/10 * * * * 0`` = every ten minutes, on the
    minute). They are evaluated in ``timezone``.
    """

    models: str = Field(
        default="continuous",
        description="'continuous': a model run starts as soon as the lake holds commits the "
        "warehouse has not loaded (or, under `eventlake up` running the lander too, as soon "
        "as the lander holds an open batch, which the run asks it to land), at most one run "
        "start every models_min_interval seconds; or a cron expression (e.g. "
        "'*/15 * * * *'): a run at each time, whatever arrived.",
    )
    models_min_interval: float = Field(
        default=5.0,
        ge=0.0,
        description="Continuous mode: the least time, in seconds, between the starts of two "
        "model runs (a run longer than this is followed at once by the next one when new "
        "commits wait). Lower means fresher dashboards and more CPU spent on builds.",
    )
    models_poll_seconds: float = Field(
        default=0.5,
        gt=0.0,
        description="Continuous mode: how often the lake's commit listing is checked for "
        "commits the warehouse has not loaded (a directory listing per stream).",
    )
    api: dict[str, str] = Field(
        default_factory=dict,
        description="REST API source name -> cron expression of its runs, or 'off' (run it "
        "only by hand with `eventlake sources api run NAME`). Sources not listed follow "
        "api_default.",
    )
    api_default: str = Field(
        default="@hourly",
        description="Cron expression (or 'off') of every REST API source not named in api.",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone the cron expressions are read in (e.g. 'Europe/Paris').",
    )

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: str) -> str:
        if value.strip().lower() == "continuous":
            return "continuous"
        return check_cron(value)

    @field_validator("api_default")
    @classmethod
    def _check_api_default(cls, value: str) -> str:
        return "off" if value.strip().lower() == "off" else check_cron(value)

    @field_validator("api")
    @classmethod
    def _check_api(cls, value: dict[str, str]) -> dict[str, str]:
        return {
            name: "off" if cron.strip().lower() == "off" else check_cron(cron, name)
            for name, cron in value.items()
        }

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'UTC')") from exc
        return value


def check_cron(expression: str, name: str | None = None) -> str:
    """``expression`` stripped, if croniter reads it as a cron expression; else ValueError."""
    from croniter import croniter

    text = expression.strip()
    if not croniter.is_valid(text):
        what = f" for {name!r}" if name else ""
        raise ValueError(
            f"{text!r}{what} is not a cron expression: five fields 'minute hour day month "
            "weekday' (e.g. '*/15 * * * *'), @hourly/@daily/@weekly/@monthly, or six fields "
            "with the seconds last"
        )
    return text


class UpConfig(Section):
    """The supervisor of `eventlake up`: restarts, back-off, shutdown."""

    stop_timeout: float = Field(
        default=30.0,
        gt=0.0,
        description="Seconds a graceful stop (Ctrl-C, SIGTERM) may take in all: children "
        "still running then are killed (a build killed this way publishes nothing).",
    )
    backoff_initial: float = Field(
        default=1.0,
        gt=0.0,
        description="Seconds before restarting a child that died; doubled after each crash "
        "that follows quickly on the last one, up to backoff_max.",
    )
    backoff_max: float = Field(
        default=60.0, gt=0.0, description="Longest wait, in seconds, before a restart."
    )
    stable_seconds: float = Field(
        default=60.0,
        gt=0.0,
        description="A child that ran this long before dying is restarted after "
        "backoff_initial again (its earlier crashes are forgiven).",
    )
    crash_loop_restarts: int = Field(
        default=3,
        ge=1,
        description="This many restarts of one child within crash_loop_window seconds "
        "report it as crash-looping in /healthz and `eventlake status`.",
    )
    crash_loop_window: float = Field(
        default=300.0, gt=0.0, description="Window, in seconds, of crash_loop_restarts."
    )


class CsvDatasetConfig(Section):
    """One CSV drop-folder dataset."""

    input_dir: Path = Field(description="Folder watched for dropped CSV files.")
    schema_file: Path = Field(description="YAML schema: column -> type, required, allowed.")
    table: str = Field(description="Warehouse table the dataset loads into.")
    extra_columns: Literal["fail", "ignore"] = Field(
        default="fail", description="What an unknown column does to a file."
    )
    on_success: Literal["delete", "archive"] = Field(
        default="archive", description="What happens to a loaded input file."
    )
    archive_dir: Path | None = Field(
        default=None,
        description="Where loaded inputs go when on_success = 'archive' "
        "(default: <input_dir>/archive).",
    )
    patterns: list[str] = Field(
        default_factory=lambda: ["*.csv", "*.tsv", "*.txt"],
        description="File name patterns picked up; hidden (.x), ~x and temporary names "
        "(*.tmp, *.part, *.crdownload, *.swp) are always ignored.",
    )
    delimiter: str | None = Field(
        default=None,
        description="Force a delimiter; unset detects ',' ';' tab '|' from the header.",
    )
    encoding: str | None = Field(
        default=None,
        description="Force an encoding; unset reads UTF-8 (BOM or not), else Latin-1 "
        "(reported in the log).",
    )
    stable_seconds: float = Field(
        default=2.0,
        description="watch: a file is read once its size and mtime stay unchanged this long.",
    )
    rescan_seconds: float = Field(
        default=30.0,
        description="watch: full folder rescan interval, a safety net for missed events.",
    )
    load_mode: Literal["table", "view"] = Field(
        default="table",
        description="'table' copies rows into the warehouse table (every engine); 'view' "
        "makes it a view over the committed lake Parquet files (DuckDB with a local lake "
        "only; faster loads).",
    )
    workers: int = Field(
        default=2,
        ge=1,
        description="Threads that read and hash files, parse and validate chunks of them, "
        "and write the lake commits of a large ingest (one per thread).",
    )


class ApiSourceConfig(Section):
    """One declarative REST API source (details in its YAML definition)."""

    definition: Path = Field(description="YAML: base URL, resources, pagination, auth...")
    base_url: str | None = Field(
        default=None,
        description="Overrides the definition's base_url (e.g. a staging host or a local "
        "test server) without editing the YAML.",
    )


class SourcesConfig(Section):
    """Pull sources: CSV drop folders and REST APIs, by name."""

    csv: dict[str, CsvDatasetConfig] = Field(
        default_factory=dict, description="CSV datasets by name."
    )
    api: dict[str, ApiSourceConfig] = Field(
        default_factory=dict, description="REST API sources by name."
    )
