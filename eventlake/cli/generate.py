"""`eventlake generate`: synthetic game events to the bus, a collector, or a .jsonl file."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from eventlake.cli import pass_settings
from eventlake.config import Settings
from eventlake.errors import ConfigError

__all__ = ["generate", "resolve_source"]

_F = TypeVar("_F", bound=Callable[..., Any])


def resolve_source(settings: Settings, write_key: str | None) -> tuple[str, str]:
    """(write key, source name) for generated events: the given key or the first configured."""
    keys = settings.write_keys()
    if write_key is None:
        if not keys:
            return "generator-key", "generator"
        write_key = sorted(keys)[0]
    return write_key, keys.get(write_key, "generator")


def _rate_option(name: str, default: float, help: str) -> Callable[[_F], _F]:
    """A ``--*-rate`` option: a share of events or players, from 0 to 1."""
    return click.option(
        name, type=click.FloatRange(0, 1), default=default, show_default=True, help=help
    )


@click.command("generate")
@click.option(
    "--users",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Players in the world.",
)
@click.option(
    "--days", type=click.IntRange(min=1), default=30, show_default=True, help="Days of activity."
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day (default: DAYS days before today, UTC).",
)
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Random seed: the same seed and sizes give the same events.",
)
@click.option(
    "--to",
    "target",
    default="bus",
    show_default=True,
    help="'bus' (the configured bus, bulk), http://HOST:PORT (a collector, through "
    "the tracker SDK) or a FILE.jsonl (raw Segment events).",
)
@click.option(
    "--write-key", default=None, help="Write key for --to http (default: the first configured one)."
)
@_rate_option("--duplicate-rate", 0.01, "Share of events sent twice with the same messageId.")
@_rate_option("--late-rate", 0.02, "Share of events arriving 1 h to days late.")
@_rate_option(
    "--invalid-rate", 0.002, "Share of events that break the tracking plan (quarantined)."
)
@_rate_option("--skew-rate", 0.05, "Share of players whose device clock is minutes to hours off.")
@_rate_option(
    "--anonymous-rate",
    0.3,
    "Share of players whose first session is anonymous (identified at its end).",
)
@_rate_option("--alias-rate", 0.05, "Share of players who also send an alias call.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes writing to a local bus (split by partition; same result). One is "
    "usually fastest: Arrow already compresses on a second thread, and each extra "
    "process costs CPU; try 2 on an otherwise idle multi-core machine.",
)
@click.option(
    "--record-format",
    type=click.Choice(["arrow", "json"]),
    default="arrow",
    show_default=True,
    help="Bus records: 'arrow' (many events per record, local bus) or 'json' (one each).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def generate(
    ctx: click.Context,
    users: int,
    days: int,
    start: _dt.datetime | None,
    seed: int,
    target: str,
    write_key: str | None,
    duplicate_rate: float,
    late_rate: float,
    invalid_rate: float,
    skew_rate: float,
    anonymous_rate: float,
    alias_rate: float,
    workers: int,
    record_format: str,
    as_json: bool,
) -> None:
    """Generate a synthetic game world's events (deterministic for --seed).

    Players sign up (some first play anonymously), start sessions, start/complete/fail
    levels, buy items, join guilds and view screens, with a daily and weekly rhythm,
    retention decaying week over week and revenue from a few payers. Imperfections on
    purpose: duplicates, late arrivals, client clock skew, plan-breaking events.
    Reference: docs/generator.md.
    """
    from rich.console import Console
    from rich.progress import Progress

    from eventlake.generate import WorldConfig
    from eventlake.generate import generate as make

    # Only the bus is the project's: a collector URL or a .jsonl file works from anywhere.
    settings = pass_settings(ctx, project=target == "bus")
    first = start.date() if start else _dt.datetime.now(_dt.UTC).date() - _dt.timedelta(days)
    try:
        config = WorldConfig(
            users=users,
            days=days,
            start=first,
            seed=seed,
            duplicate_rate=duplicate_rate,
            late_rate=late_rate,
            invalid_rate=invalid_rate,
            skewed_clock_rate=skew_rate,
            anonymous_first_rate=anonymous_rate,
            alias_rate=alias_rate,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    key, source = resolve_source(settings, write_key)
    with Progress(transient=True, disable=as_json, console=Console(stderr=True)) as progress:
        task = progress.add_task("simulating", total=None)
        world, frame = make(config)
        progress.update(task, description=f"sending to {target}", total=len(frame))

        def advance(n: int) -> None:
            progress.advance(task, n)

        result = _send(settings, world, frame, target, key, source, advance, workers, record_format)
    out = {
        "users": users,
        "days": days,
        "start": first.isoformat(),
        "seed": seed,
        "target": target,
        "rows": result.rows,
        "events": result.events,
        "quarantined": result.quarantined,
        "errors": result.errors,
        "seconds": round(result.seconds, 3),
        "events_per_second": round(result.rows / result.seconds) if result.seconds else None,
    }
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(
            f"generated {result.rows:,} events for {users:,} players over {days} days "
            f"from {first} -> {target}: {result.events:,} accepted, "
            f"{result.quarantined:,} quarantined, {result.errors:,} refused "
            f"({result.seconds:.1f} s)"
        )


def _send(
    settings: Settings,
    world: Any,
    frame: Any,
    target: str,
    key: str,
    source: str,
    advance: Any,
    workers: int,
    record_format: str,
) -> Any:
    from eventlake.generate import send_http, write_bus_parallel, write_jsonl

    if target == "bus":
        from eventlake.tracking_plan import plan_from_settings

        return write_bus_parallel(
            world,
            frame,
            settings,
            source=source,
            plan=plan_from_settings(settings),
            workers=workers,
            progress=advance,
            record_format=record_format,
        )
    if target.startswith(("http://", "https://")):
        return send_http(world, frame, target, key, progress=advance)
    path = Path(target)
    if path.suffix != ".jsonl":
        raise ConfigError(f"--to {target!r}: expected 'bus', http://HOST:PORT or a .jsonl file")
    if not path.parent.is_dir():
        raise ConfigError(f"--to {target}: folder {path.parent} does not exist")
    return write_jsonl(world, frame, path, progress=advance)
