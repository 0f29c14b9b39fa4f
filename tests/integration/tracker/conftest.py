"""Fixtures: real HTTP servers on free 127.0.0.1 ports (uvicorn in a thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` in a background thread until ``stop``."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def serve(free_port: int) -> Iterator[Callable[[Any], str]]:
    """Serve an ASGI app on a free port (the same port on every call); stopped after."""
    servers: list[ServerThread] = []

    def start(app: Any) -> str:
        servers.append(ServerThread(app, free_port).start())
        return f"http://127.0.0.1:{free_port}"

    start.url = f"http://127.0.0.1:{free_port}"  # type: ignore[attr-defined]
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def serve_extra() -> Iterator[Callable[[Any], str]]:
    """Serve an ASGI app on a new free port per call; stopped after the test."""
    import socket

    servers: list[ServerThread] = []

    def start(app: Any) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        servers.append(ServerThread(app, port).start())
        return f"http://127.0.0.1:{port}"

    yield start
    for s in reversed(servers):
        s.stop()
