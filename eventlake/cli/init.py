"""`eventlake init`: write a commented example project (config + tracking plan)."""

from __future__ import annotations

from pathlib import Path

import click

from eventlake.project import EXAMPLE_WRITE_KEY, write_example_project

__all__ = ["init_cmd", "write_example_project"]


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option(
    "--no-events",
    is_flag=True,
    help="A project without tracked events: CSV and REST sources, your own models, seeds and "
    "dashboards; no collector, tracking plan or built-in event models.",
)
def init_cmd(directory: Path, force: bool, no_events: bool) -> None:
    """Write a commented example eventlake.toml and tracking-plan.yaml into DIRECTORY.

    Existing files are left alone unless --force. The example accepts events sent with the
    write key `dev-write-key`. Edit the files, then `eventlake collect`. With --no-events:
    an eventlake.toml with `[models] events = "off"` and the folders models/, seeds/ and
    dashboards/ for your own dbt models, seeds and dashboards.
    """
    written = write_example_project(directory, force=force, events=not no_events)
    if not written:
        what = "eventlake.toml" if no_events else "eventlake.toml and tracking-plan.yaml"
        click.echo(f"{directory}: {what} already exist (--force)")
    for path in written:
        click.echo(f"wrote {path}")
    if written:
        where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
        if no_events:
            click.echo(
                f"next: add a [sources.csv.NAME] or [sources.api.NAME] to eventlake.toml, your "
                f"models to models/, then {where}eventlake run (docs/models.md)"
            )
        else:
            click.echo(
                f"next: {where}eventlake collect  (events sent with the write key "
                f"{EXAMPLE_WRITE_KEY} are accepted; see the README's 'Using it')"
            )
