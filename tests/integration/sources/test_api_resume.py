"""A REST API source run killed with SIGKILL mid-run resumes without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import eventlake_tests_support as support
import pytest

from eventlake.sources.api import api_source_status, run_api_source

S = support.api_support()
pytestmark = pytest.mark.integration


def _result_chunks(lake: Path) -> int:
    folder = lake / "_commits" / "sources.pinball"
    n = 0
    for f in folder.glob("*.json") if folder.exists() else []:
        meta = json.loads(f.read_text())["meta"]
        n += (
            meta.get("kind") == "chunk"
            and meta["resource"] == "results"
            and bool(meta["units_done"])
        )
    return n


def test_killed_run_resumes_without_duplicates(project_dir: Path) -> None:
    args = ["--players", "100", "--tournaments", "200", "--latency-ms", "25"]
    with S.api_process(*args) as url:
        definition = S.pinball_definition(url, concurrency=2, rate_limit=200, chunk_rows=40)
        settings = S.make_settings(project_dir, definition)
        cmd = [
            sys.executable,
            "-c",
            "from eventlake.cli import main; main()",
            "-c",
            str(project_dir / "eventlake.toml"),
            "sources",
            "api",
            "run",
            "pinball",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _result_chunks(project_dir / "lake") < 4:
            assert proc.poll() is None, "the run finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        status = {r.name: r for r in api_source_status(settings, "pinball").resources}
        assert status["results"].interrupted_runs and status["results"].resumable_units > 0
        assert status["tournaments"].cursor is None  # the parent's state waited for children
        S.admin(url, "reset", {})
        resumed = run_api_source(settings, "pinball")
        stats = S.admin(url, "stats")
    assert resumed.ok
    results = {r.name: r for r in resumed.resources}["results"]
    assert results.units_skipped == status["results"].resumable_units > 0
    fetched = {p for p in stats["paths"] if p.endswith("/results")}
    assert len(fetched) == 200 - results.units_skipped  # finished tournaments not fetched again
    total = stats["totals"]["results"]
    assert S.query(
        settings,
        "SELECT count(*), count(DISTINCT (tournament_id, position)) FROM raw.pinball__results",
    ) == [(total, total)]
    assert S.query(
        settings, "SELECT count(*), count(DISTINCT tournament_id) FROM raw.pinball__tournaments"
    ) == [(200, 200)]
    after = {r.name: r for r in api_source_status(settings, "pinball").resources}
    assert after["results"].interrupted_runs == [] and after["tournaments"].cursor
