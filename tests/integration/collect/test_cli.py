"""`eventlake collect` as a real process: serving (one and two workers), clear start-up errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eventlake.config import load_config

from .conftest import WRITE_KEY, Collector

pytestmark = pytest.mark.integration

EVENTLAKE = [sys.executable, "-c", "from eventlake.cli import main; main()"]


def write_config(project: Path, extra: str = "") -> Path:
    cfg = project / "eventlake.toml"
    cfg.write_text(f'[collect]\nwrite_keys = {{ "{WRITE_KEY}" = "web" }}\n{extra}')
    return cfg


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the collector did not start")


@pytest.mark.parametrize("workers", [1, 2])
def test_collect_serves_and_events_reach_the_bus(
    project_dir: Path, free_port: int, workers: int
) -> None:
    cfg = write_config(project_dir)
    proc = subprocess.Popen(
        [
            *EVENTLAKE,
            "-c",
            str(cfg),
            "collect",
            "--port",
            str(free_port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(free_port, proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{free_port}", timeout=10) as client:
            for i in range(20):
                batch = [{"type": "track", "event": "E", "userId": f"u{i}-{j}"} for j in range(5)]
                reply = client.post("/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
                assert reply.status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    collector = Collector("", load_config(cfg), None)
    assert len(collector.read("events")) == 100


def test_a_port_in_use_is_one_clear_line_and_exit_1(project_dir: Path) -> None:
    cfg = write_config(project_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*EVENTLAKE, "-c", str(cfg), "collect", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot bind 127.0.0.1:{port}: the port is already in use; stop the other "
        "server or choose another with --port (or collect.port)"
    ]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("", "no write keys configured"),
        ('write_keys = { "k" = "web" }\n[spec]\ntracking_plan = "nope.yaml"\n', "nope.yaml"),
    ],
)
def test_bad_configuration_is_one_clear_line(project_dir: Path, extra: str, words: str) -> None:
    cfg = project_dir / "eventlake.toml"
    cfg.write_text(f"[collect]\n{extra}")
    result = subprocess.run(
        [*EVENTLAKE, "-c", str(cfg), "collect"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and words in line
