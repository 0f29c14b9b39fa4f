"""The REST API source's rate limit, counted by the server per time window."""

from __future__ import annotations

from pathlib import Path

import eventlake_tests_support as support
import pytest

from eventlake.sources.api import run_api_source

S = support.api_support()
pytestmark = pytest.mark.integration


def test_parallel_fan_out_respects_the_rate_limit(project_dir: Path) -> None:
    rate = 40
    args = ["--players", "300", "--tournaments", "50", "--latency-ms", "20"]
    with S.api_process(*args, "--throttle-rate", "0.05") as url:
        definition = S.pinball_definition(url, rate_limit=rate, concurrency=16, retries=10)
        settings = S.make_settings(project_dir, definition)
        result = run_api_source(settings, "pinball")
        stats = S.admin(url, "stats")
    assert result.ok
    assert stats["requests"] == result.requests > 2 * rate  # long enough to measure
    assert stats["by_status"].get("429", 0) == result.retries > 0
    # every request counts, retries included. The client never starts more than `rate` in
    # a second; arrival at the server may shift one request across a window edge.
    assert S.max_in_window(stats["times"], 1.0) <= rate + 1
    assert S.max_in_window(stats["times"], 2.0) <= 2 * rate + 1
    n_results = stats["totals"]["results"]
    assert S.query(settings, "SELECT count(*) FROM raw.pinball__results") == [(n_results,)]
