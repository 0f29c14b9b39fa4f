"""Fixtures: a real collector (uvicorn in a thread) on a free 127.0.0.1 port, a real local bus."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from eventlake.bus import open_consumer
from eventlake.bus.records import record_events
from eventlake.collect import create_app
from eventlake.collect.server import uvicorn_options
from eventlake.config import Settings, load_config

WRITE_KEY = "test-write-key"
PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


@dataclass
class Collector:
    url: str
    settings: Settings
    app: Any

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0, **kw)

    def read(self, topic: str) -> list[dict[str, Any]]:
        """Every event of ``topic`` on the bus in the JSON record form (any record encoding)."""
        consumer = open_consumer(self.settings, f"test-{time.monotonic_ns()}", [topic])
        try:
            out: list[dict[str, Any]] = []
            while True:
                records = consumer.poll(10_000, 0.05)
                if not records:
                    return out
                out += [e for r in records for e in record_events(r.value, topic)]
        finally:
            consumer.close()


class ServerThread:
    """uvicorn serving ``app`` in a background thread until ``stop``."""

    def __init__(self, app: Any, port: int, **options: Any) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            **options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the collector did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def make_settings(project: Path, **collect: Any) -> Settings:
    (project / "tracking-plan.yaml").write_text(PLAN.read_text())
    bus = collect.pop("bus", {})
    return load_config(
        None,
        base_dir=project,
        collect={"write_keys": {WRITE_KEY: "web", "other-key": "ios"}, **collect},
        bus={"path": str(project / "bus"), **bus},
        spec={"tracking_plan": str(project / "tracking-plan.yaml")},
    )


@pytest.fixture
def start_collector(project_dir: Path, free_port: int) -> Iterator[Callable[..., Collector]]:
    """Start a collector with extra ``collect`` (and ``bus=...``) settings; stopped after."""
    servers: list[ServerThread] = []

    def start(**collect: Any) -> Collector:
        settings = make_settings(project_dir, **collect)
        app = create_app(settings)
        # served as `eventlake collect` serves it (request heads bounded by the protocol)
        server = ServerThread(app, free_port, **uvicorn_options(settings))
        server.start()
        servers.append(server)
        return Collector(f"http://127.0.0.1:{free_port}", settings, app)

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def collector(start_collector: Callable[..., Collector]) -> Collector:
    """A collector with the default limits and the template tracking plan."""
    return start_collector()


# -- a collector in its own process (`eventlake collect`), for memory measurements ----------


def write_project(project: Path, extra: str = "") -> Path:
    """An eventlake.toml (write key, bus, lake, template plan) in ``project``; its path."""
    (project / "tracking-plan.yaml").write_text(PLAN.read_text())
    config = project / "eventlake.toml"
    config.write_text(
        "[spec]\n"
        'tracking_plan = "tracking-plan.yaml"\n'
        "[collect]\n"
        f'write_keys = {{ "{WRITE_KEY}" = "web" }}\n'
        '[bus]\npath = "bus"\n'
        '[lake]\npath = "lake"\n' + extra
    )
    return config


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB, from /proc."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024
    return out


@dataclass
class CollectorProcess:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    config: Path
    settings: Settings

    def memory(self) -> dict[str, float]:
        return proc_memory_mb(self.proc.pid)

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def collector_process(
    project_dir: Path, free_port: int
) -> Iterator[Callable[..., CollectorProcess]]:
    """Start ``eventlake collect`` as a subprocess with extra TOML; stopped after the test."""
    started: list[CollectorProcess] = []

    def start(extra: str = "") -> CollectorProcess:
        config = write_project(project_dir, extra)
        log = open(project_dir / "collect.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eventlake",
                "-c",
                str(config),
                "collect",
                "--port",
                str(free_port),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError((project_dir / "collect.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", free_port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError("the collector did not start") from None
                time.sleep(0.1)
        url = f"http://127.0.0.1:{free_port}"
        c = CollectorProcess(url, free_port, proc, config, load_config(config))
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


_MEASURED = """
import resource, sys
from eventlake.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(f"\\nPEAK_RSS_KB={peak}\\n")
sys.exit(code)
"""


def run_measured(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``eventlake ARGS`` in a subprocess; (the finished process, its peak RSS in MB)."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    marker = [x for x in done.stderr.splitlines() if x.startswith("PEAK_RSS_KB=")]
    assert marker, done.stderr
    return done, int(marker[-1].split("=", 1)[1]) / 1024
