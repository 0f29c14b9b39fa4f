"""Shared fixtures. The only autouse fixture isolates environment variables."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from eventlake.config import Settings
    from eventlake.lake import Lake


def _register_support() -> None:
    """Make tests/support.py importable as ``eventlake_tests_support`` (tests/ is no package)."""
    name = "eventlake_tests_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("support.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


_register_support()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No EVENTLAKE_* variable of the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("EVENTLAKE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    yield


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    return _free_port()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """An empty eventlake project folder (config-relative paths resolve here)."""
    d = tmp_path / "project"
    d.mkdir()
    return d


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    """Settings of an empty project (lake, warehouse and state under project_dir/data)."""
    from eventlake.config import load_config

    return load_config(None, base_dir=project_dir)


@pytest.fixture
def lake(settings: Settings) -> Lake:
    """The local lake of ``settings``."""
    from eventlake.lake import open_lake

    return open_lake(settings.lake_uri())
