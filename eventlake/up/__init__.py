"""``eventlake up``: the whole configured pipeline as one supervised, scheduled service.

:func:`run_up` plans the children of the roles asked for, binds the collector's and
serve's listening sockets (a taken port fails at once, and the ports stay bound while a
child restarts), and hands them to a :class:`Supervisor`:

=========  ========  ==============================================================
role       child     what runs (each a process; see the modules for why)
=========  ========  ==============================================================
collect    collect   the collector (``eventlake/up/services.py``)
land       land      the lander, following the bus (``services.py``)
build      build     model runs, continuous or on cron (``builder.py``)
serve      serve     the data API and dashboards (``services.py``)
sources    sources   a watcher thread per CSV source, a cron thread per REST source
                     (``sources.py``); only when sources are configured
=========  ========  ==============================================================

``roles=None`` runs them all on one machine (a project that tracks no events,
:func:`eventlake.project.tracks_events`, gets no collector and no lander: its data comes from
its sources); ``--role`` runs some of them, to spread the pipeline over machines on Kafka,
object storage and PostgreSQL (docs/scale-out.md). When one supervisor runs both ``land``
and ``build``, a model run asks the lander to land its open batch before it loads the
lake (``eventlake/land/flush.py``), so freshness does not wait for
``land.max_age_seconds``.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from eventlake.config import Settings
from eventlake.errors import ConfigError
from eventlake.up.state import STATE_ENV, read_state, state_files, state_path
from eventlake.up.supervisor import (
    STOP_INTAKE,
    STOP_PROCESS,
    STOP_SERVE,
    ChildSpec,
    LogSink,
    Supervisor,
    stderr_sink,
)

__all__ = [
    "ROLES",
    "ChildSpec",
    "Supervisor",
    "child_command",
    "plan_roles",
    "read_state",
    "run_up",
    "state_files",
    "state_path",
]

#: Every role, in the order their children start.
ROLES = ("land", "build", "serve", "collect", "sources")


def child_command(name: str, *args: str) -> tuple[str, ...]:
    """The command line of child ``name`` (this Python, ``-m eventlake.up.child``)."""
    return (sys.executable, "-m", "eventlake.up.child", name, *args)


def plan_roles(settings: Settings, roles: Sequence[str] | None) -> tuple[str, ...]:
    """The roles to run: those asked for, or every role (sources only when configured; the
    collector and the lander only for a project that tracks events).

    Raises:
        ConfigError: an unknown role, or ``sources`` asked for with no source configured.
    """
    from eventlake.project import tracks_events

    has_sources = bool(settings.sources.csv or settings.sources.api)
    if not roles:
        events = tracks_events(settings)
        return tuple(
            r
            for r in ROLES
            if (r != "sources" or has_sources) and (r not in ("collect", "land") or events)
        )
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ConfigError(f"unknown role(s) {', '.join(unknown)}: choose from {', '.join(ROLES)}")
    if "sources" in roles and not has_sources:
        raise ConfigError(
            "--role sources: no sources configured; add [sources.csv.NAME] or "
            "[sources.api.NAME] to eventlake.toml"
        )
    return tuple(r for r in ROLES if r in roles)


def _preflight(settings: Settings, roles: Sequence[str]) -> None:
    """Fail now, in one line, on what would make a child crash-loop from its first start."""
    if "collect" in roles and not settings.write_keys():
        raise ConfigError(
            "no write keys configured for the collector: set collect.write_keys in "
            'eventlake.toml, EVENTLAKE_COLLECT__WRITE_KEYS=\'{"<key>": "<source>"}\' or '
            "collect.write_keys_file"
        )
    if "sources" in roles:
        from eventlake.up.sources import api_schedules

        api_schedules(settings)


def run_up(
    settings: Settings,
    config_path: Path,
    *,
    roles: Sequence[str] | None = None,
    sockets: dict[str, socket.socket] | None = None,
    extra: Sequence[ChildSpec] = (),
    stop: threading.Event | None = None,
    sink: LogSink | None = None,
    on_ready: Callable[[Supervisor], None] | None = None,
) -> int:
    """Run the pipeline's ``roles`` under a supervisor until stopped; return 0.

    Args:
        settings: the project (``config_path``'s, as loaded).
        config_path: the project's ``eventlake.toml``, which every child loads.
        roles: the roles to run (None: all of them).
        sockets: listening sockets already bound for ``collect`` and ``serve`` (the demo
            binds its own); the others are bound here from ``collect``/``serve`` host/port.
        extra: more children to supervise (the demo's trickle).
        stop: ends the run when set (default: SIGINT or SIGTERM, a second one kills).
        sink: receives the children's output lines (default: stderr, prefixed).
        on_ready: called with the supervisor before it starts the children.

    Raises:
        ConfigError: an unknown role, missing write keys, a schedule naming an unknown
            source.
        PortInUseError: the collector's or serve's port is taken.
    """
    from eventlake.serve.server import bind_socket

    chosen = plan_roles(settings, roles)
    _preflight(settings, chosen)
    bound = dict(sockets or {})
    owned: list[socket.socket] = []
    try:
        if "collect" in chosen and "collect" not in bound:
            bound["collect"] = bind_socket(settings.collect.host, settings.collect.port)
            owned.append(bound["collect"])
        if "serve" in chosen and "serve" not in bound:
            bound["serve"] = bind_socket(settings.serve.host, settings.serve.port)
            owned.append(bound["serve"])
        state_file = state_path(settings, None if roles is None else chosen)
        env = {"EVENTLAKE_CONFIG": str(config_path), STATE_ENV: str(state_file)}
        # the lander lands its open batch when a model run asks (land/flush.py): only
        # between the two children of this supervisor
        flush_env = {}
        if "land" in chosen and "build" in chosen:
            from eventlake.land.flush import FLUSH_ENV, flush_folder

            flush_env[FLUSH_ENV] = str(flush_folder(state_file.parent))
        specs = []
        for role in chosen:
            args: list[str] = []
            fds: tuple[int, ...] = ()
            if role in ("collect", "serve"):
                sock = bound[role]
                sock.set_inheritable(True)
                fds = (sock.fileno(),)
                args = ["--fd", str(sock.fileno())]
                if role == "serve" and "collect" in chosen:
                    args.append("--check-bus")
            group = {"collect": STOP_INTAKE, "sources": STOP_INTAKE, "serve": STOP_SERVE}
            specs.append(
                ChildSpec(
                    name=role,
                    role=role,
                    argv=child_command(role, *args),
                    stop_group=group.get(role, STOP_PROCESS),
                    env={**env, **flush_env} if role in ("land", "build") else env,
                    pass_fds=fds,
                )
            )
        specs += [
            ChildSpec(s.name, s.role, s.argv, s.stop_group, {**env, **s.env}, s.pass_fds)
            for s in extra
        ]
        log = sink or stderr_sink()
        for role in ("collect", "serve"):
            if role in bound:
                host, port = bound[role].getsockname()[:2]
                what = "collector" if role == "collect" else "data API and dashboards"
                log("up", f"{what}: http://{host}:{port}/")
        supervisor = Supervisor(
            specs, config=settings.up, state_file=state_file, roles=chosen, sink=log
        )
        own_signals = stop is None
        stop = stop or threading.Event()
        force = threading.Event()
        previous = _install_signals(stop, force, log) if own_signals else {}
        try:
            if on_ready is not None:
                on_ready(supervisor)
            return supervisor.run(stop, force)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        for sock in owned:
            sock.close()


#: A stop signal this soon after the first is the same request delivered twice (``make``
#: forwards the SIGTERM that ``timeout`` also sends to the whole process group), not a
#: second Ctrl-C.
SECOND_SIGNAL_AFTER = 1.0


def _install_signals(stop: threading.Event, force: threading.Event, log: LogSink) -> dict[int, Any]:
    first: list[float] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not stop.is_set():
            log("up", f"{name}: stopping (again to kill at once)")
            first.append(time.monotonic())
            stop.set()
        elif time.monotonic() - first[0] < SECOND_SIGNAL_AFTER:
            log("up", f"{name} again within {SECOND_SIGNAL_AFTER:g} s: still stopping gracefully")
        else:
            log("up", "second stop signal: killing the children now")
            force.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
