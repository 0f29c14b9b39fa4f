"""run/build/backfill: late days rebuilt and only them, failures keep the old warehouse, resume."""

from __future__ import annotations

import datetime as dt

import eventlake_tests_lakedata as lakedata  # loaded by conftest.py
import pytest

from eventlake import pipeline
from eventlake.errors import EventlakeError, ModelBuildError
from eventlake.pipeline.results import short_error

pytestmark = pytest.mark.integration

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
DAILY = "SELECT day, events, build_seq FROM metrics.events_daily ORDER BY day"


def test_late_events_rebuild_exactly_their_day(settings, writer, sql_builder, read_wh):
    for day in (D1, D2, D3):
        writer.commit(lakedata.game_events(day, 3))
    first = pipeline.run(settings, land=False, build_models=sql_builder)
    assert first.ok and first.changed_days == ("2026-03-01", "2026-03-02", "2026-03-03")
    assert sql_builder.calls == [None]  # first build: every day
    before = {day: (events, seq) for day, events, seq in read_wh(DAILY)}

    writer.commit(lakedata.game_events(D1, 2, tag="late-", received=D3))
    late = pipeline.run(settings, land=False, build_models=sql_builder)
    assert late.changed_days == ("2026-03-01",)
    assert late.commits_loaded == 1
    assert sql_builder.calls[-1] == [D1]
    after = {day: (events, seq) for day, events, seq in read_wh(DAILY)}
    assert after[D1][0] == before[D1][0] + 9 and after[D1][1] > before[D1][1]
    assert after[D2] == before[D2] and after[D3] == before[D3]

    full = pipeline.build(settings, full_refresh=True, build_models=sql_builder)
    assert full.ok and sql_builder.calls[-1] is None
    rebuilt = {day: events for day, events, _ in read_wh(DAILY)}
    assert rebuilt == {day: events for day, (events, _) in after.items()}


def test_nothing_new_skips_the_build(settings, writer, sql_builder):
    writer.commit(lakedata.game_events(D1, 2))
    pipeline.run(settings, land=False, build_models=sql_builder)
    again = pipeline.run(settings, land=False, build_models=sql_builder)
    assert again.ok and again.skipped_build and again.changed_days == ()
    assert len(sql_builder.calls) == 1
    assert "nothing new" in again.summary()


def test_run_date_rebuilds_that_day(settings, writer, sql_builder):
    writer.commit(lakedata.game_events(D1, 2) + lakedata.game_events(D2, 2))
    pipeline.run(settings, land=False, build_models=sql_builder)
    result = pipeline.run(settings, day=D2, land=False, build_models=sql_builder)
    assert result.changed_days == ("2026-03-02",)
    assert sql_builder.calls[-1] == [D2]


def test_failing_test_keeps_the_published_warehouse(settings, writer, sql_builder, read_wh):
    writer.commit(lakedata.game_events(D1, 2))
    pipeline.run(settings, land=False, build_models=sql_builder)
    published = read_wh("SELECT count(*) FROM raw.events")
    daily = read_wh(DAILY)

    writer.commit(lakedata.game_events(D2, 2))
    sql_builder.fail_on = D2
    with pytest.raises(ModelBuildError, match="events_daily: test not_failing_day"):
        pipeline.run(settings, land=False, build_models=sql_builder)
    assert read_wh("SELECT count(*) FROM raw.events") == published
    assert read_wh(DAILY) == daily
    history = pipeline.PipelineState.for_settings(settings).runs()
    assert [r.ok for r in history] == [True, False]
    assert "not_failing_day" in (history[-1].error or "")

    sql_builder.fail_on = None  # the fix: the same commit is new again for the next run
    fixed = pipeline.run(settings, land=False, build_models=sql_builder)
    assert fixed.changed_days == ("2026-03-02",)
    assert [d for d, _, _ in read_wh(DAILY)] == [D1, D2]


def test_backfill_resumes_after_a_crash_without_duplicates(settings, writer, sql_builder, read_wh):
    days = [D1 + dt.timedelta(days=i) for i in range(4)]
    for day in days:
        writer.commit(lakedata.game_events(day, 2))
    pipeline.run(settings, land=False, build_models=sql_builder)  # the nightly run
    sql_builder.fail_on = days[2]
    seen: list[tuple[dt.date, bool]] = []
    crashed = pipeline.backfill(
        settings,
        days[0],
        days[-1],
        build_models=sql_builder,
        on_day=lambda d, r: seen.append((d, r is None)),
    )
    assert not crashed.ok and crashed.failed_day == "2026-03-03"
    assert crashed.done == ("2026-03-01", "2026-03-02")
    assert "re-run to resume" in crashed.summary()
    assert seen == [(days[0], False), (days[1], False)]
    assert sql_builder.calls[1:] == [[days[0]], [days[1]], [days[2]]]
    state = pipeline.PipelineState.for_settings(settings)
    assert state.backfill_done(days[0], days[-1]) == {days[0], days[1]}

    sql_builder.fail_on = None
    calls_before = len(sql_builder.calls)
    resumed = pipeline.backfill(settings, days[0], days[-1], build_models=sql_builder)
    assert resumed.ok
    assert resumed.skipped == ("2026-03-01", "2026-03-02")
    assert resumed.done == ("2026-03-03", "2026-03-04")
    assert sql_builder.calls[calls_before:] == [[days[2]], [days[3]]]
    assert read_wh("SELECT count(*), count(DISTINCT message_id) FROM raw.events") == [(36, 36)]
    assert [(d, n) for d, n, _ in read_wh(DAILY)] == [(d, 9) for d in days]

    # Each day is idempotent: a full redo gives the same warehouse.
    redo = pipeline.backfill(settings, days[0], days[-1], restart=True, build_models=sql_builder)
    assert redo.done == tuple(d.isoformat() for d in days) and not redo.skipped
    assert read_wh("SELECT count(*) FROM raw.events") == [(36,)]


def test_backfill_rejects_a_reversed_range(settings):
    with pytest.raises(EventlakeError, match="before"):
        pipeline.backfill(settings, D3, D1)


def test_short_error_keeps_the_first_line_and_the_log():
    error = "dbt build failed on 1 node(s): model m: boom\n  detail\n  more (log: /x/dbt.log)"
    assert (
        short_error(error) == "dbt build failed on 1 node(s): model m: boom ... (log: /x/dbt.log)"
    )
    assert short_error("one line") == "one line"
    assert short_error(None) == "unknown error"


def test_build_with_nothing_new_still_builds_and_tests(settings, writer, sql_builder):
    writer.commit(lakedata.game_events(D1, 2))
    pipeline.run(settings, land=False, build_models=sql_builder)
    result = pipeline.build(settings, build_models=sql_builder)
    assert result.ok and not result.skipped_build and result.tests_passed == 1
    assert sql_builder.calls[-1] == []  # every model, no incremental day
