"""Fixtures of the warehouse tests: a local lake and a writer that commits like the lander."""

from __future__ import annotations

import eventlake_tests_support as support
import pytest

from eventlake.lake import Lake

lakedata = support.lakedata()


@pytest.fixture
def writer(lake: Lake):  # type: ignore[no-untyped-def]
    return lakedata.LakeWriter(lake)
