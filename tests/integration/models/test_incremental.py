"""Incremental builds by changed day equal a full rebuild, and a failing test fails the build.

The game lake is loaded commit by commit (as the pipeline would after each landing), each
step built with ``changed_days`` = the partitions the new commits touched; late events,
late identifies (retroactive stitching), alias merges and duplicates arriving on other
days all land in later commits. The final warehouse must equal a full build, table by
table, row by row.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pytest

from eventlake.config import Settings
from eventlake.errors import ModelBuildError
from eventlake.warehouse.dbt import ModelTestsFailedError

build_models = support.build_duckdb_in_place

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: What one run rebuilds, not results: these differ between runs by design.
RUN_STATE = {
    "int_changed_days",
    "int_identity_changes",
    "int_session_changes",
    "int_user_day_changes",
}


def _relations(db: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [
            (s, t)
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('staging', 'marts', 'metrics') order by 1, 2"
            ).fetchall()
        ]
    finally:
        con.close()


def _differences(left: Path, right: Path, schema: str, table: str) -> tuple[int, int, int]:
    con = duckdb.connect(str(left), read_only=True)
    try:
        con.execute(f"attach '{right}' as other (read_only)")
        a = f"{schema}.{table}"
        b = f"other.{schema}.{table}"
        only_left = con.execute(f"select count(*) from (from {a} except all from {b})").fetchone()
        only_right = con.execute(f"select count(*) from (from {b} except all from {a})").fetchone()
        rows = con.execute(f"select count(*) from {b}").fetchone()
    finally:
        con.close()
    assert only_left and only_right and rows
    return int(only_left[0]), int(only_right[0]), int(rows[0])


@pytest.fixture(scope="module")
def runs(
    game_lake: Any,
    settings_factory: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    project = tmp_path_factory.mktemp("incremental")
    settings = settings_factory(project)
    full = project / "full.duckdb"
    game_lake.load_raw(full)
    build_models(full, settings)

    inc = project / "inc.duckdb"
    ids = game_lake.commit_ids
    cut = len(ids) // 2
    game_lake.load_raw(inc, ids[:cut])
    build_models(inc, settings)
    # the same steps told which rows each commit brought, as the pipeline tells them
    by_rows = project / "by_rows.duckdb"
    shutil.copyfile(inc, by_rows)
    expanded: list[tuple[list[dt.date], list[dt.date]]] = []
    merged_nodes: list[int] = []  # nodes whose component a run recomputed
    # by_rows steps: days rebuilt below the day, days rebuilt whole, session changes,
    # user-days extended and user-days new
    below_the_day: list[tuple[int, int, int, int, int]] = []
    step = 1  # one commit per run, as the pipeline does after each landing
    for start in range(cut, len(ids), step):
        new = ids[start : start + step]
        game_lake.load_raw(inc, ids[: start + step])
        days = game_lake.commit_days(new)
        build_models(inc, settings, changed_days=days)
        game_lake.load_raw(by_rows, ids[: start + step])
        build_models(
            by_rows, settings, changed_days=days, new_offsets=game_lake.commit_offsets(new)
        )
        con = duckdb.connect(str(by_rows), read_only=True)
        try:
            below_the_day.append(
                con.execute(
                    "select (select count(*) from staging.int_changed_days where rows_only), "
                    "(select count(*) from staging.int_changed_days where not rows_only), "
                    "(select count(*) from staging.int_session_changes), "
                    "(select count(*) from staging.int_user_day_changes where change = 'delete'), "
                    "(select count(*) from staging.int_user_day_changes where change = 'insert') "
                    "- (select count(*) from staging.int_user_day_changes where change = 'delete')"
                ).fetchall()[0]
            )
        finally:
            con.close()
        con = duckdb.connect(str(inc), read_only=True)
        try:
            rebuilt = [
                r[0] for r in con.execute("select day from staging.int_changed_days").fetchall()
            ]
            merged = con.execute(
                "select count(*) from staging.int_identity_changes where old_component is not null"
            ).fetchone()
            merged_nodes.append(int(merged[0]) if merged else 0)
        finally:
            con.close()
        expanded.append((days, sorted(rebuilt)))
    return {
        "settings": settings,
        "full": full,
        "inc": inc,
        "by_rows": by_rows,
        "expanded": expanded,
        "merged_nodes": merged_nodes,
        "below_the_day": below_the_day,
        "project": project,
    }


def test_incremental_days_equal_a_full_rebuild(runs: dict[str, Any]) -> None:
    relations = _relations(runs["full"])
    assert len(relations) >= 24
    assert _relations(runs["inc"]) == relations
    for schema, table in relations:
        if table in RUN_STATE:
            continue
        only_inc, only_full, rows = _differences(runs["inc"], runs["full"], schema, table)
        assert (only_inc, only_full) == (0, 0), f"{schema}.{table}: {rows} rows in the full build"


def test_runs_told_their_new_rows_equal_a_full_rebuild(runs: dict[str, Any]) -> None:
    """With ``new_offsets`` only the messages with a new copy are ranked again (and fewer
    days rebuilt): the result still equals a full rebuild."""
    for schema, table in _relations(runs["full"]):
        if table in RUN_STATE:
            continue
        only, full, rows = _differences(runs["by_rows"], runs["full"], schema, table)
        assert (only, full) == (0, 0), f"{schema}.{table}: {rows} rows in the full build"


def test_runs_told_their_new_rows_went_below_the_day(runs: dict[str, Any]) -> None:
    """The steps above include runs whose days only got new messages (row-level facts
    replaced only those rows, sessions and user-days changed only for their users) and
    runs that had to rebuild whole days (identity merges, duplicates): both kinds equal
    the full rebuild."""
    steps = runs["below_the_day"]
    assert any(step[0] for step in steps)  # rows_only days
    assert any(step[1] for step in steps)  # days rebuilt whole
    assert any(step[2] for step in steps)  # sessions below the day
    # whenever the sessions went below the day, so did the user-days (every case of
    # their merge: test_user_days_below_the_day.py)
    assert any(step[3] for step in steps)
    assert all(step[3] + step[4] > 0 for step in steps if step[2]), steps


def test_changed_days_expand_to_days_they_can_change(runs: dict[str, Any]) -> None:
    for given, rebuilt in runs["expanded"]:
        assert set(given) <= set(rebuilt)
    # late identifies and duplicates on other days pull earlier days into some run
    assert any(set(rebuilt) - set(given) for given, rebuilt in runs["expanded"])


def test_late_identifies_recompute_only_the_merged_components(runs: dict[str, Any]) -> None:
    # some runs merge existing components (late identify, alias), most merge none
    assert any(runs["merged_nodes"]), runs["merged_nodes"]
    assert runs["merged_nodes"].count(0) > 0, runs["merged_nodes"]


def test_no_changed_days_rebuilds_nothing(runs: dict[str, Any]) -> None:
    db = runs["project"] / "again.duckdb"
    shutil.copyfile(runs["inc"], db)
    result = build_models(db, runs["settings"], changed_days=[])
    assert result.changed_days == []
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select count(*) from staging.int_changed_days").fetchone() == (0,)
    finally:
        con.close()
    for schema, table in _relations(runs["full"]):
        if table not in RUN_STATE:
            assert _differences(db, runs["full"], schema, table)[:2] == (0, 0), table


def test_failing_data_test_names_model_and_test(runs: dict[str, Any]) -> None:
    db = runs["project"] / "broken.duckdb"
    shutil.copyfile(runs["full"], db)
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "insert into raw.events (message_id, type, event, anonymous_id, timestamp, "
            "received_at, event_date, bus_partition, bus_offset) values ('bad-1', 'bogus', "
            "'x', 'anon-x', timestamp '2026-03-05 10:00:00', timestamp '2026-03-05 10:00:01', "
            "date '2026-03-05', 0, 999999)"
        )
    finally:
        con.close()
    with pytest.raises(ModelBuildError) as info:
        build_models(db, runs["settings"], changed_days=[dt.date(2026, 3, 5)])
    message = str(info.value)
    # the model, the test, and the failing check with its column and value
    assert "stg_events: test stg_events_row_checks" in message
    assert "check_name=accepted_values, column_name=event_type, value=bogus" in message
    assert isinstance(info.value, ModelTestsFailedError)
    assert [name for name, _ in info.value.failures] == ["stg_events: test stg_events_row_checks"]


def test_select_builds_only_the_selection(runs: dict[str, Any]) -> None:
    db = runs["project"] / "selected.duckdb"
    shutil.copyfile(runs["full"], db)
    result = build_models(
        db, runs["settings"], changed_days=[], select="int_changed_days stg_events"
    )
    assert sorted(result.models_built) == ["int_changed_days", "stg_events"]
    assert result.tests_passed >= 4


def test_days_without_activity_get_their_rows_in_a_days_run(tmp_path: Path) -> None:
    """A gap in the data (nobody active for two days) still has WAU/MAU/28-day rows, and a
    day's run that adds a later day builds them exactly as a full rebuild does."""
    import eventlake_tests_support as support

    from eventlake.lake import open_lake
    from eventlake.pipeline.run import load_and_build

    lakedata = support.lakedata()
    day0 = dt.date(2026, 3, 2)
    batches = [
        lakedata.game_events(day0, 4),
        lakedata.game_events(day0 + dt.timedelta(days=1), 3, tag="b-"),
        lakedata.game_events(day0 + dt.timedelta(days=4), 2, tag="c-", first_user=7),
    ]

    def project(name: str, commits: int) -> tuple[Settings, Any]:
        folder = tmp_path / name
        writer = lakedata.LakeWriter(open_lake(str(folder / "lake")))
        settings = _settings(folder)
        for batch in batches[:commits]:
            writer.commit(batch)
        return settings, writer

    full, _ = project("full", 3)
    load_and_build(full)
    inc, writer = project("inc", 2)
    load_and_build(inc)
    writer.commit(batches[2])
    second = load_and_build(inc)
    assert not second.full_refresh and list(second.changed_days) == ["2026-03-06"]
    for table in ("daily_active_users", "rolling_active_users_28d"):
        diff = _differences(
            inc.resolve(inc.warehouse.path), full.resolve(full.warehouse.path), "metrics", table
        )
        assert diff[:2] == (0, 0), table
    con = duckdb.connect(str(full.resolve(full.warehouse.path)), read_only=True)
    try:
        rows = con.execute(
            "select activity_date, sum(dau), sum(wau) from metrics.daily_active_users "
            "group by 1 order by 1"
        ).fetchall()
    finally:
        con.close()
    assert [(d.day, dau, wau) for d, dau, wau in rows] == [
        (2, 4, 4),
        (3, 3, 4),
        (4, 0, 4),  # nobody active, but four players in the 7-day window
        (5, 0, 4),
        (6, 2, 6),
    ]


def _settings(folder: Path) -> Settings:
    import eventlake

    plan = Path(eventlake.__file__).parent / "templates" / "tracking-plan.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tracking-plan.yaml").write_text(plan.read_text(encoding="utf-8"))
    return Settings(
        base_dir=folder,
        lake={"path": str(folder / "lake")},
        warehouse={"threads": 1},
        models={"user_models_dir": None},
    )
