"""Fixtures of the serve integration tests: a sample warehouse and a running server."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


serving = _load("eventlake_tests_serving", Path(__file__).with_name("serving.py"))


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
