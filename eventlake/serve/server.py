"""Running the serve app with uvicorn on a socket we bind ourselves.

Binding first (instead of letting uvicorn do it) turns "address already in use" into a clear
``PortInUseError`` and leaves no window in which another process could take the port.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from eventlake.errors import PortInUseError, ServeError

__all__ = ["bind_socket", "serve_forever"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one).

    Raises:
        PortInUseError: something else holds host:port.
        ServeError: the address cannot be bound for another reason.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"{host}:{port} is already in use: stop the other server or pass --port"
            ) from exc
        raise ServeError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_forever(app: Any, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve ``app`` on ``sock`` until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
