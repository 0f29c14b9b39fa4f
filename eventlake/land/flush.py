"""Landing on request: a model run asks the lander to close its open batch now.

Within one ``eventlake up`` that runs both the ``land`` and the ``build`` roles, an event
would otherwise wait in the lander's open micro-batch until ``land.max_age_seconds`` after
that batch's first event (default 5 s) before any model run can load it. Instead, a run
rings just before it reads the lake's commits (its ``load`` stage), and the lander closes
and lands its batch at once, taking what the bus holds at that moment. So a model run
loads every event acknowledged before it started loading, whatever ``max_age_seconds``
is: the setting now only bounds how long a batch stays open when no run asks (the size
of lake files under steady traffic), not how fresh the dashboards are.

The two processes share a folder (``<warehouse.state_dir>/land-flush``), named to both
children by the supervisor in :data:`FLUSH_ENV`, only when it runs both roles: the lander
of another machine (``--role``) never hears, and a run does not wait for one. Files, each
replaced atomically (write, then ``rename``):

- ``request``: the token of the latest request (nanoseconds, increasing);
- ``done``: the token of the latest request the lander has handled: every record its
  consumer could read when it saw the request is in the lake (or it held no batch and
  nothing was there). On the local bus that is every record appended before the
  request; on Kafka, what the consumer had fetched by then (a poll that does not wait),
  so an event acknowledged a moment before may still wait for the next batch;
- ``open``: present while the lander holds an open batch (the continuous scheduler starts
  a run for it, as for a new lake commit, so a trickle need not wait for the batch's age).

A run waits for ``done`` up to :data:`FLUSH_WAIT` seconds and then loads what the lake
holds either way: an unanswered request (the lander restarting) costs that wait, never
correctness. The lake's commit records stay the only truth of what landed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

__all__ = ["FLUSH_ENV", "FLUSH_WAIT", "FlushRequests", "flush_folder", "from_environment"]

#: The environment variable naming the shared folder (set by ``eventlake up``).
FLUSH_ENV = "EVENTLAKE_LAND_FLUSH_DIR"
#: The longest a model run waits for the lander to answer.
FLUSH_WAIT = 3.0
#: How often the lander looks for a request while it polls the bus.
CHECK_SECONDS = 0.02


def flush_folder(state_dir: Path) -> Path:
    """The shared folder under the warehouse's ``state_dir``."""
    return Path(state_dir) / "land-flush"


def from_environment() -> FlushRequests | None:
    """The requests folder ``eventlake up`` named to this child, or None."""
    folder = os.environ.get(FLUSH_ENV)
    return FlushRequests(Path(folder)) if folder else None


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text, encoding="ascii")
    os.replace(tmp, path)


def _read_token(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


class FlushRequests:
    """Both ends of the requests folder: :meth:`ask` (a model run), :meth:`requested`,
    :meth:`opened` and :meth:`landed` (the lander)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._request = self.folder / "request"
        self._done = self.folder / "done"
        self._open = self.folder / "open"
        self._seen_stamp: tuple[int, int] | None = None
        self._handled = 0
        self._pending = 0

    # -- the model run's end ---------------------------------------------------------------
    def ask(self, wait: float = FLUSH_WAIT, stop: threading.Event | None = None) -> bool:
        """Ask the lander to land its open batch; True once it has (within ``wait`` s)."""
        token = max(time.time_ns(), _read_token(self._request) + 1)
        _write(self._request, str(token))
        deadline = time.monotonic() + wait
        while _read_token(self._done) < token:
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(0.005)
        return True

    def holding(self) -> bool:
        """Whether the lander holds an open batch (events no model run can load yet)."""
        return self._open.exists()

    # -- the lander's end ------------------------------------------------------------------
    def reset(self) -> None:
        """A (re)started lander holds nothing; requests made before it started are
        answered by its first batch."""
        with contextlib.suppress(FileNotFoundError):
            self._open.unlink()
        self._handled = _read_token(self._done)

    def requested(self) -> bool:
        """Whether a request came that the lander has not handled yet (one ``stat`` when
        none did)."""
        try:
            st = self._request.stat()
        except FileNotFoundError:
            return False
        stamp = (st.st_ino, st.st_mtime_ns)  # every request is a new file (rename)
        if stamp != self._seen_stamp:
            self._seen_stamp = stamp
            token = _read_token(self._request)
            if token > max(self._handled, self._pending):
                self._pending = token
        return self._pending > self._handled

    def opened(self) -> None:
        """A batch opened (its first records came)."""
        _write(self._open, "")

    def landed(self, *, drained: bool) -> None:
        """The open batch (if any) is in the lake. With ``drained`` (the batch closed on an
        empty poll after the request was seen: the bus held nothing more), answer the
        requests seen so far; a batch closed by its size leaves them pending."""
        with contextlib.suppress(FileNotFoundError):
            self._open.unlink()
        if drained and self._pending > self._handled:
            self._handled = self._pending
            _write(self._done, str(self._handled))
