"""The systemd unit shipped in examples/systemd runs `eventlake up` the way operations.md
says: read as an INI file (systemd's own syntax), never started here."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from eventlake.config import UpConfig

UNIT = Path(__file__).resolve().parents[3] / "examples" / "systemd" / "eventlake.service"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_the_unit_runs_eventlake_up_and_stops_it_with_one_sigterm() -> None:
    unit = _unit()
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == "eventlake" and command[1:] == ["up"]
    assert service["Type"] == "simple"
    assert service["KillSignal"] == "SIGTERM"
    # the supervisor alone gets the signal and stops its children in order; leftovers
    # are killed by systemd only after the timeout
    assert service["KillMode"] == "mixed"
    assert float(service["TimeoutStopSec"]) > UpConfig().stop_timeout
    assert service["Restart"] == "on-failure"
    assert "0" in service["SuccessExitStatus"].split()
    assert service["WorkingDirectory"].startswith("/")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in unit["Unit"]["After"]


def test_operations_doc_ships_the_same_unit() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "examples/systemd/eventlake.service" in text
    assert "journalctl -u eventlake" in text
