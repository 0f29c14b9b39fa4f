"""A run's freshness: the oldest ``received_at`` among the events it published for the first
time, and when it published them; checked against the rows the test itself committed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import eventlake_tests_support as support
import pytest

from eventlake.config import Settings
from eventlake.pipeline import PipelineState, run

pytestmark = pytest.mark.integration
lakedata = support.lakedata()

DAY = dt.date(2026, 3, 1)


def _received(rows: list[dict[str, Any]], at: dt.datetime) -> list[dict[str, Any]]:
    """The rows, as if the collector acknowledged the i-th one ``i`` seconds after ``at``."""
    return [dict(r, received_at=at + dt.timedelta(seconds=i)) for i, r in enumerate(rows)]


def test_each_run_measures_freshness_from_its_own_new_events(
    settings: Settings, writer: Any, sql_builder: Any
) -> None:
    first_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    batch = _received(lakedata.game_events(DAY, 3, tag="a"), first_at)
    writer.commit(batch)
    before = dt.datetime.now(dt.UTC)
    one = run(settings, land=False, build_models=sql_builder)
    after = dt.datetime.now(dt.UTC)
    oldest = min(r["received_at"] for r in batch)  # the definition, from the rows themselves
    assert one.oldest_new_event_at == oldest.isoformat()
    assert one.published_at is not None
    published = dt.datetime.fromisoformat(one.published_at)
    assert before <= published <= after
    assert one.freshness_seconds == pytest.approx((published - oldest).total_seconds())

    # a late event for the same day, acknowledged later: the next run counts only it
    late_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    late = _received(lakedata.game_events(DAY, 1, tag="late", first_user=50), late_at)
    writer.commit(late)
    two = run(settings, land=False, build_models=sql_builder)
    assert two.oldest_new_event_at == min(r["received_at"] for r in late).isoformat()
    assert two.freshness_seconds is not None and two.freshness_seconds < one.freshness_seconds

    # nothing new: nothing published for the first time, no freshness
    three = run(settings, land=False, build_models=sql_builder)
    assert three.skipped_build and three.freshness_seconds is None
    history = PipelineState.for_settings(settings).runs()
    assert [r.freshness_seconds for r in history] == [
        one.freshness_seconds,
        two.freshness_seconds,
        None,
    ]


def test_a_failed_run_publishes_nothing_so_the_next_one_measures_the_same_events(
    settings: Settings, writer: Any, sql_builder: Any
) -> None:
    from eventlake.errors import ModelBuildError

    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    rows = _received(lakedata.game_events(DAY, 2, tag="f"), at)
    writer.commit(rows)
    sql_builder.fail_on = DAY
    with pytest.raises(ModelBuildError):
        run(settings, land=False, build_models=sql_builder)
    failed = PipelineState.for_settings(settings).last_run()
    assert failed is not None and not failed.ok and failed.freshness_seconds is None
    sql_builder.fail_on = None
    ok = run(settings, land=False, build_models=sql_builder)
    assert ok.oldest_new_event_at == min(r["received_at"] for r in rows).isoformat()
