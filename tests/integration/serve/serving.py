"""Helpers shared by the serve integration and browser tests: a sample project on disk and
the serve app running under uvicorn in a thread on a free 127.0.0.1 port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from eventlake.config import Settings, load_config
from eventlake.serve import create_app
from eventlake.serve.server import bind_socket
from eventlake.warehouse.sample import build_sample_warehouse


def make_settings(
    project: Path, *, warehouse: dict[str, Any] | None = None, **serve: Any
) -> Settings:
    """Settings of a project folder; ``serve`` overrides the [serve] section, ``warehouse``
    the [warehouse] one (another engine)."""
    return load_config(None, base_dir=project, serve=serve, warehouse=warehouse or {})


def postgres_database(url: str, name: str) -> str:
    """A new database ``name`` in the cluster of ``url`` (C collation: text sorts by bytes,
    as in DuckDB); returns its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    return url.rsplit("/", 1)[0] + "/" + name


def postgres_settings(project: Path, url: str, **serve: Any) -> Settings:
    """Settings of ``project`` whose warehouse is the PostgreSQL database of ``url``."""
    return make_settings(project, warehouse={"backend": "postgres", "url": url}, **serve)


def build_sample(project: Path, **kwargs: Any) -> dict[str, int]:
    """The sample warehouse and catalog where the project's settings look for them."""
    settings = make_settings(project)
    return build_sample_warehouse(
        settings.resolve(settings.warehouse.path),
        settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json",
        **kwargs,
    )


def wait_for_reload(settings: Settings) -> None:
    """Sleep past ``serve.reload_check_ms``: the server checks the warehouse and catalog files
    at most that often, so the next request sees every file changed before this call."""
    time.sleep(settings.serve.reload_check_ms / 1000 + 0.02)


@contextmanager
def serving(settings: Settings, app: Any = None) -> Iterator[str]:
    """Run the serve app (or ``app``) in a thread; yield its base URL; stop it after."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app if app is not None else create_app(settings),
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the serve app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
