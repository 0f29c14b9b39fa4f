"""`eventlake init`: write a commented example project (config + tracking plan)."""

from __future__ import annotations

from pathlib import Path

import click

from eventlake.project import EXAMPLE_WRITE_KEY, write_example_project

__all__ = ["init_cmd", "write_example_project"]


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_cmd(directory: Path, force: bool) -> None:
    """Write a commented example eventlake.toml and tracking-plan.yaml into DIRECTORY.

    Existing files are left alone unless --force. The example accepts events sent with the
    write key `dev-write-key`. Edit the files, then `eventlake collect`.
    """
    written = write_example_project(directory, force=force)
    if not written:
        click.echo(f"{directory}: eventlake.toml and tracking-plan.yaml already exist (--force)")
    for path in written:
        click.echo(f"wrote {path}")
    if written:
        where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
        click.echo(
            f"next: {where}eventlake collect  (events sent with the write key "
            f"{EXAMPLE_WRITE_KEY} are accepted; see the README's 'Using it')"
        )
