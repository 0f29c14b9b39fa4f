"""Shared fixtures. The only autouse fixture isolates environment variables."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


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
