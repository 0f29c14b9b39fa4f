"""`eventlake demo` ends with the live pipeline: the dashboard's numbers keep growing while
the demo's live players send events, and one SIGTERM stops it all with status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def _events(url: str) -> int:
    body = httpx.get(f"{url}/api/metrics/events_daily.json", params={"limit": 100000}).json()
    return sum(int(r["events"]) for r in body.get("rows", []))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_the_live_pipeline_until_sigterm(tmp_path: Path) -> None:
    port, cport = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env.update(
        PYTHONPATH=str(REPO),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        EVENTLAKE_LAND__MAX_AGE_SECONDS="0.5",
        EVENTLAKE_SCHEDULE__MODELS_MIN_INTERVAL="1",
    )
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eventlake", "demo", str(tmp_path / "demo")]
            + ["--users", "30", "--days", "2", "--seed", "5", "--live-events", "100"]
            + ["--port", str(port), "--collector-port", str(cport), "--live-rate", "40"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        first = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                n = _events(url)
            except (httpx.HTTPError, ValueError):
                n = None
            if n is not None:
                first = n if first is None else first
                if n > first:
                    break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the dashboard's numbers did not grow:\n{log.read_text()}")
        # the live players' events came in through the collector the demo runs
        health = httpx.get(f"{url}/healthz").json()
        names = {c["name"] for c in health["supervisor"]["children"]}
        assert names == {"collect", "land", "build", "serve", "trickle"}
        assert httpx.get(f"http://127.0.0.1:{cport}/healthz").json()["ok"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(180) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    text = log.read_text()
    assert "live pipeline: dashboard" in text and "trickle" in text and "Traceback" not in text
