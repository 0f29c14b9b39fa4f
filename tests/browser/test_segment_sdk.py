"""Segment's browser SDK (analytics-next, unmodified) against a real collector in Chromium,
across a collector outage (issue 17, finding 8).

analytics-next retries an event whose send failed (a collector restart, a network blip, a
503 or 429) and adds ``X-Retry-Count`` to the retry. The collector's CORS preflight did not
allow that header, so Chromium blocked every retry and events tracked during an outage
were never delivered. Here a page on one 127.0.0.1 origin loads the SDK (its standalone
bundle, from the npm package that scripts/install-test-js.sh unpacks; the SDK's settings
are given inline, so nothing is fetched from Segment's CDN) pointed at `eventlake collect`
on another; the collector is stopped, events are tracked, the collector restarts on the same
port, and the retried events must reach the lake exactly once.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from eventlake.config import load_config
from eventlake.land import Lander

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / ".test-js" / "segment-analytics-next"
WRITE_KEY = "browser-write-key"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
<script>
  // analytics-next loads its lazy chunks from <_cdn>/analytics-next/bundles/: this origin
  window.analytics = {_cdn: location.origin};
</script>
<script src="/analytics-next/bundles/index.js"></script>
<script>
  window.ready = AnalyticsNext.AnalyticsBrowser.load(
    {
      writeKey: "%(key)s",
      // the settings Segment's CDN would serve, inline: the SDK fetches nothing from Segment
      cdnSettings: {
        integrations: {
          "Segment.io": {apiKey: "%(key)s", apiHost: "127.0.0.1:%(port)d/v1", protocol: "http"}
        },
        metrics: {sampleRate: 0}
      }
    }
  ).then(([analytics]) => { window.seg = analytics; return true; });
</script>
</head><body>shop</body></html>
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A folder served on its own 127.0.0.1 port with the SDK's bundles (the page's origin)."""
    umd = SDK / "dist" / "umd"
    if not (umd / "index.js").exists():
        pytest.fail(
            f"{umd}/index.js is missing: run scripts/install-test-js.sh (make setup-test does)"
        )
    root = tmp_path / "site"
    shutil.copytree(
        umd, root / "analytics-next" / "bundles", ignore=shutil.ignore_patterns("*.map", "*.gz")
    )
    port = _free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(_Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, port
    finally:
        server.shutdown()
        server.server_close()


class Collector:
    """`eventlake collect` in its own process, restartable on the same port."""

    def __init__(self, project: Path) -> None:
        self.port = _free_port()
        self.config = project / "eventlake.toml"
        self.config.write_text(
            f'[collect]\nwrite_keys = {{ "{WRITE_KEY}" = "web" }}\n'
            '[bus]\npath = "bus"\n[lake]\npath = "lake"\n'
        )
        self.log = project / "collect.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "eventlake",
                    "-c",
                    str(self.config),
                    "collect",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "the collector did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _landed(config: Path) -> list[dict[str, Any]]:
    settings = load_config(config)
    lander = Lander.from_settings(settings)
    try:
        lander.run()
    finally:
        lander.close()
    events = Path(settings.lake_uri()) / "events"
    if not events.exists():
        return []
    return ds.dataset(events, format="parquet", partitioning="hive").to_table().to_pylist()


def test_events_tracked_during_a_collector_outage_arrive_once_after_it_restarts(
    browser, site, collector: Collector
) -> None:
    root, page_port = site
    (root / "index.html").write_text(PAGE % {"key": WRITE_KEY, "port": collector.port})
    context = browser.new_context()
    page = context.new_page()
    replies: list[tuple[str, int, str | None]] = []

    def on_response(response: Any) -> None:
        if f":{collector.port}/v1/" in response.url and response.request.method == "POST":
            replies.append(
                (response.url, response.status, response.request.headers.get("x-retry-count"))
            )

    page.on("response", on_response)
    page.goto(f"http://127.0.0.1:{page_port}/index.html")
    assert page.evaluate("window.ready") is True
    page.evaluate("window.seg.track('Before Outage', {n: 0})")
    deadline = time.monotonic() + 30
    while not any(status == 200 for _, status, _ in replies):
        assert time.monotonic() < deadline, replies
        page.wait_for_timeout(100)

    collector.stop()
    for n in (1, 2, 3):
        page.evaluate(f"window.seg.track('During Outage', {{n: {n}}})")
    page.evaluate("window.seg.identify('player-7', {plan: 'pro'})")
    page.wait_for_timeout(1500)  # the first attempts fail: connection refused
    collector.start()  # same port

    wanted = Counter({"Before Outage": 1, "During Outage": 3, None: 1})
    deadline = time.monotonic() + 90
    while True:
        rows = _landed(collector.config)
        if Counter(r["event"] for r in rows) == wanted:
            break
        assert time.monotonic() < deadline, (Counter(r["event"] for r in rows), replies)
        page.wait_for_timeout(500)
    page.wait_for_timeout(2000)  # a late duplicate retry would show now
    rows = _landed(collector.config)
    context.close()

    assert Counter(r["event"] for r in rows) == wanted
    assert len({r["message_id"] for r in rows}) == len(rows) == 5  # exactly once each
    during = sorted(json.loads(r["properties"])["n"] for r in rows if r["event"] == "During Outage")
    assert during == [1, 2, 3]
    (identify,) = [r for r in rows if r["type"] == "identify"]
    assert identify["user_id"] == "player-7"
    # they came by the SDK's retries, which carry X-Retry-Count: the preflight allowed it
    retried = [(url, retry) for url, status, retry in replies if status == 200 and retry]
    assert len(retried) >= 4, replies
    assert all(r["source"] == "web" for r in rows)
    assert {r["user_agent"] for r in rows} != {None}  # Chromium's, as a browser sends it
