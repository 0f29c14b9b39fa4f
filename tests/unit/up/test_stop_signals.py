"""`eventlake up`'s stop signals: the first stops gracefully, a second one a second or
more later kills at once, and the same request delivered twice (``make`` forwarding the
SIGTERM that ``timeout`` also sends to the process group) is not a second one."""

from __future__ import annotations

import signal
import threading

import pytest

import eventlake.up as up_module


@pytest.fixture
def stop_handler(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    clock = [100.0]
    monkeypatch.setattr(up_module.time, "monotonic", lambda: clock[0])
    stop, force, lines = threading.Event(), threading.Event(), []
    previous = up_module._install_signals(stop, force, lambda who, line: lines.append(line))
    handler = signal.getsignal(signal.SIGTERM)
    for sig, old in previous.items():
        signal.signal(sig, old)
    assert callable(handler)
    return handler, clock, stop, force, lines


def test_a_repeated_signal_within_a_second_still_stops_gracefully(stop_handler) -> None:  # type: ignore[no-untyped-def]
    handler, clock, stop, force, lines = stop_handler
    handler(signal.SIGTERM, None)
    assert stop.is_set() and not force.is_set()
    clock[0] += 0.2
    handler(signal.SIGTERM, None)
    assert not force.is_set()
    assert lines == [
        "SIGTERM: stopping (again to kill at once)",
        "SIGTERM again within 1 s: still stopping gracefully",
    ]
    clock[0] += 1.0  # a real second request, later: kill at once
    handler(signal.SIGINT, None)
    assert force.is_set()
    assert lines[-1] == "second stop signal: killing the children now"
