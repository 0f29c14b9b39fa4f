"""Schedules of `eventlake up` with an injected clock: cron times, REST source runs, model
runs (cron and continuous), and the [schedule] settings that describe them."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import pytest

from eventlake.config import load_config
from eventlake.errors import ConfigError, ModelBuildError
from eventlake.lake import open_lake
from eventlake.up.builder import ModelScheduler
from eventlake.up.cron import CronSchedule
from eventlake.up.sources import api_schedules, run_api_on_schedule

UTC = dt.UTC


class FakeClock:
    """Time that moves only when someone waits; stops the loop after ``limit`` waits."""

    def __init__(self, start: dt.datetime, limit: int = 10_000_000) -> None:
        self.t = start
        self.waits = 0
        self.limit = limit

    def now(self) -> dt.datetime:
        return self.t

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.t += dt.timedelta(seconds=seconds)
        self.waits += 1
        if self.waits >= self.limit:
            stop.set()
        return stop.is_set()


def test_cron_times_follow_the_expression_in_its_time_zone() -> None:
    monthly = CronSchedule("0 3 1 * *", "Europe/Paris")
    start = dt.datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    first = monthly.next_after(start)
    assert first == dt.datetime(2026, 2, 1, 2, 0, tzinfo=UTC)  # 03:00 in Paris (UTC+1)
    assert monthly.next_after(first) == dt.datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    summer = monthly.next_after(dt.datetime(2026, 6, 2, tzinfo=UTC))
    assert summer == dt.datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # UTC+2 in summer
    seconds = CronSchedule("* * * * * */10")  # croniter: a sixth field is the seconds
    assert seconds.next_after(start) == start + dt.timedelta(seconds=10)


def test_bad_cron_and_time_zone_are_config_errors_naming_the_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text('[schedule]\nmodels = "every five minutes"\n')
    with pytest.raises(ConfigError, match=r"schedule\.models.*not a cron expression"):
        load_config(cfg)
    cfg.write_text('[schedule]\napi = { pinball = "61 * * * *" }\n')
    with pytest.raises(ConfigError, match=r"schedule\.api.*'pinball'"):
        load_config(cfg)
    cfg.write_text('[schedule]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match=r"schedule\.timezone.*unknown time zone"):
        load_config(cfg)
    cfg.write_text('[schedule]\nmodels = "Continuous"\napi_default = "OFF"\n')
    s = load_config(cfg)
    assert (s.schedule.models, s.schedule.api_default) == ("continuous", "off")


def test_api_schedules_per_source_default_and_off(tmp_path: Path) -> None:
    cfg = tmp_path / "eventlake.toml"
    cfg.write_text(
        '[sources.api.a]\ndefinition = "a.yaml"\n[sources.api.b]\ndefinition = "b.yaml"\n'
        '[sources.api.c]\ndefinition = "c.yaml"\n'
        '[schedule]\napi = { a = "0 3 1 * *", c = "off" }\napi_default = "@daily"\n'
    )
    schedules = api_schedules(load_config(cfg))
    assert schedules["a"] is not None and schedules["a"].expression == "0 3 1 * *"
    assert schedules["b"] is not None and schedules["b"].expression == "@daily"
    assert schedules["c"] is None
    cfg.write_text('[schedule]\napi = { ghost = "@daily" }\n')
    with pytest.raises(ConfigError, match="ghost, not in"):
        api_schedules(load_config(cfg))


def test_a_rest_source_runs_at_each_cron_time(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path)
    clock = FakeClock(dt.datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    stop = threading.Event()
    runs: list[dt.datetime] = []

    def run(_settings: Any, name: str) -> None:
        assert name == "pinball"
        runs.append(clock.now())
        clock.t += dt.timedelta(minutes=7)  # a run takes time
        if len(runs) == 3:
            stop.set()

    count = run_api_on_schedule(
        settings, "pinball", CronSchedule("0 3 1 * *"), stop, clock=clock, run=run
    )
    assert count == 3
    assert runs == [dt.datetime(2026, m, 1, 3, 0, tzinfo=UTC) for m in (2, 3, 4)]


def test_model_runs_on_cron_retry_sooner_after_a_failure(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path, schedule={"models": "0 * * * *"})
    clock = FakeClock(dt.datetime(2026, 1, 1, 0, 30, tzinfo=UTC))
    stop = threading.Event()
    starts: list[dt.datetime] = []

    def run_once() -> None:
        starts.append(clock.now())
        if len(starts) == 4:
            stop.set()
        if len(starts) == 1:
            raise ModelBuildError("model x failed")

    ModelScheduler(settings, stop, clock=clock, run_once=run_once).run()
    assert starts[0] == dt.datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    # after the failure: min_interval (5 s) doubled, sooner than the next hour
    assert starts[1] == starts[0] + dt.timedelta(seconds=10)
    assert starts[2:] == [dt.datetime(2026, 1, 1, h, 0, tzinfo=UTC) for h in (2, 3)]


def test_continuous_model_runs_start_only_when_new_commits_exist(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path, schedule={"models_min_interval": 0})
    lake = open_lake(settings.lake_uri())
    writer = support.lakedata().LakeWriter(lake)
    day = dt.date(2026, 2, 1)
    stop = threading.Event()
    clock = FakeClock(dt.datetime(2026, 2, 1, tzinfo=UTC), limit=200)
    runs: list[int] = []

    def run_once() -> None:
        runs.append(clock.waits)

    scheduler = ModelScheduler(settings, stop, clock=clock, run_once=run_once)
    assert scheduler.new_commits() == set()
    writer.commit(support.lakedata().game_events(day, 2, tag="a"))
    first = scheduler.new_commits()
    assert len(first) == 1
    # the loop: one run for the commit, then nothing while nothing new arrives
    thread = threading.Thread(target=scheduler.run)
    clock.limit = 50
    thread.start()
    thread.join(30)
    assert len(runs) == 1
    assert scheduler.new_commits() == set()
    writer.commit(support.lakedata().game_events(day, 1, tag="b", first_user=9))
    assert len(scheduler.new_commits()) == 1
