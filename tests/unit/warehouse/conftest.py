"""Fixtures of the warehouse tests: a local lake and a writer that commits like the lander."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eventlake.config import Settings, load_config
from eventlake.lake import Lake, open_lake


def load_lakedata() -> ModuleType:
    """tests/unit/warehouse/lakedata.py, importable from any conftest (tests/ is no package)."""
    name = "eventlake_tests_lakedata"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("lakedata.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


lakedata = load_lakedata()


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    """Settings of an empty project (lake, warehouse and state under project_dir/data)."""
    return load_config(None, base_dir=project_dir)


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return open_lake(settings.lake_uri())


@pytest.fixture
def writer(lake: Lake):  # type: ignore[no-untyped-def]
    return lakedata.LakeWriter(lake)
