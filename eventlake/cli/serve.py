"""`eventlake serve`: the data API and the dashboards (and optionally the collector)."""

from __future__ import annotations

from pathlib import Path

import click

from eventlake.cli import log_level_option, pass_settings


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default: serve.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port (default: serve.port, 8000).")
@click.option(
    "--dashboards-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of your dashboard YAML files (default: serve.dashboards_dir).",
)
@click.option(
    "--mount-collector/--no-mount-collector",
    default=None,
    help="Also accept events on /v1/* in this process (default: serve.mount_collector).",
)
@log_level_option
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    dashboards_dir: Path | None,
    mount_collector: bool | None,
    log_level: str,
) -> None:
    """Serve the data API (/api/metrics), the dashboards (/) and the API docs (/docs).

    Reads the warehouse published by `eventlake build` and the metrics catalog beside the
    dbt project; a new build is picked up without a restart. Set EVENTLAKE_SERVE__TOKEN to
    require a bearer token (browsers get a sign-in form). Health: /healthz; Prometheus:
    /metrics.
    """
    from eventlake.serve.app import create_app
    from eventlake.serve.server import bind_socket, serve_forever

    settings = pass_settings(ctx)
    if host is not None:
        settings.serve.host = host
    if port is not None:
        settings.serve.port = port
    if dashboards_dir is not None:
        settings.serve.dashboards_dir = dashboards_dir.resolve()
    if mount_collector is not None:
        settings.serve.mount_collector = mount_collector
    app = create_app(settings)
    sock = bind_socket(settings.serve.host, settings.serve.port)
    bound_port = sock.getsockname()[1]
    auth = "token required" if settings.serve.token else "no token (open)"
    click.echo(
        f"eventlake serve: http://{settings.serve.host}:{bound_port}/  "
        f"(API docs /docs, {auth}; Ctrl-C stops)"
    )
    try:
        serve_forever(app, sock, log_level=log_level)
    finally:
        sock.close()
