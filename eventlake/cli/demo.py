"""`eventlake demo`: one command from an empty folder to a live dashboard."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

__all__ = ["demo", "print_result"]


@click.command("demo")
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default="eventlake-demo"
)
@click.option(
    "--users",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Players in the generated world.",
)
@click.option(
    "--days", type=click.IntRange(min=1), default=30, show_default=True, help="Days of activity."
)
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option("--no-serve", is_flag=True, help="Stop after the summary (scripts, CI).")
@click.option(
    "--no-live",
    is_flag=True,
    help="After the summary only serve the dashboard (no live pipeline, no live players).",
)
@click.option(
    "--live-rate",
    type=click.FloatRange(min=0.0),
    default=20.0,
    show_default=True,
    help="Events per second the demo's live players send while the live pipeline runs "
    "(0: none; your own SDK's events still flow).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of the dashboard and API (default: serve.port, 8000, or a free one if taken).",
)
@click.option(
    "--collector-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of the demo's collector (default: collect.port, 8088, or a free one if taken).",
)
@click.option(
    "--live-events",
    type=click.IntRange(min=0),
    default=20_000,
    show_default=True,
    help="Latest events sent over HTTP through the tracker SDK; the rest go straight to the bus.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo(
    directory: Path,
    users: int,
    days: int,
    seed: int,
    no_serve: bool,
    no_live: bool,
    live_rate: float,
    port: int | None,
    collector_port: int | None,
    live_events: int,
    as_json: bool,
) -> None:
    """Generate a game's events, land them, build the models, then run the live pipeline.

    Writes an example project into DIRECTORY (default ./eventlake-demo), starts a
    collector on 127.0.0.1, generates a world (about a million events by default: the
    latest sent live through the tracker SDK, the bulk straight to the bus), lands them as
    Parquet, builds the dbt models and prints a summary and the reconciliation. Then it
    runs the live pipeline (`eventlake up`: collector, lander, model runs, dashboard and
    API) with a few live players sending events, so the dashboard keeps changing, until
    Ctrl-C. Re-running with the same world reuses it.

    A port given with --port or --collector-port must be free; without them the configured
    ports are used, or free ones (the output says which) when other programs hold them.
    """
    from eventlake.demo import run_demo
    from eventlake.errors import PortInUseError

    serve_sock, port_note = (None, None) if no_serve else _serve_socket(directory, port)
    try:
        with _stages(disabled=as_json) as hook:
            try:
                result = run_demo(
                    directory,
                    users=users,
                    days=days,
                    seed=seed,
                    collector_port=collector_port,
                    live_events=live_events,
                    stage=hook,
                )
            except PortInUseError as exc:
                raise PortInUseError(f"{exc} (--collector-port)") from exc
        if port_note:
            result.notes.append(port_note)
        if as_json:
            click.echo(json.dumps(result.to_dict()))
        else:
            print_result(result)
        if serve_sock is not None:
            if no_live:
                _serve(Path(result.directory), serve_sock)
            else:
                _live(Path(result.directory), serve_sock, collector_port, live_rate)
    finally:
        if serve_sock is not None:
            serve_sock.close()


def _serve_socket(directory: Path, port: int | None) -> tuple[Any, str | None]:
    """The dashboard's socket, bound before the build so a taken --port fails at once."""
    from eventlake.config import load_config
    from eventlake.errors import PortInUseError
    from eventlake.project import write_example_project
    from eventlake.serve.server import bind_socket

    write_example_project(directory.expanduser())
    settings = load_config(directory.expanduser() / "eventlake.toml")
    host = settings.serve.host
    if port is not None:
        try:
            return bind_socket(host, port), None
        except PortInUseError as exc:
            raise PortInUseError(
                f"the dashboard's port {host}:{port} is already in use: stop the other server "
                "or choose another with --port"
            ) from exc
    try:
        return bind_socket(host, settings.serve.port), None
    except PortInUseError:
        sock = bind_socket(host, 0)
        return sock, (
            f"port {settings.serve.port} (serve.port) is in use, so the dashboard is served on "
            f"{host}:{sock.getsockname()[1]} instead"
        )


class _Stages:
    """Rich progress: one bar (or spinner) per stage."""

    def __init__(self, disabled: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        # On a narrow terminal the label gives way (ellipsis), never the counts.
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn(
                "{task.description}",
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
            ),
            BarColumn(bar_width=20),
            MofNCompleteColumn(table_column=Column(no_wrap=True, justify="right")),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=disabled,
            expand=True,
        )
        self.last: Any = None

    def __call__(self, name: str, total: int | None) -> Callable[[int], None]:
        if self.last is not None:
            task = self.progress.tasks[self.last]
            self.progress.update(self.last, completed=task.total or 1, total=task.total or 1)
        self.last = self.progress.add_task(name, total=total)
        task_id = self.last

        def advance(n: int) -> None:
            if total is None:
                self.progress.update(task_id, total=1, completed=1)
            else:
                self.progress.advance(task_id, n)

        return advance


@contextmanager
def _stages(disabled: bool) -> Iterator[_Stages]:
    """Show the stages' progress bars while the demo runs."""
    stages = _Stages(disabled)
    stages.progress.start()
    try:
        yield stages
        if stages.last is not None:
            stages("done", 1)(1)
    finally:
        stages.progress.stop()


def print_result(result: Any) -> None:
    """The summary tables of a :class:`~eventlake.demo.DemoResult`."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = result.summary
    world = (
        f"[bold]eventlake demo[/bold] in {result.directory}: {result.users:,} players, "
        f"{result.days} days from {result.start}, seed {result.seed}; "
    )
    split = f"{result.sent_live:,} live over HTTP, {result.sent_to_bus:,} straight to the bus"
    if result.reused:
        head = (
            f"{world}reused the {result.generated:,} events an earlier run generated "
            f"({split}); nothing generated now, summary read in {result.seconds:.1f} s"
        )
    else:
        head = f"{world}{result.generated:,} events generated ({split}) in {result.seconds:.1f} s"
    console.print(head)
    if result.stage_seconds:
        console.print(
            "stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.stage_seconds.items())
        )
    for note in result.notes:
        console.print(f"note: {note}")
    if s is None:
        return
    t = Table(title="Summary", show_header=False)
    t.add_row("Days of data (first and last partial)", f"{s.days:,}")
    t.add_row("Daily active users (last complete day)", f"{s.dau_latest:,}")
    t.add_row("Daily active users (average of complete days)", f"{s.dau_average:,.1f}")
    t.add_row(f"Revenue ({s.currency})", f"{s.revenue:,.2f}")
    t.add_row("Paying players", f"{s.purchasers:,}")
    if s.retention_week1 is not None:
        t.add_row("Week-1 retention (all cohorts)", f"{s.retention_week1:.1%}")
    console.print(t)
    items = Table(title="Top items by revenue")
    for col in ("item", "purchases", f"revenue ({s.currency})"):
        items.add_column(col)
    for item, count, revenue in s.top_items:
        items.add_row(item, f"{count:,}", f"{revenue:,.2f}")
    hosts = Table(title="Top internet host providers")
    for col in ("host provider", "players", "events"):
        hosts.add_column(col)
    for host, users, events in s.top_hosts:
        hosts.add_row(host, f"{users:,}", f"{events:,}")
    console.print(items)
    console.print(hosts)
    rec = Table(title="Reconciliation")
    for col in ("received", "landed", "quarantined", "modeled", "duplicates", "holds"):
        rec.add_column(col)
    rec.add_row(
        f"{s.received:,}" if s.received is not None else "?",
        f"{s.landed:,}",
        f"{s.quarantined:,}",
        f"{s.modeled:,}" if s.modeled is not None else "?",
        f"{s.duplicates:,}",
        "[green]yes[/green]" if s.reconciled else "[red]NO[/red]",
    )
    console.print(rec)
    console.print("received = landed + quarantined; landed = modeled + duplicates")


def _live(directory: Path, serve_sock: Any, collector_port: int | None, rate: float) -> None:
    """The live pipeline (`eventlake up`) on the demo project, plus the live players."""
    from eventlake.config import load_config
    from eventlake.demo import collector_socket
    from eventlake.up import ChildSpec, child_command, run_up
    from eventlake.up.supervisor import STOP_INTAKE

    config = directory / "eventlake.toml"
    settings = load_config(config)
    collect_sock, notes = collector_socket(
        settings.collect.host, collector_port, settings.collect.port
    )
    with collect_sock:
        host, port = serve_sock.getsockname()[:2]
        chost, cport = collect_sock.getsockname()[:2]
        write_key = sorted(settings.write_keys())[0]
        extra = []
        if rate > 0:
            args = ["--url", f"http://{chost}:{cport}", "--write-key", write_key]
            extra.append(
                ChildSpec(
                    "trickle",
                    "demo",
                    child_command("trickle", *args, "--rate", f"{rate:g}"),
                    stop_group=STOP_INTAKE,
                )
            )
        for note in notes:
            click.echo(f"note: {note}")
        players = f"; live players send about {rate:g} events/s" if rate > 0 else ""
        click.echo(
            f"live pipeline: dashboard http://{host}:{port}/   API http://{host}:{port}/api/"
            f"metrics   collector http://{chost}:{cport} (write key {write_key}){players}. "
            "The dashboard follows each new build. Ctrl-C stops."
        )
        run_up(
            settings,
            config,
            roles=("collect", "land", "build", "serve"),
            sockets={"collect": collect_sock, "serve": serve_sock},
            extra=extra,
        )


def _serve(directory: Path, sock: Any) -> None:
    from eventlake.config import load_config
    from eventlake.serve.app import create_app
    from eventlake.serve.server import serve_forever

    settings = load_config(directory / "eventlake.toml")
    host, port = sock.getsockname()[:2]
    app = create_app(settings)
    click.echo(
        f"dashboard: http://{host}:{port}/   API: http://{host}:{port}/api/metrics   "
        "(Ctrl-C to stop)"
    )
    serve_forever(app, sock)
