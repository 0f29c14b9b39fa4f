"""Fixtures of the warehouse integration tests: a project and the shared lake helpers."""

from __future__ import annotations

import eventlake_tests_support as support

lakedata = support.lakedata()
