"""`eventlake demo --no-serve`, small: the summary it prints agrees with the lake itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from eventlake.cli import cli

pytestmark = pytest.mark.integration


def _run(directory: Path, port: int, *extra: str) -> dict:
    res = CliRunner().invoke(
        cli,
        [
            "demo",
            str(directory),
            "--users",
            "60",
            "--days",
            "4",
            "--seed",
            "3",
            "--no-serve",
            "--collector-port",
            str(port),
            "--live-events",
            "300",
            "--json",
            *extra,
        ],
    )
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.output.strip().splitlines()[-1])


def test_demo_summary_matches_the_lake_and_reruns_idempotently(
    tmp_path: Path, free_port: int
) -> None:
    directory = tmp_path / "demo"
    result = _run(directory, free_port)
    s = result["summary"]
    assert result["sent_live"] == 300 and result["generated"] == 300 + result["sent_to_bus"]
    lake = directory / "data" / "lake"
    con = duckdb.connect()
    events = f"read_parquet('{lake}/events/**/*.parquet', hive_partitioning=true)"
    quarantine = f"read_parquet('{lake}/quarantine/**/*.parquet', hive_partitioning=true)"
    landed, unique = con.execute(
        f"select count(*), count(distinct message_id) from {events}"
    ).fetchone()
    quarantined = con.execute(f"select count(*) from {quarantine}").fetchone()[0]
    assert s["received"] == result["generated"] == landed + quarantined
    assert (s["landed"], s["quarantined"], s["modeled"]) == (landed, quarantined, unique)
    assert s["duplicates"] == landed - unique and s["reconciled"]
    revenue = con.execute(
        f"select sum(cast(json_extract(properties, '$.price') as double) * "
        f"coalesce(cast(json_extract(properties, '$.quantity') as integer), 1)) from "
        f"(select distinct on (message_id) * from {events} where event = 'Item Purchased')"
    ).fetchone()[0]
    assert s["revenue"] == pytest.approx(revenue or 0.0, abs=0.01)
    top_host = con.execute(
        f"select host from (select distinct on (message_id) * from {events}) "
        "group by host order by count(*) desc limit 1"
    ).fetchone()[0]
    assert top_host == s["top_hosts"][0][0]
    # a second run with the same world reuses it: nothing is doubled
    again = _run(directory, free_port)
    assert again["reused"] is True
    assert again["summary"]["landed"] == landed and again["summary"]["received"] == s["received"]


def test_demo_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "eventlake",
                "demo",
                str(tmp_path / "d"),
                "--users",
                "5",
                "--days",
                "1",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        )
    assert proc.returncode == 1
    assert "already in use" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_refuses_an_unwritable_folder(tmp_path: Path, free_port: int) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/eventlake-demo")  # not writable even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "demo"
    res = CliRunner().invoke(
        cli,
        [
            "demo",
            str(target),
            "--no-serve",
            "--users",
            "5",
            "--days",
            "1",
            "--collector-port",
            str(free_port),
        ],
    )
    assert res.exit_code != 0
    assert "not writable" in str(res.exception) or "cannot create" in str(res.exception)
