"""`eventlake serve` as a real subprocess: it serves, and a taken port is one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

serving = sys.modules["eventlake_tests_serving"]
pytestmark = pytest.mark.integration

EVENTLAKE = [sys.executable, "-c", "from eventlake.cli import main; main()"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}


@pytest.fixture
def project_dir(project_dir: Path) -> Path:
    """A project folder: `eventlake serve` refuses to run outside one."""
    (project_dir / "eventlake.toml").write_text("# defaults\n", encoding="utf-8")
    return project_dir


def test_serve_command_serves_the_api(project_dir: Path, free_port: int) -> None:
    serving.build_sample(project_dir, n_events=500, n_users=20, days=5)
    proc = subprocess.Popen(
        [*EVENTLAKE, "serve", "--port", str(free_port), "--log-level", "warning"],
        cwd=project_dir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{free_port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "eventlake serve did not start"
                time.sleep(0.2)
        assert r.json()["warehouse"] is True and r.json()["metrics"] == 10
        rows = httpx.get(f"http://127.0.0.1:{free_port}/api/metrics/revenue_daily.json").json()
        assert rows["count"] > 0
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{free_port}/" in out.decode()


def test_port_in_use_is_one_clear_error(project_dir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        proc = subprocess.run(
            [*EVENTLAKE, "serve", "--port", str(port)],
            cwd=project_dir,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"error: 127.0.0.1:{port} is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_outside_a_project_says_so(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*EVENTLAKE, "serve"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: no eventlake project here") and "eventlake init" in (
        proc.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_serve_help_explains_the_flags() -> None:
    from click.testing import CliRunner

    from eventlake.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--host", "--port", "--dashboards-dir", "--mount-collector"):
        assert flag in result.output
