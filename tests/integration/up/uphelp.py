"""Helpers of the `eventlake up` tests: the process tree in a temp project, waits, a project.

Loaded by path (tests/ is no package): ``support.load_helper("eventlake_tests_up", ...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]
WRITE_KEY = "dev-write-key"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll ``check`` until it returns something truthy (generous timeouts, no timings)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError, AssertionError) as exc:
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last_error})")


class UpProcess:
    """One `eventlake up` process tree in ``root`` and what the tests ask of it."""

    def __init__(self, root: Path, env: dict[str, str], args: list[str]) -> None:
        self.root = root
        self.env = env
        self.args = args
        self.log_path = root / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.collect_url = f"http://127.0.0.1:{env['EVENTLAKE_COLLECT__PORT']}"
        self.serve_url = f"http://127.0.0.1:{env['EVENTLAKE_SERVE__PORT']}"

    def start(self) -> UpProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "eventlake", *self.args],
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def state(self) -> dict[str, Any]:
        files = sorted((self.root / "data" / "pipeline").glob("up*.json"))
        assert files, "no supervisor state file yet"
        return json.loads(files[0].read_text())

    def children(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.state()["children"]}

    def wait_running(self, names: list[str] | None = None, timeout: float = 120.0) -> None:
        def ready() -> bool:
            kids = self.children()
            wanted = names or list(kids)
            return all(kids[n]["state"] == "running" and kids[n]["pid"] for n in wanted)

        wait_for(ready, "every child running", timeout)

    def settings(self) -> Any:
        from eventlake.config import load_config

        return load_config(self.root / "eventlake.toml")

    def stop(self, timeout: float = 120.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill_tree(self) -> None:
        """Teardown: whatever still runs (the supervisor, then any child) is killed."""
        pids = []
        try:
            pids = [c["pid"] for c in self.state()["children"] if c["pid"]]
        except (AssertionError, OSError, ValueError):
            pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_project(root: Path, extra_toml: str = "") -> None:
    """The example project (eventlake init) plus ``extra_toml`` sections."""
    from eventlake.project import write_example_project

    write_example_project(root)
    if extra_toml:
        with open(root / "eventlake.toml", "a", encoding="utf-8") as fh:
            fh.write("\n" + extra_toml)


def up_env(**overrides: str) -> dict[str, str]:
    """Environment of the process under test: fast batches and runs, free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "EVENTLAKE_COLLECT__PORT": str(free_port()),
            "EVENTLAKE_SERVE__PORT": str(free_port()),
            "EVENTLAKE_LAND__MAX_AGE_SECONDS": "0.5",
            "EVENTLAKE_SCHEDULE__MODELS_MIN_INTERVAL": "1",
            "EVENTLAKE_UP__BACKOFF_INITIAL": "0.2",
            "EVENTLAKE_UP__STOP_TIMEOUT": "90",
        }
    )
    env.update(overrides)
    return env


def students_toml(root: Path) -> str:
    """A CSV source `students` (examples/students' schema) dropping into root/drop."""
    shutil.copy(REPO / "examples" / "students" / "schema.yaml", root / "students.yaml")
    (root / "drop").mkdir(exist_ok=True)
    return (
        "[sources.csv.students]\n"
        'input_dir = "drop"\nschema_file = "students.yaml"\ntable = "students"\n'
        "stable_seconds = 0.5\nrescan_seconds = 2.0\n"
    )
