"""`eventlake collect`: serve the Segment-compatible HTTP collector with uvicorn."""

from __future__ import annotations

import errno
import os
import socket

import click

from eventlake.cli import log_level_option, pass_settings
from eventlake.errors import PortInUseError

__all__ = ["collect", "check_port_free"]


def check_port_free(host: str, port: int) -> None:
    """Raise ``PortInUseError`` when ``host:port`` cannot be bound right now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PortInUseError(f"cannot bind {host}:{port}: unknown host ({exc})") from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"cannot bind {host}:{port}: the port is already in use; stop the other "
                    "server or choose another with --port (or collect.port)"
                ) from exc
            raise PortInUseError(f"cannot bind {host}:{port}: {exc.strerror}") from exc


@click.command("collect")
@click.option("--host", default=None, help="Interface to bind (default: collect.host).")
@click.option("--port", type=int, default=None, help="TCP port (default: collect.port).")
@click.option(
    "--workers", type=int, default=None, help="uvicorn worker processes (default: collect.workers)."
)
@log_level_option
@click.pass_context
def collect(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int | None,
    log_level: str,
) -> None:
    """Run the Segment-compatible HTTP collector.

    Accepts POST /v1/track, identify, page, screen, group, alias, batch and import with a
    write key (HTTP Basic username or writeKey in the body). A 200 reply means every event
    is durable on the bus; events that break the envelope or the tracking plan are kept in
    quarantine and listed in the reply. Point Segment's or RudderStack's SDKs at
    http://HOST:PORT. Reference: docs/http-api.md.
    """
    import uvicorn

    from eventlake.bus import open_bus
    from eventlake.collect.app import CONFIG_ENV, create_app
    from eventlake.collect.server import uvicorn_options
    from eventlake.gc_tuning import tune_gc

    settings = pass_settings(ctx)
    host = host or settings.collect.host
    port = port if port is not None else settings.collect.port
    workers = workers if workers is not None else settings.collect.workers
    if workers < 1:
        raise click.BadParameter("must be at least 1", param_hint="--workers")
    app = create_app(settings)  # checks write keys, limits and the tracking plan up front
    check_port_free(host, port)
    click.echo(
        f"eventlake collect: http://{host}:{port} ({workers} worker"
        f"{'s' if workers > 1 else ''}, {open_bus(settings.bus, settings.base_dir).describe()})",
        err=True,
    )
    common = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "server_header": False,
        # X-Forwarded-For is honoured by the app, and only from collect.trusted_proxies.
        "proxy_headers": False,
        "timeout_graceful_shutdown": 10,
        # request heads over collect.max_header_bytes get 431 before they are read whole
        **uvicorn_options(settings),
    }
    if workers == 1:
        tune_gc()
        uvicorn.run(app, **common)
        return
    # Worker processes build their own app from the same config file.
    root = ctx.find_root()
    config_path = (root.obj or {}).get("config_path")
    if config_path is not None:
        os.environ[CONFIG_ENV] = str(config_path)
    uvicorn.run(
        "eventlake.collect.app:app_from_environment",
        factory=True,
        workers=workers,
        **common,
    )
