"""`eventlake sources csv`: ingest or watch a CSV drop folder declared in [sources.csv.NAME]."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from eventlake.cli import pass_settings

if TYPE_CHECKING:
    from eventlake.sources.csv import CsvFileOutcome, CsvIngestResult

__all__ = ["csv_group"]


def _line(o: CsvFileOutcome) -> str:
    if o.outcome == "loaded":
        extra = f", {o.empty_rows} empty dropped" if o.empty_rows else ""
        notes = f" ({'; '.join(o.notes)})" if o.notes else ""
        return f"loaded     {o.file}: {o.rows} rows{extra}{notes}"
    if o.outcome == "duplicate":
        return f"duplicate  {o.file}: already loaded (sha256 {o.sha256[:12]})"
    more = f" (+{o.problems - 1} more)" if o.problems > 1 else ""
    return f"FAILED     {o.file}: {o.error}{more} -> {o.error_file}"


def _summary(r: CsvIngestResult) -> str:
    return (
        f"{r.dataset}: {r.count('loaded')} loaded ({r.rows:,} rows), {r.count('failed')} "
        f"failed, {r.count('duplicate')} duplicate, in {r.seconds:.2f} s"
    )


@click.group("csv")
def csv_group() -> None:
    """CSV drop folders: files validated against a YAML schema, loaded to lake + warehouse.

    Declare a dataset in eventlake.toml as [sources.csv.NAME] (input_dir, schema_file,
    table). Failing files move to <input_dir>/failed/ with <file>.error.json; every outcome
    is a JSON line in <input_dir>/ingest.log.
    """


@csv_group.command("ingest")
@click.argument("dataset")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 2 if any file failed.")
@click.pass_context
def ingest_cmd(
    ctx: click.Context, dataset: str, paths: tuple[Path, ...], as_json: bool, strict: bool
) -> None:
    """Ingest DATASET's folder once (or just PATHS): for cron jobs and bulk loads.

    Each file is loaded whole or moved to failed/; the same content loads only once.
    """
    from rich.console import Console

    from eventlake.sources.csv import open_csv_source

    source = open_csv_source(pass_settings(ctx), dataset)
    echo: Any = None if as_json else (lambda o: click.echo(_line(o)))
    with Console(stderr=True).status(f"ingesting {source.input_dir}", spinner="dots"):
        result = source.ingest(list(paths) or None, on_outcome=echo)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(_summary(result))
    if strict and result.count("failed"):
        ctx.exit(2)


@csv_group.command("watch")
@click.argument("dataset")
@click.option(
    "--stable-seconds", type=float, help="Override: size unchanged this long = file complete."
)
@click.option("--rescan-seconds", type=float, help="Override: full rescan interval.")
@click.option("--json", "as_json", is_flag=True, help="Print each file's outcome as JSON.")
@click.pass_context
def watch_cmd(
    ctx: click.Context,
    dataset: str,
    stable_seconds: float | None,
    rescan_seconds: float | None,
    as_json: bool,
) -> None:
    """Watch DATASET's folder and ingest files as they arrive, until Ctrl-C / SIGTERM.

    A file is read once it is complete: its size has not changed for stable_seconds, or
    it was written under a temporary name (.x, *.tmp, *.part) and renamed.
    """
    from eventlake.sources.csv import open_csv_source

    source = open_csv_source(pass_settings(ctx), dataset)
    updates = {
        k: v
        for k, v in (("stable_seconds", stable_seconds), ("rescan_seconds", rescan_seconds))
        if v is not None
    }
    if updates:
        source.config = source.config.model_copy(update=updates)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def show(o: CsvFileOutcome) -> None:
        click.echo(json.dumps(o.to_dict(), default=str) if as_json else _line(o))

    def done(r: CsvIngestResult) -> None:
        if not as_json:
            click.echo(_summary(r))

    click.echo(f"watching {source.input_dir} (Ctrl-C to stop)", err=True)

    def failed(exc: Exception) -> None:
        click.echo(f"error: {exc} (will retry)", err=True)

    source.watch(stop, on_result=done, on_outcome=show, on_error=failed)
    click.echo("stopped", err=True)
