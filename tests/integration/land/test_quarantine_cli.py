"""`eventlake quarantine list|replay` and `eventlake land|bus` through the CLI runner."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from eventlake.bus import QUARANTINE, open_producer
from eventlake.cli import cli
from eventlake.spec import prepare_events

pytestmark = pytest.mark.integration


def _run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-c", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_list_filters_then_replay_after_fixing_the_plan_resubmits_once(project, events_appender):
    settings = project()
    config = settings.base_dir / "eventlake.toml"
    good, bad = events_appender(settings, 200, bad_every=10)
    # one event no plan change can fix: it has no user id at all
    hopeless = prepare_events(
        [{"type": "track", "event": "Level Started", "messageId": "no-ids"}],
        received_at=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
        source="test",
    )
    producer = open_producer(settings)
    producer.append(QUARANTINE, hopeless.quarantine_records, hopeless.quarantine_keys)
    producer.close()
    landed = json.loads(_run(config, "land", "--json"))
    assert (landed["events"], landed["quarantined"]) == (180, 21)

    rows = [
        json.loads(x)
        for x in _run(config, "quarantine", "list", "--json", "--limit", "0").splitlines()
    ]
    assert len(rows) == 21
    assert Counter(r["reason_code"] for r in rows) == {"plan_violation": 20, "missing_id": 1}
    assert all(r["received_at"].endswith("Z") and not r["replayed"] for r in rows)
    only = _run(config, "quarantine", "list", "--json", "--reason", "missing_id")
    assert [json.loads(x)["message_id"] for x in only.splitlines()] == ["no-ids"]
    day = _run(config, "quarantine", "list", "--json", "--date", "2026-11-24", "--limit", "0")
    assert len(day.splitlines()) == 1
    # not a terminal: a header and one whole tab-separated line per event, count on stderr
    plain = CliRunner().invoke(cli, ["-c", str(config), "quarantine", "list", "--limit", "0"])
    assert plain.exit_code == 0 and "21 event(s)" in plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].split("\t") == [
        "received_at",
        "message_id",
        "event",
        "reason_code",
        "reason",
        "replayed",
    ]
    assert len(lines) == 22 and all(len(line.split("\t")) == 6 for line in lines)
    assert {line.split("\t")[1] for line in lines[1:]} == {r["message_id"] for r in rows}

    # still broken plan: nothing replays, nothing is recorded
    dry = json.loads(_run(config, "quarantine", "replay", "--json"))
    assert dry["replayed"] == 0 and dry["still_invalid"] == 21

    (settings.base_dir / "plan.yaml").write_text(
        "unplanned_events: allow\nevents:\n  Level Started:\n    properties:\n"
        "      level: {type: string}\n"
    )
    first = json.loads(_run(config, "quarantine", "replay", "--json"))
    assert first == {
        "replayed": 20,
        "still_invalid": 1,
        "already_replayed": 0,
        "not_replayable": 0,
        "still_invalid_reasons": {"missing_id": 1},
    }
    second = json.loads(_run(config, "quarantine", "replay", "--json"))
    assert (second["replayed"], second["already_replayed"]) == (0, 20)
    assert json.loads(_run(config, "land", "--json"))["events"] == 20

    root = Path(settings.lake_uri())
    ids = Counter(
        r[0]
        for r in duckdb.sql(
            f"select message_id from read_parquet('{root}/events/**/*.parquet')"
        ).fetchall()
    )
    assert ids == Counter(good + bad)
    listed = [json.loads(x) for x in _run(config, "quarantine", "list", "--json").splitlines()]
    assert sum(r["replayed"] for r in listed) == 20


def test_bus_status_and_compact_cli(project, events_appender):
    settings = project()
    config = settings.base_dir / "eventlake.toml"
    events_appender(settings, 300)
    before = json.loads(_run(config, "bus", "status", "--json"))
    assert sum(p["end_offset"] for p in before if p["topic"] == "events") == 300
    _run(config, "land", "-q")
    after = json.loads(_run(config, "bus", "status", "--json"))
    assert all(p["lag"].get("lander", 0) == 0 for p in after)
    assert "deleted" in _run(config, "bus", "compact")
    assert "lander=" in _run(config, "bus", "status")


def test_bad_date_is_one_clear_error(project):
    settings = project()
    result = CliRunner().invoke(
        cli, ["-c", str(settings.base_dir / "eventlake.toml"), "quarantine", "list", "--date", "x"]
    )
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in str(result.exception)
