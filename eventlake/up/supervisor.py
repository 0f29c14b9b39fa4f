"""The supervisor of ``eventlake up``: starts the children, restarts them, stops them.

Each child is a process (``python -m eventlake.up.child NAME``) in its own session, so a
terminal's Ctrl-C reaches only the supervisor, which then stops the children in order.
Their output (stdout and stderr merged) is read line by line by one thread per child and
written to the supervisor's stderr as ``HH:MM:SS name | line``: under systemd that is the
journal, in a terminal the terminal.

- **Restarts.** A child that exits while the supervisor is not stopping is restarted after
  a back-off: ``up.backoff_initial`` seconds, doubled for each crash that follows the last
  one within ``up.stable_seconds`` of its start, at most ``up.backoff_max``. More than
  ``up.crash_loop_restarts`` restarts within ``up.crash_loop_window`` mark the child as
  crash-looping (in the state file, so in /healthz and ``eventlake status``); it is still
  restarted.
- **Stop** (SIGINT, SIGTERM): children get SIGTERM in stop groups, the next group once the
  previous one has exited: intake first (the collector stops accepting and drains,
  sources, the demo's trickle), then the lander and the model runs (the lander finishes
  its batch, then lands one more of what its partitions hold; a build in progress
  finishes), then serve. Whatever still runs when
  ``up.stop_timeout`` is over is killed with SIGKILL: a killed build publishes nothing,
  a killed lander re-reads its batch next time. A second Ctrl-C (more than a second
  after the first) kills everything at once. The supervisor then exits 0.
- **Orphans.** A child whose supervisor died (SIGKILL, OOM) notices that its parent
  changed and stops itself (``eventlake/up/child.py``).

The state of every child is written to the state file (``eventlake/up/state.py``) on each
change and every :data:`HEARTBEAT` seconds.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from eventlake.config import UpConfig
from eventlake.errors import EventlakeError
from eventlake.health import ChildHealth
from eventlake.up.state import SupervisorState, write_state

__all__ = ["HEARTBEAT", "ChildSpec", "LogSink", "Supervisor", "stderr_sink"]

#: Seconds between two writes of the state file when nothing changes.
HEARTBEAT = 2.0
#: Stop groups, stopped in this order.
STOP_INTAKE, STOP_PROCESS, STOP_SERVE = 0, 1, 2

#: ``sink(child name, line)`` receives every line a child prints.
LogSink = Callable[[str, str], None]


def stderr_sink() -> LogSink:
    """Write each line as ``HH:MM:SS name | line`` to stderr (thread-safe)."""
    lock = threading.Lock()
    width = 8

    def sink(name: str, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with lock:
            sys.stderr.write(f"{stamp} {name:<{width}}| {line}\n")
            sys.stderr.flush()

    return sink


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to run one child: its command, environment, inherited fds and stop group."""

    name: str
    role: str
    argv: tuple[str, ...]
    stop_group: int = STOP_PROCESS
    env: Mapping[str, str] = field(default_factory=dict)
    pass_fds: tuple[int, ...] = ()


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    state: str = "starting"
    restarts: int = 0
    quick_crashes: int = 0
    restart_times: collections.deque[float] = field(default_factory=collections.deque)
    started_mono: float = 0.0
    started_at: str | None = None
    next_start: float | None = None
    last_exit: str | None = None
    last_exit_at: str | None = None
    reader: threading.Thread | None = None


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def describe_exit(returncode: int) -> str:
    """``exit status 1`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class Supervisor:
    """Runs ``specs`` until stopped. Not thread-safe: drive it from one thread.

    Args:
        specs: the children, in start order.
        config: restart and stop settings (``[up]``).
        state_file: where the state is written for /healthz and ``eventlake status``.
        roles: the roles this supervisor runs (recorded in the state file).
        sink: receives each line the children print (default: stderr, prefixed).
    """

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        config: UpConfig,
        state_file: Path,
        roles: Sequence[str],
        sink: LogSink | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise EventlakeError(f"duplicate child names: {names}")
        self.children = [_Child(s) for s in specs]
        self.config = config
        self.state_file = state_file
        self.roles = tuple(roles)
        self.sink = sink or stderr_sink()
        self.started_at = _now_iso()
        self.stopping = False
        self._last_write = 0.0
        self._dirty = True

    # -- children ----------------------------------------------------------------------
    def _spawn(self, child: _Child) -> None:
        spec = child.spec
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        try:
            proc = subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                pass_fds=spec.pass_fds,
                start_new_session=True,
            )
        except OSError as exc:
            raise EventlakeError(f"cannot start child {spec.name}: {exc}") from exc
        child.proc = proc
        child.state = "running"
        child.started_mono = time.monotonic()
        child.started_at = _now_iso()
        child.next_start = None
        assert proc.stdout is not None
        child.reader = threading.Thread(
            target=self._forward, args=(spec.name, proc.stdout), name=f"log-{spec.name}"
        )
        child.reader.daemon = True
        child.reader.start()
        self.sink("up", f"started {spec.name} (pid {proc.pid})")
        self._dirty = True

    def _forward(self, name: str, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                self.sink(name, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _reap(self, child: _Child) -> bool:
        """Notice that ``child`` exited; schedule its restart. True if it had exited."""
        proc = child.proc
        if proc is None or proc.poll() is None:
            return False
        rc = proc.returncode
        child.proc = None
        try:
            # what the child started itself (a collector's uvicorn workers) dies with it
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        now = time.monotonic()
        child.last_exit = describe_exit(rc)
        child.last_exit_at = _now_iso()
        if self.stopping:
            child.state = "stopped"
            self._dirty = True
            return True
        cfg = self.config
        if now - child.started_mono >= cfg.stable_seconds:
            child.quick_crashes = 0
        child.quick_crashes += 1
        delay = min(cfg.backoff_max, cfg.backoff_initial * 2 ** (child.quick_crashes - 1))
        child.state = "backoff"
        child.next_start = now + delay
        self.sink("up", f"{child.spec.name} exited ({child.last_exit}); restart in {delay:g} s")
        self._dirty = True
        return True

    def _recent_restarts(self, child: _Child, now: float) -> int:
        window = self.config.crash_loop_window
        while child.restart_times and now - child.restart_times[0] > window:
            child.restart_times.popleft()
        return len(child.restart_times)

    # -- the loop ----------------------------------------------------------------------
    def start(self) -> None:
        """Start every child (in the order given) and write the first state."""
        for child in self.children:
            self._spawn(child)
        self.write_state(force=True)

    def step(self) -> None:
        """One pass: reap exited children, restart those whose back-off is over, heartbeat."""
        now = time.monotonic()
        for child in self.children:
            self._reap(child)
            due = child.next_start
            if child.state == "backoff" and due is not None and now >= due:
                child.restarts += 1
                child.restart_times.append(now)
                try:
                    self._spawn(child)
                except EventlakeError as exc:  # e.g. out of processes or file handles
                    child.next_start = now + self.config.backoff_max
                    self.sink("up", f"{exc}; next try in {self.config.backoff_max:g} s")
        self.write_state()

    def run(self, stop: threading.Event, force: threading.Event | None = None) -> int:
        """Supervise until ``stop`` is set, then stop every child; return the exit status.

        ``force`` (a second Ctrl-C) cuts the graceful stop short with SIGKILL.
        """
        try:
            self.start()
            while not stop.wait(0.1):
                self.step()
        finally:
            # also when starting or supervising failed: no child outlives its supervisor
            self.shutdown(force)
        return 0

    def shutdown(self, force: threading.Event | None = None) -> None:
        """Stop the children group by group within ``up.stop_timeout``; kill the rest."""
        self.stopping = True
        deadline = time.monotonic() + self.config.stop_timeout
        for child in self.children:
            if child.state == "backoff":
                child.state = "stopped"
                child.next_start = None
        self.write_state(force=True)
        groups = sorted({c.spec.stop_group for c in self.children})
        for group in groups:
            members = [c for c in self.children if c.spec.stop_group == group and c.proc]
            for child in members:
                self._signal(child, signal.SIGTERM)
                child.state = "stopping"
            self.write_state(force=True)
            while any(not self._reap(c) and c.proc is not None for c in members):
                if time.monotonic() >= deadline or (force is not None and force.is_set()):
                    break
                time.sleep(0.05)
            if time.monotonic() >= deadline or (force is not None and force.is_set()):
                break
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                self.sink("up", f"{child.spec.name} still running: killed (SIGKILL)")
                self._signal(child, signal.SIGKILL)
        for child in self.children:
            if child.proc is not None:
                try:
                    child.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.sink("up", f"{child.spec.name} (pid {child.proc.pid}) did not die")
                self._reap(child)
            if child.reader is not None:
                child.reader.join(2)
            child.state = "stopped"
        self.write_state(force=True)
        self.sink("up", "stopped")

    @staticmethod
    def _signal(child: _Child, sig: signal.Signals) -> None:
        if child.proc is None:
            return
        try:
            # the whole session: a collector's uvicorn workers are the child's children
            os.killpg(child.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            child.proc.send_signal(sig)

    # -- state ---------------------------------------------------------------------------
    def snapshot(self) -> SupervisorState:
        """The supervisor's state now."""
        now = time.monotonic()
        children = []
        for c in self.children:
            recent = self._recent_restarts(c, now)
            children.append(
                ChildHealth(
                    name=c.spec.name,
                    role=c.spec.role,
                    state=c.state,
                    pid=c.proc.pid if c.proc is not None else None,
                    restarts=c.restarts,
                    recent_restarts=recent,
                    crash_loop=recent >= self.config.crash_loop_restarts,
                    started_at=c.started_at,
                    last_exit=c.last_exit,
                    last_exit_at=c.last_exit_at,
                )
            )
        return SupervisorState(
            pid=os.getpid(),
            roles=self.roles,
            started_at=self.started_at,
            updated_at=_now_iso(),
            stopping=self.stopping,
            children=tuple(children),
        )

    def write_state(self, *, force: bool = False) -> None:
        """Write the state file if something changed or the heartbeat is due."""
        now = time.monotonic()
        if not (force or self._dirty or now - self._last_write >= HEARTBEAT):
            return
        try:
            write_state(self.state_file, self.snapshot())
        except OSError as exc:
            self.sink("up", f"cannot write the state file {self.state_file}: {exc}")
        self._last_write = now
        self._dirty = False
