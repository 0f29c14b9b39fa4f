"""Bus backends under test: every contract test runs once per backend.

The backends are ``BUS_BACKENDS`` in ``tests/integration/conftest.py`` (the lander's
contract suite runs over the same list); adding a backend is one line there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventlake.config import Settings, load_config


@pytest.fixture
def bus_settings(bus_section: dict[str, Any], tmp_path: Path) -> Settings:
    """Settings for an empty bus of each backend in turn."""
    return load_config(None, base_dir=tmp_path, bus=bus_section)
