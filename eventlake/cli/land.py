"""`eventlake land`: land the bus into the Parquet lake, once or continuously (--follow)."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

import click

from eventlake.cli import pass_settings

__all__ = ["land"]


@click.command("land")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep landing new events as they arrive until SIGINT/SIGTERM (a batch in progress "
    "is finished first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final result as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No per-batch lines.")
@click.pass_context
def land(ctx: click.Context, follow: bool, as_json: bool, quiet: bool) -> None:
    """Land events from the bus into <lake>/events and <lake>/quarantine, exactly once.

    Reads topics "events" and "quarantine" in micro-batches ([land] max_records, max_bytes,
    max_age_seconds), writes Parquet by day and commits each batch atomically with the bus
    offsets it covers. Without --follow it lands everything the bus held when it started
    (each partition's end offset) and stops. Safe to interrupt or kill at any moment and
    run again.
    """
    from rich.console import Console

    from eventlake.gc_tuning import tune_gc
    from eventlake.land import Lander

    settings = pass_settings(ctx)
    err = Console(stderr=True, highlight=False)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    lander = Lander.from_settings(settings)
    tune_gc()
    try:
        if follow and not quiet:
            err.print(f"landing {lander.bus.describe()} -> {lander.lake.uri} (Ctrl-C stops)")
        with err.status("landing...", spinner="dots") if not follow and not quiet else _null():
            result = lander.run(
                follow=follow,
                should_stop=stop.is_set,
                on_batch=None if quiet else (lambda b: err.print(b.line())),
            )
    finally:
        lander.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif not quiet:
        err.print(
            f"done: {result.events} events, {result.quarantined} quarantined, "
            f"{result.files} files in {result.batches} batches, "
            f"days {', '.join(sorted(result.days)) or '-'} ({result.seconds:.1f} s)"
        )


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
