"""Fixtures of the warehouse integration tests: a project and the shared lake helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eventlake.config import Settings, load_config


def _load_lakedata() -> ModuleType:
    name = "eventlake_tests_lakedata"
    if name not in sys.modules:
        path = Path(__file__).parents[2] / "unit" / "warehouse" / "lakedata.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


lakedata = _load_lakedata()


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    return load_config(None, base_dir=project_dir)
