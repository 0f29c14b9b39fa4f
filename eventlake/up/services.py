"""The ``collect``, ``land`` and ``serve`` children of ``eventlake up``.

Each is the stage's own public entry point, run in its own process (the collector and the
lander are CPU-bound and the GIL would make them share one core; a crash of one never
takes another down):

- ``collect``: the collector app with uvicorn on the listening socket the supervisor bound
  and passes down (fd ``--fd``): the port stays bound while the child restarts, so clients
  wait in the listen queue instead of being refused. SIGTERM: uvicorn stops accepting,
  finishes the requests in flight (their events are made durable and acknowledged), then
  the app's shutdown drains the commit threads.
- ``land``: ``Lander(settings).run(follow=True)``; SIGTERM ends it after the batch in
  progress is committed (a SIGKILL at any moment loses and doubles nothing: the lake's
  commit records are the truth).
- ``serve``: the serve app on its passed socket; SIGTERM ends open requests and exits.

The collector's and serve's /healthz get :class:`~eventlake.up.health.PipelineHealth`
over the supervisor's state file.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

from eventlake.config import Settings

__all__ = ["collector_app_from_environment", "run_collect", "run_land", "run_serve"]

log = logging.getLogger("eventlake.up")


def _listening_socket(fd: int) -> socket.socket:
    """The listening socket inherited from the supervisor (family detected from the fd)."""
    return socket.socket(fileno=fd)


def _collector_app(settings: Settings, state_file: Path | None) -> object:
    from eventlake.collect.app import create_app
    from eventlake.up.health import PipelineHealth

    return create_app(settings, health=PipelineHealth(settings, state_file, check_bus=False))


def collector_app_from_environment() -> object:
    """uvicorn factory for collector worker processes (``collect.workers`` > 1)."""
    import os

    from eventlake.config import load_config
    from eventlake.gc_tuning import tune_gc
    from eventlake.up.state import STATE_ENV

    state = os.environ.get(STATE_ENV)
    app = _collector_app(load_config(), Path(state) if state else None)
    tune_gc()
    return app


def run_collect(settings: Settings, fd: int, state_file: Path | None) -> None:
    """Serve the collector on the inherited listening socket ``fd`` until SIGTERM."""
    import uvicorn

    from eventlake.collect.server import uvicorn_options
    from eventlake.gc_tuning import tune_gc

    sock = _listening_socket(fd)
    workers = settings.collect.workers
    common = {
        "log_level": "info",
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 10,
        "lifespan": "on",
        **uvicorn_options(settings),
    }
    host, port = sock.getsockname()[:2]
    log.info("collector on http://%s:%s (%d worker%s)", host, port, workers, "s" * (workers > 1))
    if workers <= 1:
        app = _collector_app(settings, state_file)  # checks keys and the plan up front
        tune_gc()
        uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=[sock])  # type: ignore[arg-type]
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "eventlake.up.services:collector_app_from_environment",
        factory=True,
        workers=workers,
        **common,
    )
    Multiprocess(config, sockets=[sock]).run()


def run_land(settings: Settings, stop: threading.Event) -> None:
    """Land the bus into the lake until ``stop``: the batch in progress is finished, then
    one more batch of what the bus holds then (``Lander.run``). The intake stops first
    (stop groups), so that last batch holds the events the collector acknowledged while
    it drained, whether or not the lander had started following when the stop came."""
    from eventlake.gc_tuning import tune_gc
    from eventlake.land import Lander
    from eventlake.land.flush import from_environment

    lander = Lander.from_settings(settings, flush=from_environment())
    tune_gc()
    try:
        log.info("landing %s into %s", lander.bus.describe(), lander.lake.uri)
        lander.run(follow=True, should_stop=stop.is_set, on_batch=lambda b: log.info(b.line()))
    finally:
        lander.close()


def run_serve(settings: Settings, fd: int, state_file: Path | None, *, check_bus: bool) -> None:
    """Serve the data API and dashboards on the inherited socket ``fd`` until SIGTERM."""
    from eventlake.serve.app import create_app
    from eventlake.serve.server import serve_forever
    from eventlake.up.health import PipelineHealth

    sock = _listening_socket(fd)
    health = PipelineHealth(settings, state_file, check_bus=check_bus)
    app = create_app(settings, health=health)
    host, port = sock.getsockname()[:2]
    log.info("data API and dashboards on http://%s:%s/", host, port)
    serve_forever(app, sock, log_level="info")
