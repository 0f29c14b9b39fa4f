"""`eventlake up` refuses what would make a child crash-loop, in one line, before starting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import eventlake_tests_support as support
import pytest

pytestmark = pytest.mark.integration

uphelp = support.load_helper("eventlake_tests_up", Path(__file__).with_name("uphelp.py"))


def _up(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventlake", "up", *args],
        cwd=root,
        env=env or uphelp.up_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_refusals_are_one_line_and_exit_1(tmp_path: Path) -> None:
    nowhere = _up(tmp_path)
    assert nowhere.returncode == 1 and "no eventlake project here" in nowhere.stderr
    uphelp.make_project(tmp_path)
    no_sources = _up(tmp_path, "--role", "sources")
    assert no_sources.returncode == 1
    assert "no sources configured" in no_sources.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        env = uphelp.up_env(EVENTLAKE_SERVE__PORT=str(taken.getsockname()[1]))
        busy = _up(tmp_path, "--role", "serve", env=env)
    assert busy.returncode == 1 and "already in use" in busy.stderr
    config = tmp_path / "eventlake.toml"
    config.write_text(config.read_text().replace('write_keys = { "dev-write-key" = "dev" }', ""))
    keyless = _up(tmp_path)
    assert keyless.returncode == 1 and "no write keys configured" in keyless.stderr
    for result in (no_sources, busy, keyless):
        assert "Traceback" not in result.stderr
        assert len([line for line in result.stderr.splitlines() if line.startswith("error")]) == 1
    assert not os.path.exists(tmp_path / "data" / "pipeline" / "up-sources.json")
