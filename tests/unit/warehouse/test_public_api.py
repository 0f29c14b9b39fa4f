"""Every public name of the warehouse and pipeline packages is importable and documented."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "eventlake.warehouse",
        "eventlake.warehouse.raw",
        "eventlake.warehouse.base",
        "eventlake.warehouse.factory",
        "eventlake.warehouse.duckdb",
        "eventlake.warehouse.postgres",
        "eventlake.warehouse.spark",
        "eventlake.warehouse.query",
        "eventlake.pipeline",
        "eventlake.pipeline.results",
        "eventlake.pipeline.state",
        "eventlake.pipeline.run",
        "eventlake.pipeline.status",
        "eventlake.cli.pipeline",
    ],
)
def test_public_names_exist_and_modules_say_their_role(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


def test_pipeline_verbs_are_registered_in_the_cli() -> None:
    from eventlake.cli import COMMANDS

    for verb in ("build", "run", "backfill", "status", "query"):
        module, _, attr = COMMANDS[verb][0].partition(":")
        assert getattr(importlib.import_module(module), attr).name == verb
