"""The ``eventlake`` command: a thin click layer over the stages' library functions.

Each verb lives in its own module and is imported only when it runs, so ``eventlake --help``
stays instant (no dbt, pyarrow or duckdb import). An ``EventlakeError`` becomes one line on
stderr and exit status 1; anything else is a bug and keeps its traceback.

The project is found like git finds a repository (``--config``/``$EVENTLAKE_CONFIG``, else
``eventlake.toml`` here or in a parent folder); a verb that needs one and finds none says
so instead of running on defaults in whatever folder it was started. ``EVENTLAKE_*``
variables that set nothing are warned about on stderr.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from eventlake.arrow_memory import prefer_system_allocator
from eventlake.errors import EventlakeError

__all__ = ["main", "cli", "COMMANDS", "log_level_option", "pass_settings"]

# verb -> ("module:attribute" of a click.Command, its help's first line), so that
# `eventlake --help` lists the verbs without importing them (a test keeps the texts equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "eventlake.cli.init:init_cmd",
        "Write a commented example eventlake.toml and tracking-plan.yaml into DIRECTORY.",
    ),
    "collect": (
        "eventlake.cli.collect:collect",
        "Run the Segment-compatible HTTP collector.",
    ),
    "bus": (
        "eventlake.cli.bus:bus",
        'Inspect and compact the local durable log (bus.backend = "local").',
    ),
    "land": (
        "eventlake.cli.land:land",
        "Land events from the bus into <lake>/events and <lake>/quarantine, exactly once.",
    ),
    "quarantine": (
        "eventlake.cli.quarantine:quarantine",
        "Events rejected by the collector or the lander, kept with their reason.",
    ),
    "build": (
        "eventlake.cli.pipeline:build",
        "Load new lake commits into the raw layer, then build the dbt models and run their tests.",
    ),
    "run": (
        "eventlake.cli.pipeline:run",
        "Land what is on the bus, load the lake, rebuild every day that got new rows, test.",
    ),
    "backfill": (
        "eventlake.cli.pipeline:backfill",
        "Reload and rebuild every event day from --start to --end, one day at a time.",
    ),
    "status": (
        "eventlake.cli.pipeline:status",
        "Show each stage's counts, whether they reconcile, the last run and the lag.",
    ),
    "query": (
        "eventlake.cli.pipeline:query",
        "Run one read-only SQL statement on the published warehouse.",
    ),
    "generate": (
        "eventlake.cli.generate:generate",
        "Generate a synthetic game world's events (deterministic for --seed).",
    ),
    "demo": (
        "eventlake.cli.demo:demo",
        "Generate a game's events, land them, build the models, then run the live pipeline.",
    ),
    "serve": (
        "eventlake.cli.serve:serve",
        "Serve the data API (/api/metrics), the dashboards (/) and the API docs (/docs).",
    ),
    "sources": (
        "eventlake.cli.sources:sources",
        "Pull sources that land batches directly in the lake and the warehouse.",
    ),
    "up": (
        "eventlake.cli.up:up",
        "Run the whole pipeline as one supervised service until Ctrl-C or SIGTERM.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return _missing_command(cmd_name, target[1])
            raise
        command = getattr(module, attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _missing_command(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=f"{help_text} (not available in this build)")
    def _cmd() -> None:
        raise EventlakeError(f"'eventlake {name}' is not available in this build")

    return _cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="EVENTLAKE_CONFIG",
    help="Config file (default: eventlake.toml in this folder or the nearest parent).",
)
@click.version_option(package_name="eventlake")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """eventlake: collect events, land them as Parquet, model them with dbt, serve answers.

    Quick start: `eventlake demo`, or `eventlake init DIR` for a project of your own. Each
    verb is one pipeline stage; `eventlake VERB --help` explains it. Settings come from
    eventlake.toml (here or in a parent folder) and EVENTLAKE_<SECTION>__<KEY> variables.
    """
    from eventlake.config import unknown_environment_variables

    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    for name, meant in unknown_environment_variables():
        hint = f"; did you mean {meant}?" if meant else ""
        click.echo(f"warning: {name} is not an eventlake setting and is ignored{hint}", err=True)


def pass_settings(ctx: click.Context, *, project: bool = True, **overrides: Any) -> Any:
    """Load the Settings for the running command.

    The config file is the group's ``--config`` (or ``$EVENTLAKE_CONFIG``), else the nearest
    ``eventlake.toml`` from the working folder up. With ``project`` (the default) a command
    refuses to run without one: it would otherwise use built-in defaults and write ``data/``
    into whatever folder it was started from.

    Raises:
        ConfigError: no project was found (the message says how to make or point to one),
            or the configuration is invalid.
    """
    from eventlake.config import CONFIG_FILE_NAME, find_config_file, load_config
    from eventlake.errors import ConfigError

    root = ctx.find_root()
    path = (root.obj or {}).get("config_path") or find_config_file()
    if path is None and project:
        verb = ctx.command_path.removeprefix(root.command_path).strip() or "this command"
        raise ConfigError(
            f"no eventlake project here: no {CONFIG_FILE_NAME} in {Path.cwd()} or any parent "
            f"folder; `eventlake {verb}` needs one. Create it with `eventlake init` (or "
            "`eventlake init DIR`, then cd DIR), or name the file with --config FILE "
            "(EVENTLAKE_CONFIG)"
        )
    return load_config(path, **overrides)


#: The ``--log-level`` option of the commands that run a uvicorn server.
log_level_option = click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn log level.",
)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    prefer_system_allocator()  # arrow_memory.py: mimalloc's page churn, measured
    try:
        cli.main(args=argv, prog_name="eventlake", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except EventlakeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
