"""The generated world is deterministic and has the shape of a real game's traffic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from eventlake.generate import WorldConfig, generate
from eventlake.generate import catalog as C
from eventlake.generate.activity import EventFrame

START = dt.date(2026, 3, 2)  # a Monday


@pytest.fixture(scope="module")
def world_frame():
    return generate(WorldConfig(users=1500, days=28, start=START, seed=7))


def _equal(a: EventFrame, b: EventFrame) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f)) for f in EventFrame.__dataclass_fields__
    )


def test_same_seed_same_events_other_seed_other_events(world_frame) -> None:
    _, frame = world_frame
    _, again = generate(WorldConfig(users=1500, days=28, start=START, seed=7))
    _, other = generate(WorldConfig(users=1500, days=28, start=START, seed=8))
    assert _equal(frame, again)
    assert not _equal(frame, other)


def test_sorted_by_arrival_and_every_user_active(world_frame) -> None:
    world, frame = world_frame
    assert np.all(np.diff(frame.recv) >= 0)
    assert set(np.unique(frame.user).tolist()) == set(range(world.size))
    assert np.all(frame.recv > frame.t)  # nothing arrives before it happened


def test_activity_is_heavy_tailed_and_revenue_concentrated(world_frame) -> None:
    world, frame = world_frame
    per_user = np.bincount(frame.user, minlength=world.size)
    top = np.sort(per_user)[::-1]
    assert top[: world.size // 10].sum() > 0.3 * per_user.sum()  # top 10% send > 30%
    buys = frame.head == C.H_PURCHASE
    spend = np.bincount(frame.user[buys], minlength=world.size).astype(float)
    payers = np.sort(spend)[::-1]
    assert payers[: world.size // 100].sum() > 0.4 * spend.sum()  # top 1% > 40% of purchases


def test_retention_decays_week_over_week(world_frame) -> None:
    world, frame = world_frame
    day = (frame.t - WorldConfig(start=START).start_us) // 86_400_000_000
    age = day - world.signup_day[frame.user]
    cohort = world.signup_day < 7
    active = [len(np.unique(frame.user[(age // 7 == w) & cohort[frame.user]])) for w in range(4)]
    assert active[0] > active[1] > active[2] > active[3] > 0


def test_daily_and_weekly_cycle(world_frame) -> None:
    world, frame = world_frame
    sessions = frame.head == C.H_SESSION
    local_hour = (
        (frame.t[sessions] // 3_600_000_000) + world.tz_hours[frame.user[sessions]]
    ).astype(int) % 24
    hours = np.bincount(local_hour, minlength=24)
    assert hours[18:23].sum() > 3 * hours[2:7].sum()  # evenings beat small hours
    day = (frame.t[sessions] - WorldConfig(start=START).start_us) // 86_400_000_000
    weekday = (START.weekday() + day) % 7
    per_day = np.bincount(weekday, minlength=7)
    assert per_day[5:].mean() > per_day[:5].mean() * 0.9  # weekends at least as busy


def test_imperfections_are_present_at_their_rates(world_frame) -> None:
    world, frame = world_frame
    n = len(frame)
    dup_share = frame.duplicate.mean()
    assert 0.005 < dup_share < 0.02
    dup_ids = {bytes(m) for m in frame.mid[frame.duplicate]}
    firsts = {bytes(m) for m in frame.mid[~frame.duplicate]}
    assert dup_ids <= firsts  # a duplicate reuses a messageId already sent
    late = (frame.recv - frame.t) > 3_600_000_000
    assert 0.01 < late.mean() < 0.04
    skewed = frame.orig - frame.t
    assert (np.abs(skewed) > 60_000_000).any()  # some clocks are minutes off
    assert 0 < (frame.bad > 0).sum() < 0.01 * n
    # anonymous first sessions: events without a user id, before the identify
    anon_users = np.flatnonzero(world.anonymous_first)
    assert (~frame.ident[np.isin(frame.user, anon_users)]).any()
    assert (frame.ident[~np.isin(frame.user, anon_users)]).all()
    first = ~frame.duplicate
    assert (frame.head[first] == C.H_ALIAS).sum() == world.aliased.sum()
    assert (frame.head[first] == C.H_IDENTIFY).sum() == world.size
