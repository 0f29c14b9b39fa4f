"""`eventlake up`: the whole configured pipeline as one supervised, scheduled service."""

from __future__ import annotations

from pathlib import Path

import click

from eventlake.cli import pass_settings

__all__ = ["up"]

_ROLES = ("collect", "land", "build", "serve", "sources")


@click.command("up")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(_ROLES),
    help="Run only this role (repeatable), to spread the pipeline over machines "
    "(docs/scale-out.md). Default: every role.",
)
@click.pass_context
def up(ctx: click.Context, roles: tuple[str, ...]) -> None:
    """Run the whole pipeline as one supervised service until Ctrl-C or SIGTERM.

    \b
    collect  the collector on collect.host:collect.port
    land     the lander, following the bus into the lake
    build    model runs: continuous (when new lake commits exist) or on a cron schedule
    serve    the data API and dashboards on serve.host:serve.port
    sources  a watcher per CSV source, each REST source on its cron schedule

    A child that dies is restarted with back-off; /healthz (collector and serve) and
    `eventlake status` show each child's state and restarts. One Ctrl-C or SIGTERM stops
    everything gracefully within up.stop_timeout seconds and exits 0. Schedules: the
    [schedule] section; logs: stderr, one line per child line, prefixed with its name.
    """
    from eventlake.config import CONFIG_FILE_NAME, find_config_file
    from eventlake.up import run_up

    settings = pass_settings(ctx)
    root = ctx.find_root()
    path = (root.obj or {}).get("config_path") or find_config_file()
    config_path = Path(path) if path else settings.base_dir / CONFIG_FILE_NAME
    raise SystemExit(run_up(settings, config_path.resolve(), roles=roles or None))
