"""Cron schedules of ``eventlake up`` (model runs, REST API sources), read by croniter.

:class:`CronSchedule` turns an expression of ``[schedule]`` into the next time it fires
after a given moment, in the schedule's time zone (croniter does the parsing and the
calendar arithmetic; nothing here parses cron). :class:`Clock` is the time source the
scheduler loops use: the real clock in production, a fake one in tests, so a schedule can
be tested without waiting for it.

A run that takes longer than its interval is not queued up: the next time is computed
from when the run ended, so missed times coalesce into the next one.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import zoneinfo
from typing import Protocol

from eventlake.errors import ConfigError

__all__ = ["Clock", "CronSchedule", "RealClock", "wait_until"]


class Clock(Protocol):
    """Wall time (aware, UTC) and a wait that a stop event cuts short."""

    def now(self) -> dt.datetime:
        """The current time, time-zone aware."""
        ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds``; True if ``stop`` was set meanwhile."""
        ...


class RealClock:
    """The system clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


class CronSchedule:
    """One cron expression in one time zone.

    Raises:
        ConfigError: the expression or the time zone is invalid (the message names the
            setting ``where``).
    """

    def __init__(self, expression: str, timezone: str = "UTC", *, where: str = "schedule") -> None:
        from croniter import croniter

        self.expression = expression.strip()
        if not croniter.is_valid(self.expression):
            raise ConfigError(f"{where}: {self.expression!r} is not a cron expression")
        try:
            self.tz = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"schedule.timezone: unknown time zone {timezone!r}") from exc

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first time strictly after ``moment`` the expression fires (aware, UTC)."""
        from croniter import croniter

        local = moment.astimezone(self.tz)
        nxt = croniter(self.expression, local).get_next(dt.datetime)
        if not isinstance(nxt, dt.datetime):  # pragma: no cover - croniter's contract
            raise TypeError(f"croniter returned {nxt!r}")
        return nxt.astimezone(dt.UTC)

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {self.tz.key!r})"


def wait_until(clock: Clock, stop: threading.Event, when: dt.datetime, step: float = 60.0) -> bool:
    """Wait until ``clock`` reaches ``when``; True if ``stop`` was set first.

    Waits in steps of at most ``step`` seconds, so a clock change (or a fake clock moved
    by a test) is noticed.
    """
    while True:
        left = (when - clock.now()).total_seconds()
        if left <= 0:
            return stop.is_set()
        if clock.wait(stop, min(left, step)):
            return True


def monotonic() -> float:
    """Seconds on the monotonic clock (for intervals, never for cron times)."""
    return time.monotonic()
