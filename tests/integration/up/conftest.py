"""Fixtures of the `eventlake up` tests: the whole pipeline as a real process tree."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import pytest

uphelp = support.load_helper("eventlake_tests_up", Path(__file__).with_name("uphelp.py"))


@pytest.fixture
def up_factory(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Start `eventlake up [args]` in a fresh project; everything is killed at the end."""
    started: list[Any] = []

    def start(
        *args: str,
        setup: Callable[[Path], str] | None = None,
        env: dict[str, str] | None = None,
    ) -> object:
        root = tmp_path / f"project{len(started)}"
        root.mkdir()
        uphelp.make_project(root, setup(root) if setup is not None else "")
        up = uphelp.UpProcess(root, env or uphelp.up_env(), ["up", *args])
        started.append(up)
        return up.start()

    yield start
    for up in started:
        up.kill_tree()
