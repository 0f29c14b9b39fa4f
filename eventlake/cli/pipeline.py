"""`eventlake build | run | backfill | status | query`: the pipeline verbs.

A thin layer over :mod:`eventlake.pipeline` and :mod:`eventlake.warehouse.query`: parse the
arguments, call the library, print the typed result (``--json`` for scripts). Heavy imports
(duckdb, dbt, pyarrow) happen inside the commands.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import click

from eventlake.cli import pass_settings
from eventlake.errors import EventlakeError

__all__ = ["backfill", "build", "query", "run", "status"]


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@click.command("build")
@click.option("--full-refresh", is_flag=True, help="Rebuild every model from scratch.")
@click.option("-s", "--select", multiple=True, help="dbt selector (repeatable), e.g. marts.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def build(ctx: click.Context, full_refresh: bool, select: tuple[str, ...], as_json: bool) -> None:
    """Load new lake commits into the raw layer, then build the dbt models and run their tests.

    Incremental by default (only days with new rows are rebuilt); --full-refresh rebuilds
    everything. A failing model or test names itself, exits 1, and leaves the previously
    published warehouse in place. On a terminal each stage shows as it runs.
    """
    from eventlake.cli.progress import StageProgress
    from eventlake.pipeline import build as build_pipeline

    settings = pass_settings(ctx)
    with StageProgress(enabled=not as_json) as on_stage:
        result = build_pipeline(
            settings, full_refresh=full_refresh, select=list(select) or None, on_stage=on_stage
        )
    _emit(as_json, result.to_dict(), result.summary())


@click.command("run")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Also rebuild this event day.")
@click.option("--no-land", is_flag=True, help="Skip landing; only load the lake and build.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def run(ctx: click.Context, day: str | None, no_land: bool, as_json: bool) -> None:
    """Land what is on the bus, load the lake, rebuild every day that got new rows, test.

    Late events are handled: an event landing today for a day last week makes that day's
    facts and metrics rebuild, and only those. --date D rebuilds day D even without new rows.
    On a terminal each stage (land, load, build) shows as it runs; piped or with --json
    only the result is printed.
    """
    from eventlake.cli.progress import StageProgress
    from eventlake.pipeline import run as run_pipeline

    settings = pass_settings(ctx)
    rebuild = _date(day, "--date")
    with StageProgress(enabled=not as_json) as on_stage:
        result = run_pipeline(settings, day=rebuild, land=not no_land, on_stage=on_stage)
    _emit(as_json, result.to_dict(), result.summary())


@click.command("backfill")
@click.option("--start", required=True, metavar="YYYY-MM-DD", help="First event day.")
@click.option("--end", required=True, metavar="YYYY-MM-DD", help="Last event day (inclusive).")
@click.option("--restart", is_flag=True, help="Forget earlier progress and redo every day.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def backfill(ctx: click.Context, start: str, end: str, restart: bool, as_json: bool) -> None:
    """Reload and rebuild every event day from --start to --end, one day at a time.

    Each day is idempotent and published on its own; progress is kept on disk, so after a
    crash or a failure the same command resumes at the first day not done.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from eventlake.pipeline import backfill as backfill_pipeline
    from eventlake.pipeline import days_between

    settings = pass_settings(ctx)
    first, last = _date(start, "--start"), _date(end, "--end")
    assert first is not None and last is not None
    total = len(days_between(first, last))
    progress = Progress(
        TextColumn("backfill {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        disable=as_json,
        transient=False,
        console=None,
    )
    with progress:
        task = progress.add_task(first.isoformat(), total=total)

        def on_day(day: dt.date, result: Any) -> None:
            label = f"{day.isoformat()}{' (already done)' if result is None else ''}"
            progress.update(task, advance=1, description=label)

        result = backfill_pipeline(settings, first, last, restart=restart, on_day=on_day)
    if as_json:
        _emit(True, result.to_dict(), "")
    if not result.ok:
        raise EventlakeError(result.summary())
    if not as_json:
        click.echo(result.summary())


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show each stage's counts, whether they reconcile, the last run and the lag.

    Also the freshness of the newest builds (collector 200 -> published) and, while
    `eventlake up` runs, each supervised child's state and restarts.
    """
    from eventlake.pipeline import collect_status
    from eventlake.up import read_state, state_files

    settings = pass_settings(ctx)
    report = collect_status(settings)
    supervisors = [s for s in (read_state(p) for p in state_files(settings)) if s is not None]
    if as_json:
        data = report.to_dict()
        data["supervisors"] = [{**s.to_dict(), "alive": s.alive()} for s in supervisors]
        _emit(True, data, "")
        return
    lines = ["stage        events  meaning"]
    for s in report.stages:
        rows = "unknown" if s.rows is None else f"{s.rows:,}"
        lines.append(f"{s.stage:<10} {rows:>10}  {s.detail}")
    lines.append("")
    lines.append("reconciliation")
    for text, ok in report.reconciliation():
        mark = "ok " if ok else ("?  " if ok is None else "MISMATCH ")
        lines.append(f"  {mark}{text}")
    lines.append("")
    last = report.last_run
    lines.append(f"last run:     {last.summary() if last else 'never'}")
    if report.last_success and (last is None or report.last_success.run_id != last.run_id):
        lines.append(f"last success: {report.last_success.summary()}")
    if report.lag_seconds is not None:
        lines.append(
            f"newest event: received {report.newest_event_at} ({report.lag_seconds:,.0f} s ago)"
        )
    lines.extend(_freshness_lines(report.recent_freshness))
    for sup in supervisors:
        lines.extend(_supervisor_lines(sup))
    lines.extend(f"note: {n}" for n in report.notes)
    click.echo("\n".join(lines))


def _freshness_lines(recent: tuple[tuple[str, str, float], ...]) -> list[str]:
    from eventlake.pipeline.results import format_seconds

    if not recent:
        return ["freshness:    no build has published new events yet"]
    out = ["freshness:    collector 200 -> published, oldest new event of each build"]
    out += [f"  {run_id}  {format_seconds(sec):>12}  published {at}" for run_id, at, sec in recent]
    return out


def _supervisor_lines(sup: Any) -> list[str]:
    roles = ", ".join(sup.roles)
    head = f"eventlake up (pid {sup.pid}, roles {roles})"
    if not sup.alive():
        return ["", f"{head}: not running (last report {sup.updated_at})"]
    out = ["", f"{head}: {'stopping' if sup.stopping else 'running'} since {sup.started_at}"]
    for c in sup.children:
        pid = f"pid {c.pid}" if c.pid else "no process"
        extra = f", last {c.last_exit} at {c.last_exit_at}" if c.last_exit else ""
        loop = "  CRASH-LOOPING" if c.crash_loop else ""
        out.append(f"  {c.name:<9} {c.state:<9} {pid:<11} restarts {c.restarts}{extra}{loop}")
    return out


@click.command("query")
@click.argument("sql")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (header row first).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of row objects.")
@click.option("--limit", default=10_000, show_default=True, help="Most rows printed.")
@click.pass_context
def query(ctx: click.Context, sql: str, as_csv: bool, as_json: bool, limit: int) -> None:
    """Run one read-only SQL statement on the published warehouse.

    The connection is opened read-only with file access disabled, and the statement is
    parsed first: writes, ATTACH, COPY, INSTALL/LOAD, SET and file-reading functions
    (read_csv, read_parquet, glob, ...) are refused with the reason. The tables live in
    schemas (raw, staging, marts, metrics): `SHOW TABLES` lists them all. Example:

    \b
        eventlake query "SHOW TABLES"
        eventlake query "SELECT * FROM metrics.daily_active_users ORDER BY 1 DESC LIMIT 7"
    """
    from eventlake.warehouse.query import run_query

    if as_csv and as_json:
        raise click.UsageError("choose one of --csv and --json")
    result = run_query(pass_settings(ctx), sql, limit)
    if as_json:
        click.echo(_json_rows(result.records()))
    elif as_csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(_table(result.columns, result.rows))
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


def _json_rows(records: list[dict[str, Any]]) -> str:
    """Rows as a JSON array, encoded like the data API: decimals are numbers (not "4.990000"
    strings), dates and timestamps ISO strings, NaN null; anything else as its text."""
    import msgspec

    encoder = msgspec.json.Encoder(decimal_format="number", enc_hook=str)
    return msgspec.json.format(encoder.encode(records), indent=2).decode("utf-8")


def _table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A plain aligned text table (rich would wrap long rows in a narrow terminal)."""
    cells = [[("NULL" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)
