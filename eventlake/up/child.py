"""Entry point of one ``eventlake up`` child: ``python -m eventlake.up.child NAME [...]``.

The supervisor starts every child this way, with the project in ``$EVENTLAKE_CONFIG`` and
its state file in ``$EVENTLAKE_UP_STATE``. This module sets up logging (one line per
record, to stderr, which the supervisor prefixes with the child's name), turns SIGTERM
and SIGINT into a stop event for the children that loop (land, build, sources, trickle;
uvicorn handles them itself for collect and serve), stops the child when its supervisor
has died, and runs the child's body. An ``EventlakeError`` is one line and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from eventlake.arrow_memory import prefer_system_allocator
from eventlake.errors import EventlakeError

__all__ = ["CHILDREN", "main"]

#: The children this entry point can run.
CHILDREN = ("collect", "land", "build", "sources", "serve", "trickle")


def _watch_parent(parent: int) -> None:
    """Stop this process (SIGTERM to itself) once its supervisor is gone."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(1.0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eventlake.up.child")
    p.add_argument("name", choices=CHILDREN)
    p.add_argument("--fd", type=int, help="inherited listening socket (collect, serve)")
    p.add_argument("--check-bus", action="store_true", help="serve: probe the bus in /healthz")
    p.add_argument("--url", help="trickle: the collector's base URL")
    p.add_argument("--write-key", help="trickle: the write key")
    p.add_argument("--rate", type=float, default=20.0, help="trickle: events per second")
    p.add_argument("--players", type=int, default=50, help="trickle: live players")
    return p


def _run(args: argparse.Namespace) -> None:
    from eventlake.config import load_config
    from eventlake.up.state import STATE_ENV

    state_env = os.environ.get(STATE_ENV)
    state_file = Path(state_env) if state_env else None
    stop = threading.Event()
    if args.name == "trickle":
        from eventlake.up.trickle import run_trickle

        _stop_on_signals(stop)
        run_trickle(args.url, args.write_key, stop, rate=args.rate, players=args.players)
        return
    settings = load_config()
    if args.name == "collect":
        from eventlake.up.services import run_collect

        run_collect(settings, args.fd, state_file)
    elif args.name == "serve":
        from eventlake.up.services import run_serve

        run_serve(settings, args.fd, state_file, check_bus=args.check_bus)
    elif args.name == "land":
        from eventlake.up.services import run_land

        _stop_on_signals(stop)
        run_land(settings, stop)
    elif args.name == "build":
        from eventlake.up.builder import run_build

        _stop_on_signals(stop)
        run_build(settings, stop)
    elif args.name == "sources":
        from eventlake.up.sources import run_sources

        _stop_on_signals(stop)
        run_sources(settings, stop)


def main(argv: list[str] | None = None) -> int:
    """Run the child named in ``argv``; return its exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.name in ("collect", "serve") and args.fd is None:
        parser.error(f"{args.name} needs --fd (the listening socket the supervisor bound)")
    if args.name == "trickle" and not (args.url and args.write_key):
        parser.error("trickle needs --url and --write-key")
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # one line per HTTP request of the SDK, the REST sources and dbt's own chatter: no
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _watch_parent(os.getppid())
    prefer_system_allocator()  # arrow_memory.py: mimalloc's page churn, measured
    try:
        _run(args)
    except EventlakeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
