"""`eventlake demo --no-serve`, small: the summary it prints agrees with the lake itself."""

from __future__ import annotations

import csv
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
    purchases = con.execute(
        f"select cast(json_extract(properties, '$.price') as double) * "
        f"coalesce(cast(json_extract(properties, '$.quantity') as integer), 1), "
        f"json_extract_string(properties, '$.currency'), cast(timestamp as date) from "
        f"(select distinct on (message_id) * from {events} where event = 'Item Purchased')"
    ).fetchall()
    # converted to USD at the rate in force that day (the project's exchange-rates.csv)
    rates: dict[str, list[tuple[str, float]]] = {}
    with open(directory / "exchange-rates.csv", newline="") as f:
        for row in csv.DictReader(f):
            rates.setdefault(row["currency"], []).append(
                (row["rate_date"], float(row["usd_per_unit"]))
            )

    def usd(currency: str, day: str) -> float:
        known = sorted(rates[currency])
        return [r for d, r in known if d <= day][-1] if known[0][0] <= day else known[0][1]

    revenue = sum(a * usd(c, str(d)) / usd("USD", str(d)) for a, c, d in purchases)
    assert s["currency"] == "USD"
    assert s["revenue"] == pytest.approx(revenue, abs=0.01)
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


def _project_with_ports(directory: Path, collect_port: int, serve_port: int) -> None:
    """The example project, its collector and dashboard ports changed."""
    from eventlake.project import write_example_project

    write_example_project(directory)
    toml = directory / "eventlake.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace("port = 8088", f"port = {collect_port}")
    text = text.replace("port = 8000", f"port = {serve_port}")
    toml.write_text(text, encoding="utf-8")


def _held_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    return holder


def test_a_taken_default_collector_port_is_replaced_and_named(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    with _held_port() as holder:
        taken = holder.getsockname()[1]
        _project_with_ports(directory, taken, taken)
        res = CliRunner().invoke(
            cli,
            [
                "demo",
                str(directory),
                "--users",
                "30",
                "--days",
                "2",
                "--seed",
                "5",
                "--no-serve",
                "--live-events",
                "50",
                "--json",
            ],
        )
    assert res.exit_code == 0, (res.output, res.exception)
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["collector_port"] not in (None, taken)
    assert any(
        f"port {taken} (collect.port) is in use" in n and str(result["collector_port"]) in n
        for n in result["notes"]
    ), result["notes"]
    assert result["sent_live"] == 50 and result["summary"]["reconciled"]
    # a re-run reuses the world and says so instead of "generated ... in 0.x s"
    again = CliRunner().invoke(
        cli,
        [
            "demo",
            str(directory),
            "--users",
            "30",
            "--days",
            "2",
            "--seed",
            "5",
            "--no-serve",
            "--live-events",
            "50",
        ],
    )
    assert again.exit_code == 0, (again.output, again.exception)
    text = " ".join(again.stdout.split())
    assert "reused the" in text and "nothing generated now" in text
    assert "events generated (" not in text


def test_a_taken_explicit_collector_port_names_the_right_flag(tmp_path: Path) -> None:
    with _held_port() as holder:
        taken = holder.getsockname()[1]
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
                "--no-serve",
                "--collector-port",
                str(taken),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"127.0.0.1:{taken} is already in use" in proc.stderr
    assert "--collector-port" in proc.stderr and "with --port" not in proc.stderr
    assert not (tmp_path / "d" / "data").exists(), "nothing is built before the port check"


def test_the_dashboard_port_falls_back_when_the_default_is_taken(tmp_path: Path) -> None:
    from eventlake.cli.demo import _serve_socket
    from eventlake.errors import PortInUseError

    with _held_port() as holder:
        taken = holder.getsockname()[1]
        _project_with_ports(tmp_path, taken, taken)
        sock, note = _serve_socket(tmp_path, None)
        with sock:
            assert sock.getsockname()[1] != taken
            assert note and f"port {taken} (serve.port) is in use" in note
            assert str(sock.getsockname()[1]) in note
        with pytest.raises(PortInUseError, match="--port"):
            _serve_socket(tmp_path, taken)


def test_the_demo_library_does_not_import_the_cli() -> None:
    import ast

    source = Path(__file__).resolve().parents[3] / "eventlake" / "demo.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not [m for m in imported if m.startswith("eventlake.cli")], imported
