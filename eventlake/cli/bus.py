"""`eventlake bus status|compact`: inspect the durable log and delete what is consumed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from eventlake.cli import pass_settings

if TYPE_CHECKING:
    from eventlake.bus.local_admin import LocalAdmin

__all__ = ["bus"]


def _admin(ctx: click.Context, verb: str) -> LocalAdmin:
    from eventlake.bus import open_local_admin

    settings = pass_settings(ctx)
    return open_local_admin(settings.bus, settings.base_dir, verb=verb)


@click.group("bus")
def bus() -> None:
    """Inspect and compact the local durable log (bus.backend = "local")."""


@bus.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Per partition: offsets on disk, size, and each consumer group's committed offset."""
    admin = _admin(ctx, "status")
    parts = admin.status()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in parts], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bus {admin.root}")
    for col in ("topic", "partition", "start", "end", "segments", "bytes", "groups (lag)"):
        table.add_column(col, justify="left" if col in ("topic", "groups (lag)") else "right")
    for p in parts:
        groups = ", ".join(f"{g}={o} ({p.lag(g)})" for g, o in sorted(p.committed.items()))
        table.add_row(
            p.topic,
            str(p.partition),
            str(p.start_offset),
            str(p.end_offset),
            str(p.segments),
            f"{p.bytes:,}",
            groups or "-",
        )
    Console().print(table)


@bus.command("compact")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def compact_cmd(ctx: click.Context, as_json: bool) -> None:
    """Delete segments that every consumer group has consumed (safe while running)."""
    result = _admin(ctx, "compact").compact()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(
            f"deleted {result.segments_deleted} segments, freed {result.bytes_freed:,} bytes"
        )
