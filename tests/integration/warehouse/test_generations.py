"""The DuckDB warehouse's two generation files: catch-up instead of a copy of the history.

A run writes the unpublished generation, brought up to date from the published one by
copying only what the runs since changed (``_duckdb_generations.py``), then publishes it by
replacing the symlink. These tests prove, on real DuckDB files and real processes:

- after runs of the real dbt project (new days, late events, a full refresh), a catch-up
  makes the other generation equal the published one table by table, having copied only
  the logged days of the day-managed tables, and of a day that only got new messages only
  their rows in the row-level tables (raw.events, stg_events and the facts over the
  fct_events view);
- a reader holding the published generation open keeps its snapshot while later runs
  publish, and never blocks them (the generation it holds is replaced by a copy);
- an idle :class:`DuckDBReader` lets go of a superseded generation, so the next run
  catches it up instead of copying, and the reader follows the publish transparently;
- ``kill -9`` of the writer at several points of a run leaves the last good warehouse
  readable, and the next run is correct.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pytest

from eventlake.config import Settings
from eventlake.lake import Lake
from eventlake.pipeline import load_and_build
from eventlake.warehouse import _duckdb_generations as generations
from eventlake.warehouse import open_warehouse
from eventlake.warehouse.duckdb import DuckDBWarehouse

lakedata = support.lakedata()

pytestmark = [pytest.mark.integration]

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
#: Per-file bookkeeping of the generations themselves: not part of the warehouse's content.
_OWN = {"raw._generation", "raw._changes"}


def _contents(path: Path) -> dict[str, Any]:
    """Every table's DDL and rows (sorted) and every view's SQL of a DuckDB file."""
    with duckdb.connect(str(path), read_only=True) as conn:
        out: dict[str, Any] = {}
        for schema, name, sql in conn.execute(
            "SELECT schema_name, table_name, sql FROM duckdb_tables() ORDER BY 1, 2"
        ).fetchall():
            key = f"{schema}.{name}"
            if key in _OWN:
                continue
            rows = conn.execute(f'SELECT * FROM "{schema}"."{name}" ORDER BY ALL').fetchall()
            out[key] = (sql, rows)
        for schema, name, sql, comment in conn.execute(
            "SELECT schema_name, view_name, sql, comment FROM duckdb_views() "
            "WHERE NOT internal ORDER BY 1, 2"
        ).fetchall():
            out[f"view {schema}.{name}"] = (sql, comment)
    return out


def _caught_up(settings: Settings) -> Path:
    """The unpublished generation caught up with the published one (as the next run would
    start it), without starting a run."""
    path = settings.resolve(settings.warehouse.path)
    published = generations.published_file(path)
    other = next(p for p in generations.generation_paths(path) if p != published)
    assert published is not None
    with duckdb.connect(str(other)) as conn:
        assert generations.catch_up(conn, published)
    return other


def _prepare(settings: Settings) -> generations.Generation:
    """One run's preparation of the working generation, under the writer's lock."""
    import fcntl

    path = settings.resolve(settings.warehouse.path)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            return generations.prepare_generation(path, 1, wait=0.5)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _events(settings: Settings, sql: str = "SELECT count(*) FROM raw.events") -> Any:
    path = generations.published_file(settings.resolve(settings.warehouse.path))
    assert path is not None
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()[0][0]


@pytest.mark.slow
def test_runs_of_the_dbt_project_are_caught_up_day_by_day(
    settings: Settings, lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    writer = lakedata.LakeWriter(lake)
    path = settings.resolve(settings.warehouse.path)
    steps: list[list[dict[str, object]]] = [
        lakedata.game_events(D1, 4, first_user=0),
        lakedata.game_events(D2, 4, first_user=100),
        lakedata.game_events(D3, 3, first_user=200, purchase_price=3.5),
        # late events for day 1 (new players), day 3's batch sent again (copies of
        # messages that have rows) and more players on day 3
        lakedata.game_events(D1, 2, tag="late-", received=D3, first_user=300),
        lakedata.game_events(D3, 3, first_user=200, purchase_price=3.5),
        lakedata.game_events(D3, 2, tag="more-", first_user=400),
    ]
    # per run: stg_events' row-level entries, (day, appended)
    row_entries: list[set[tuple[dt.date, bool]]] = []
    caplog.set_level(logging.INFO, logger="eventlake.warehouse")
    for i, events in enumerate(steps):
        writer.commit(events)
        caplog.clear()
        load_and_build(settings)
        how = [r.getMessage() for r in caplog.records if "generation" in r.getMessage()]
        # the first two runs had no generation to catch up; from then on none is copied
        assert len(how) == 1 and ("caught up" in how[0]) == (i >= 2), how
        if i >= 1:  # from the second run there is another generation to catch up
            other = _caught_up(settings)  # what the next run starts from
            assert _contents(other) == _contents(generations.published_file(path))
        with duckdb.connect(str(generations.published_file(path)), read_only=True) as conn:
            row_entries.append(
                set(
                    conn.execute(
                        "SELECT day, appended FROM raw._changes WHERE version = "
                        "(SELECT version FROM raw._generation) "
                        "AND relation = 'staging.stg_events' AND key_column IS NOT NULL"
                    ).fetchall()
                )
            )
    # new messages only: their rows were only added (the catch-up inserts them); the
    # re-sent batch replaced rows (the catch-up deletes them first); both caught up above
    assert row_entries[-1] == {(D3, True)}, row_entries
    assert row_entries[-2] == {(D3, False)}, row_entries

    # what the catch-up of the last step copied: what the last run logged. Day 3 only got
    # new players' events, so the row-level tables name the rows of the messages that
    # arrived (key_column), not the day; the per-day aggregates name the day.
    with duckdb.connect(str(generations.published_file(path)), read_only=True) as conn:
        version = conn.execute("SELECT version FROM raw._generation").fetchone()[0]
        logged = conn.execute(
            "SELECT relation, day, key_column FROM raw._changes "
            "WHERE version = ? AND day IS NOT NULL",
            [version],
        ).fetchall()
        arrivals = conn.execute(
            "SELECT day, count(*) FROM raw._arrivals WHERE version = ? GROUP BY day", [version]
        ).fetchall()
        day_tables = dict(conn.execute("SELECT * FROM raw._day_tables").fetchall())
    assert {"raw.events", "staging.stg_events", "marts.fct_purchases"} <= set(day_tables)
    # fct_events is a view of stg_events: nothing of it is stored, logged or caught up
    assert "marts.fct_events" not in day_tables
    assert not any(r == "marts.fct_events" for r, _, _ in logged)
    assert [d for d, _ in arrivals] == [D3]
    for relation, key in [
        ("raw.events", "message_id"),
        ("staging.stg_events", "message_id"),
        ("marts.fct_purchases", "purchase_id"),
    ]:
        assert (relation, D3, key) in logged, relation
        assert (relation, D3, None) not in logged, relation
    assert ("staging.int_user_days", D3, None) in logged
    assert not any(r == "raw.events" and d == D1 for r, d, _ in logged)  # day 1 untouched

    # a full refresh rewrites every day: logged whole, still caught up exactly
    load_and_build(settings, full_refresh=True)
    assert _contents(_caught_up(settings)) == _contents(generations.published_file(path))


def _store_fct_events(path: Path) -> None:
    """Make ``marts.fct_events`` a table managed by day again, as a warehouse built before it
    became a view holds it."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE marts.fct_events_stored AS SELECT * FROM marts.fct_events")
        conn.execute("DROP VIEW marts.fct_events")
        conn.execute("ALTER TABLE marts.fct_events_stored RENAME TO fct_events")
        conn.execute(
            "INSERT OR IGNORE INTO raw._day_tables VALUES ('marts.fct_events', 'event_date')"
        )


@pytest.mark.slow
def test_a_stored_fct_events_becomes_the_view_in_both_generations(
    settings: Settings, lake: Lake
) -> None:
    """Upgrading: a warehouse whose generations hold ``fct_events`` as a table gets the view
    on the next run, the other generation's catch-up drops the table and creates the view,
    and the view holds every event of ``stg_events`` with its user."""
    writer = lakedata.LakeWriter(lake)
    path = settings.resolve(settings.warehouse.path)
    for day, first in ((D1, 0), (D2, 100)):
        writer.commit(lakedata.game_events(day, 4, first_user=first))
        load_and_build(settings)
    for generation in generations.generation_paths(path):
        _store_fct_events(generation)
        with duckdb.connect(str(generation), read_only=True) as conn:
            assert conn.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'fct_events'"
            ).fetchone() == (1,)
    for events in (
        lakedata.game_events(D3, 3, first_user=200, purchase_price=3.5),
        lakedata.game_events(D3, 2, tag="more-", first_user=400),
    ):
        writer.commit(events)
        load_and_build(settings)
        published = generations.published_file(path)
        assert published is not None
        with duckdb.connect(str(published), read_only=True) as conn:
            assert conn.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'fct_events'"
            ).fetchone() == (0,)
            assert conn.execute(
                "SELECT count(*) FROM duckdb_views() WHERE view_name = 'fct_events'"
            ).fetchone() == (1,)
            # every deduplicated event, once, with the user_key of its identity node
            missing = conn.execute(
                "SELECT count(*) FROM staging.stg_events AS s "
                "INNER JOIN staging.int_identity_map AS m ON m.node = CASE WHEN s.user_id IS "
                "NOT NULL THEN 'u:' || s.user_id ELSE 'a:' || s.anonymous_id END "
                "LEFT JOIN marts.fct_events AS f ON f.message_id = s.message_id "
                "AND f.user_key = m.user_key WHERE f.message_id IS NULL"
            ).fetchone()
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM marts.fct_events), "
                "(SELECT count(DISTINCT message_id) FROM marts.fct_events), "
                "(SELECT count(*) FROM staging.stg_events)"
            ).fetchone()
        assert missing == (0,)
        assert counts[0] == counts[1] == counts[2] > 0, counts
        assert _contents(_caught_up(settings)) == _contents(published)


def _raw_run(settings: Settings, lake: Lake, writer: Any, day: dt.date, n: int) -> None:
    writer.commit(lakedata.game_events(day, n, first_user=1000 + writer.offset))
    wh = open_warehouse(settings)
    with wh.transaction() as tx:
        tx.load_raw(lake)


_HOLDER = r"""
import sys, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
count = "SELECT count(*) FROM raw.events"
print(conn.execute(count).fetchone()[0], flush=True)
sys.stdin.readline()
print(conn.execute(count).fetchone()[0], flush=True)
"""


def test_a_reader_keeps_its_snapshot_and_never_blocks_a_publish(
    settings: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generations, "READER_WAIT", 0.2)
    writer = lakedata.LakeWriter(lake)
    path = settings.resolve(settings.warehouse.path)
    _raw_run(settings, lake, writer, D1, 2)
    _raw_run(settings, lake, writer, D1, 2)
    held_path = generations.published_file(path)
    assert held_path is not None
    # another process holds the published generation open: a user's DuckDB shell, say
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(held_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        before = int(holder.stdout.readline())
        for _ in range(3):  # the second and third runs target the file the reader holds
            _raw_run(settings, lake, writer, D2, 2)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert int(holder.stdout.readline()) == before  # its snapshot, unchanged
    finally:
        holder.kill()
        holder.wait()
    assert _events(settings) == _lake_rows(lake) > before


def _lake_rows(lake: Lake) -> int:
    return sum(
        f.rows
        for cid in lake.commit_ids("events")
        for f in lake.read_commit("events", cid).files
        if f.path.startswith("events/")
    )


def test_an_idle_reader_lets_go_of_a_superseded_generation(settings: Settings, lake: Lake) -> None:
    from eventlake.warehouse._duckdb_reader import RELEASE_SECONDS

    writer = lakedata.LakeWriter(lake)
    for _ in range(2):
        _raw_run(settings, lake, writer, D1, 2)
    wh = open_warehouse(settings)
    assert isinstance(wh, DuckDBWarehouse)
    reader = wh.reader()
    try:
        first = reader.execute("SELECT count(*) FROM raw.events").rows[0][0]
        _raw_run(settings, lake, writer, D2, 3)  # publishes the other generation
        time.sleep(RELEASE_SECONDS * 4)  # the reader, idle, closes the superseded one
        writer.commit(lakedata.game_events(D3, 1, first_user=9000))
        gen = _prepare(settings)
        assert gen.caught_up, "the idle reader still held the generation"
        # the reader follows the publish on its next statement
        assert reader.execute("SELECT count(*) FROM raw.events").rows[0][0] > first
    finally:
        reader.close()


_KILLER = r"""
import os, signal, sys
from eventlake.config import load_config
from eventlake.lake import open_lake
from eventlake.warehouse import open_warehouse
from eventlake.warehouse import _duckdb_generations as g

point = sys.argv[2]
settings = load_config(None, base_dir=sys.argv[1])
lake = open_lake(settings.lake_uri())

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "catch-up":
    real_sync = g._sync
    def sync(conn, here, changes):
        real_sync(conn, here, changes)
        die()  # before the catch-up's COMMIT
    g._sync = sync
if point == "publish":
    real_point = g._point
    def point_(link, target):
        if not link.name.endswith(".next"):
            die()  # the generation is complete and closed, the symlink not replaced yet
        real_point(link, target)
    g._point = point_
wh = open_warehouse(settings)
with wh.transaction() as tx:
    tx.load_raw(lake)
    if point == "body":
        die()  # raw rows loaded, the run not finished
print("finished")
"""


@pytest.mark.parametrize("point", ["catch-up", "body", "publish"])
def test_kill_9_of_the_writer_leaves_the_last_good_warehouse(
    settings: Settings, lake: Lake, project_dir: Path, point: str
) -> None:
    writer = lakedata.LakeWriter(lake)
    for day in (D1, D2, D3):  # three runs: the next one catches up, not copies
        _raw_run(settings, lake, writer, day, 2)
    good = _events(settings)
    path = settings.resolve(settings.warehouse.path)
    published = generations.published_file(path)
    writer.commit(lakedata.game_events(D3, 3, first_user=5000))

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, str(project_dir), point],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # the last good warehouse: same file, same rows, readable by plain DuckDB
    assert generations.published_file(path) == published
    assert _events(settings) == good

    # the next run repairs the half-written generation and is correct
    _raw_run(settings, lake, writer, D2, 1)
    assert _events(settings) == _lake_rows(lake)
    gen = _prepare(settings)
    assert _contents(gen.file) == _contents(generations.published_file(path))
    assert path.is_symlink() and os.readlink(path) in {
        p.name for p in generations.generation_paths(path)
    }
