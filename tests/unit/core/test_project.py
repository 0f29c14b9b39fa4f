"""Whether a project tracks events (built-in event models, game dashboard, collector under
up), and `eventlake init --no-events`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from eventlake.cli import cli
from eventlake.config import load_config
from eventlake.project import tracks_events
from eventlake.up import plan_roles

CSV = '[sources.csv.s]\ninput_dir = "drop"\nschema_file = "s.yaml"\ntable = "s"\n'


def _settings(tmp_path: Path, toml: str) -> object:
    (tmp_path / "eventlake.toml").write_text(toml)
    return load_config(tmp_path / "eventlake.toml")


def test_auto_tracks_events_unless_only_batch_sources_feed_the_project(tmp_path: Path) -> None:
    assert tracks_events(_settings(tmp_path, ""))  # nothing configured: the event product
    only_csv = _settings(tmp_path, CSV)
    assert not tracks_events(only_csv)
    assert plan_roles(only_csv, None) == ("build", "serve", "sources")  # type: ignore[arg-type]
    keyed = _settings(tmp_path, CSV + '[collect]\nwrite_keys = { "k" = "web" }\n')
    assert tracks_events(keyed)
    assert plan_roles(keyed, None) == ("land", "build", "serve", "collect", "sources")  # type: ignore[arg-type]


def test_events_in_the_lake_turn_auto_on(tmp_path: Path) -> None:
    settings = _settings(tmp_path, CSV)
    commits = tmp_path / "data" / "lake" / "_commits"
    (commits / "sources.s").mkdir(parents=True)
    (commits / "sources.s" / "c1.json").write_text(json.dumps({}))
    assert not tracks_events(settings)
    (commits / "events").mkdir()
    (commits / "events" / "e1.json").write_text(json.dumps({}))
    assert tracks_events(settings)


def test_on_and_off_decide(tmp_path: Path) -> None:
    assert tracks_events(_settings(tmp_path, CSV + '[models]\nevents = "on"\n'))
    assert not tracks_events(_settings(tmp_path, "[models]\nevents = false\n"))
    assert load_config(tmp_path / "eventlake.toml").models.events == "off"


def test_init_no_events_writes_a_project_of_sources_and_own_models(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "p"), "--no-events"])
    assert result.exit_code == 0, result.output
    project = tmp_path / "p"
    assert sorted(p.name for p in project.iterdir()) == [
        "dashboards",
        "eventlake.toml",
        "models",
        "seeds",
    ]
    settings = load_config(project / "eventlake.toml")
    assert settings.models.events == "off" and not tracks_events(settings)
    assert "eventlake run" in result.output
