"""Fixtures of the serve integration tests: a sample warehouse and a running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import eventlake_tests_support as support
import httpx
import pytest

serving = support.serving()


@pytest.fixture(scope="module")
def sample_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with the sample warehouse and catalog (shared by a module)."""
    project = tmp_path_factory.mktemp("serve-sample")
    serving.build_sample(project)
    return project


@pytest.fixture(scope="module")
def base_url(sample_project: Path) -> Iterator[str]:
    """The serve app on the sample project, no token, query endpoint off."""
    with serving.serving(serving.make_settings(sample_project)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c
