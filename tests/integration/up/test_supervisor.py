"""The supervisor on small real child processes: restarts with back-off and crash loops,
log lines carrying the child's name, the stop order, and SIGKILL past the stop bound."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from eventlake.config import UpConfig
from eventlake.up.supervisor import STOP_INTAKE, STOP_PROCESS, ChildSpec, Supervisor

pytestmark = pytest.mark.integration


def _py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code))


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        with self.lock:
            self.lines.append((name, line))

    def of(self, name: str) -> list[str]:
        with self.lock:
            return [line for n, line in self.lines if n == name]


def _run_until(sup: Supervisor, done: callable, timeout: float = 60.0) -> None:  # type: ignore[valid-type]
    stop = threading.Event()
    thread = threading.Thread(target=lambda: sup.run(stop))
    thread.start()
    try:
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if done():
                break
            deadline.wait(0.05)
        else:
            raise AssertionError("condition not reached")
    finally:
        stop.set()
        thread.join(120)


def test_a_crashing_child_is_restarted_with_backoff_and_flagged_as_crash_looping(
    tmp_path: Path,
) -> None:
    sink = Lines()
    state = tmp_path / "up.json"
    config = UpConfig(backoff_initial=0.05, backoff_max=0.2, crash_loop_restarts=3, stop_timeout=20)
    specs = [
        ChildSpec("crashy", "test", _py("print('starting', flush=True); raise SystemExit(3)")),
        ChildSpec("steady", "test", _py("import time; print('up', flush=True); time.sleep(60)")),
    ]
    sup = Supervisor(specs, config=config, state_file=state, roles=["test"], sink=sink)

    seen: dict[str, dict] = {}

    def looping() -> bool:
        data = json.loads(state.read_text()) if state.exists() else {"children": []}
        seen.update({c["name"]: c for c in data["children"]})
        return bool(seen) and seen["crashy"]["crash_loop"] and seen["crashy"]["restarts"] >= 4

    _run_until(sup, looping)
    assert seen["crashy"]["last_exit"] == "exit status 3"
    assert seen["steady"]["restarts"] == 0 and not seen["steady"]["crash_loop"]
    assert sink.of("crashy").count("starting") >= 4  # its own lines, under its name
    assert "up" in sink.of("steady")
    assert any("crashy exited (exit status 3); restart in" in line for line in sink.of("up"))
    assert {c.state for c in sup.snapshot().children} == {"stopped"}


def test_stop_goes_group_by_group_and_kills_what_outlives_the_bound(tmp_path: Path) -> None:
    sink = Lines()
    marker = tmp_path / "intake-stopped"
    intake = _py(
        f"""
        import signal, sys, time, pathlib
        def bye(*_):
            pathlib.Path({str(marker)!r}).write_text("x")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    later = _py(
        f"""
        import signal, sys, time, pathlib
        def bye(*_):
            print("intake stopped first:", pathlib.Path({str(marker)!r}).exists(), flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    stubborn = _py(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    specs = [
        ChildSpec("later", "t", later, stop_group=STOP_PROCESS),
        ChildSpec("intake", "t", intake, stop_group=STOP_INTAKE),
        ChildSpec("stubborn", "t", stubborn, stop_group=STOP_PROCESS),
    ]
    sup = Supervisor(
        specs,
        config=UpConfig(stop_timeout=3),
        state_file=tmp_path / "up.json",
        roles=["t"],
        sink=sink,
    )
    _run_until(sup, lambda: all("ready" in sink.of(n) for n in ("later", "intake", "stubborn")))
    assert sink.of("later")[-1] == "intake stopped first: True"
    assert any("stubborn still running: killed (SIGKILL)" in x for x in sink.of("up"))
    kids = {c.name: c for c in sup.snapshot().children}
    assert kids["stubborn"].last_exit == "killed by SIGKILL"
    assert kids["intake"].last_exit == kids["later"].last_exit == "exit status 0"
