"""`eventlake init`: write a commented example project (config + tracking plan)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from eventlake.errors import ConfigError

_FILES = {"eventlake.toml": "eventlake.toml", "tracking-plan.yaml": "tracking-plan.yaml"}


def write_example_project(directory: Path, *, force: bool = False) -> list[Path]:
    """Write eventlake.toml and tracking-plan.yaml into ``directory``; return what was written.

    Existing files are kept unless ``force``.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {exc}") from exc
    written = []
    templates = resources.files("eventlake") / "templates"
    for target_name, template in _FILES.items():
        target = directory / target_name
        if target.exists() and not force:
            continue
        try:
            target.write_text((templates / template).read_text(encoding="utf-8"), "utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc}") from exc
        written.append(target)
    return written


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_cmd(directory: Path, force: bool) -> None:
    """Write a commented example eventlake.toml and tracking-plan.yaml into DIRECTORY.

    Existing files are left alone unless --force. Edit them, then `eventlake collect`.
    """
    written = write_example_project(directory, force=force)
    if not written:
        click.echo(f"{directory}: eventlake.toml and tracking-plan.yaml already exist (--force)")
    for path in written:
        click.echo(f"wrote {path}")
