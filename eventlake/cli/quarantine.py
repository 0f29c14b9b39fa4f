"""`eventlake quarantine list|replay`: inspect rejected events and re-submit them."""

from __future__ import annotations

import json
import sys

import click

from eventlake.cli import pass_settings

__all__ = ["quarantine"]


@click.group("quarantine")
def quarantine() -> None:
    """Events rejected by the collector or the lander, kept with their reason."""


@quarantine.command("list")
@click.option("--reason", help="Only this reason code (e.g. plan_violation, missing_id).")
@click.option("--date", help="Only events received on this UTC day (YYYY-MM-DD).")
@click.option("--limit", type=int, default=50, show_default=True, help="Rows to show (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.pass_context
def list_cmd(
    ctx: click.Context, reason: str | None, date: str | None, limit: int, as_json: bool
) -> None:
    """Show quarantined events, oldest first, with their reason and whether replayed.

    On a terminal: a table. Piped or redirected: a header line and one tab-separated line
    per event (the count goes to stderr); --json prints one JSON object per line.
    """
    from eventlake.lake import open_lake
    from eventlake.land.quarantine import read_quarantine

    _check_date(date)
    settings = pass_settings(ctx)
    # Read-only: a project with no lake yet lists nothing and creates nothing.
    lake = open_lake(settings.lake_uri(), settings.lake.storage_options, create=False)
    table = read_quarantine(lake, reason=reason, date=date)
    total = table.num_rows
    if limit:
        table = table.slice(0, limit)
    rows = table.to_pylist()
    if as_json:
        for row in rows:
            row["received_at"] = row["received_at"].isoformat().replace("+00:00", "Z")
            click.echo(json.dumps(row))
        return
    shown = f", first {len(rows)}" if len(rows) < total else ""
    title = f"quarantine: {total} event(s){shown}"
    cells = [
        (
            row["received_at"].strftime("%Y-%m-%d %H:%M:%S"),
            row["message_id"] or "-",
            row["event"] or row["type"] or "-",
            row["reason_code"],
            row["reason"],
            "yes" if row["replayed"] else "",
        )
        for row in rows
    ]
    if not sys.stdout.isatty():
        # Piped or redirected: one plain line per event, tab-separated, never wrapped, so
        # message IDs and reasons stay whole for grep, cut and sort.
        click.echo(title, err=True)
        click.echo("\t".join(_COLUMNS))
        for line in cells:
            click.echo("\t".join(_one_line(v) for v in line))
        return
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title)
    for col in _COLUMNS:
        out.add_column(col, overflow="fold")
    for line in cells:
        out.add_row(*line)
    Console().print(out)


_COLUMNS = ("received_at", "message_id", "event", "reason_code", "reason", "replayed")


def _one_line(value: str) -> str:
    return " ".join(value.split()) if any(c in value for c in "\t\r\n") else value


@quarantine.command("replay")
@click.option("--reason", help="Only events quarantined for this reason code.")
@click.option("--date", help="Only events received on this UTC day (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True, help="Validate and count, append nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def replay_cmd(
    ctx: click.Context, reason: str | None, date: str | None, dry_run: bool, as_json: bool
) -> None:
    """Re-validate quarantined events with the current tracking plan; re-submit valid ones.

    Valid events go to the bus topic "events" (run `eventlake land` next); each is
    re-submitted at most once however often you replay. Still-invalid ones stay.
    """
    from eventlake.land.quarantine import replay_quarantine

    _check_date(date)
    result = replay_quarantine(pass_settings(ctx), reason=reason, date=date, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    verb = "would replay" if dry_run else "replayed"
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(result.reasons.items()))
    click.echo(
        f"{verb} {result.replayed} event(s); {result.still_invalid} still invalid"
        + (f" ({reasons})" if reasons else "")
        + f"; {result.already_replayed} replayed before; "
        f"{result.not_replayable} not replayable"
    )


def _check_date(date: str | None) -> None:
    import datetime as dt

    from eventlake.errors import EventlakeError

    if date is None:
        return
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise EventlakeError(f"--date must be YYYY-MM-DD, got {date!r}") from None
