"""`eventlake sources api`: run a declarative REST API source, show its saved state."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["api_group"]


@click.group("api")
def api_group() -> None:
    """REST API sources declared in [sources.api.NAME] (definition = a YAML file).

    Records land as Parquet under <lake>/sources/NAME/<resource>/ and load into the
    warehouse as raw.NAME__<resource>, one row per primary key.
    """


@api_group.command("run")
@click.argument("name")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Ignore saved cursors: fetch everything again and rebuild the raw tables.",
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="Only this resource and its parent/child group (a parent's cursor never advances "
    "without its children); repeatable.",
)
@click.option("--no-load", is_flag=True, help="Land in the lake only; skip the warehouse.")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON.")
@click.pass_context
def run_cmd(
    ctx: click.Context,
    name: str,
    full_refresh: bool,
    resources: tuple[str, ...],
    no_load: bool,
    as_json: bool,
) -> None:
    """Extract source NAME: new and changed records since the last run.

    Pages and child resources are fetched in parallel under the definition's rate limit
    and concurrency; 429/5xx are retried with backoff. A crashed run can simply be run
    again: finished work is skipped and rows are deduplicated by primary key. Exits 1
    when a resource failed (its saved cursor is not advanced).
    """
    from eventlake.cli import pass_settings
    from eventlake.errors import SourceError
    from eventlake.sources.api import run_api_source

    settings = pass_settings(ctx)
    kwargs: dict[str, Any] = {
        "full_refresh": full_refresh,
        "resources": list(resources) or None,
        "load_warehouse": not no_load,
    }
    if as_json:
        result = run_api_source(settings, name, **kwargs)
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(f"extracting {name}...") as status:

            def progress(requests: int, records: int) -> None:
                status.update(f"extracting {name}: {requests:,} requests, {records:,} records")

            result = run_api_source(settings, name, progress=progress, **kwargs)
        _print_result(result)
    if not result.ok:
        failed = [r for r in result.resources if r.status != "ok" and r.error]
        first = failed[0].error if failed else "a resource failed"
        raise SourceError(f"source {name!r}: {first}")


def _print_result(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.source} run {result.run_id} ({result.seconds:.1f} s)")
    for col in ("resource", "status", "pages", "records", "cursor", "raw table rows"):
        table.add_column(col)
    for r in result.resources:
        table.add_row(
            r.name,
            r.status,
            str(r.pages),
            str(r.records),
            str(r.cursor_after if r.status == "ok" else r.cursor_before),
            str(result.loaded.get(r.table, "-")),
        )
    console = Console()
    console.print(table)
    console.print(f"{result.requests} requests, {result.retries} retries")
    for d in result.drift:
        console.print(f"[yellow]schema drift[/]: {d}")


@api_group.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@click.pass_context
def status_cmd(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show source NAME's saved state: cursor, generation, lake rows, resumable work."""
    from eventlake.cli import pass_settings
    from eventlake.sources.api import api_source_status

    status = api_source_status(pass_settings(ctx), name)
    if as_json:
        click.echo(json.dumps(status.to_dict(), indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"API source {name} ({status.commits} commits)")
    for col in ("resource", "table", "cursor", "gen", "lake rows", "interrupted runs"):
        table.add_column(col)
    for r in status.resources:
        table.add_row(
            r.name,
            r.table,
            str(r.cursor),
            str(r.generation),
            str(r.lake_rows),
            str(len(r.interrupted_runs)),
        )
    Console().print(table)
