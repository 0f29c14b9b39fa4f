"""`eventlake sources`: the pull sources, `csv` (drop folders) and `api` (REST APIs)."""

from __future__ import annotations

import importlib

import click

_SUBGROUPS = {
    "csv": ("eventlake.cli.sources_csv:csv_group", "CSV drop folders: watch | ingest."),
    "api": ("eventlake.cli.sources_api:api_group", "REST API sources: run | status."),
}


class _LazySources(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBGROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _SUBGROUPS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target[0].partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(n, _SUBGROUPS[n][1]) for n in sorted(_SUBGROUPS)])


@click.group("sources", cls=_LazySources)
def sources() -> None:
    """Pull sources that land batches directly in the lake and the warehouse."""
