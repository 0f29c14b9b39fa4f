"""The CLI shell: lazy verbs, help, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventlake.cli import COMMANDS, cli
from eventlake.errors import ConfigError


def test_help_lists_every_verb() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for verb in COMMANDS:
        assert verb in result.output


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from eventlake.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('duckdb', 'pyarrow', 'dbt', 'pandas') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_init_writes_the_example_project_and_keeps_existing_files(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["init", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "eventlake.toml").is_file()
    (tmp_path / "p" / "eventlake.toml").write_text("# mine\n")
    result = runner.invoke(cli, ["init", str(tmp_path / "p")])
    assert "already exist" in result.output
    assert (tmp_path / "p" / "eventlake.toml").read_text() == "# mine\n"


def test_user_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "eventlake.toml"
    bad.write_text('[collect]\nport = "x"\n')
    out = subprocess.run(
        [sys.executable, "-m", "eventlake", "-c", str(bad), "status"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: ")
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_group_help_says_what_each_verb_says_of_itself() -> None:
    import click

    ctx = click.Context(cli)
    for verb, (_target, text) in COMMANDS.items():
        command = cli.get_command(ctx, verb)
        assert command is not None
        assert command.get_short_help_str(500) == text, verb
    assert "rebuild every day that got new rows" in " ".join(
        CliRunner().invoke(cli, ["--help"]).output.split()
    )


NEEDS_A_PROJECT = [
    ["status"],
    ["run"],
    ["build"],
    ["backfill", "--start", "2026-01-01", "--end", "2026-01-02"],
    ["land"],
    ["query", "SHOW TABLES"],
    ["quarantine", "list"],
    ["quarantine", "replay"],
    ["bus", "status"],
    ["collect"],
    ["serve"],
    ["generate", "--users", "2", "--days", "1"],
]


@pytest.mark.parametrize("args", NEEDS_A_PROJECT, ids=lambda a: " ".join(a[:2]))
def test_verbs_outside_a_project_say_so_and_create_nothing(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert message.startswith("no eventlake project here") and str(tmp_path) in message
    assert "eventlake init" in message and "--config" in message
    assert list(tmp_path.iterdir()) == []


def test_init_help_and_file_generation_work_without_a_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for args in (["--help"], ["demo", "--help"], ["run", "--help"], ["--version"]):
        assert runner.invoke(cli, args).exit_code == 0, args
    out = runner.invoke(cli, ["generate", "--users", "3", "--days", "1", "--to", "e.jsonl"])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl"]
    made = runner.invoke(cli, ["init", "proj"])
    assert made.exit_code == 0 and "dev-write-key" in made.output
    assert (tmp_path / "proj" / "eventlake.toml").is_file()


def test_the_project_is_found_from_a_subfolder_and_read_only_verbs_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    deep = tmp_path / "models" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    status = runner.invoke(cli, ["status", "--json"])
    assert status.exit_code == 0, status.output
    assert any(str(tmp_path / "data" / "bus") in n for n in json.loads(status.stdout)["notes"])
    assert runner.invoke(cli, ["quarantine", "list"]).exit_code == 0
    assert runner.invoke(cli, ["quarantine", "list", "--json"]).exit_code == 0
    assert runner.invoke(cli, ["bus", "status"]).exit_code == 0
    query = runner.invoke(cli, ["query", "SELECT 1"])
    assert query.exit_code == 1 and "does not exist yet" in str(query.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "eventlake.toml",
        "exchange-rates.csv",
        "models",
        "tracking-plan.yaml",
    ]
    assert list(deep.iterdir()) == []


def test_unknown_eventlake_variables_are_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["init", "."],
        env={"EVENTLAKE_COLECT__PORT": "9000", "EVENTLAKE_WRITE_KEY": "dev-write-key"},
    )
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "warning: EVENTLAKE_COLECT__PORT is not an eventlake setting and is ignored; "
        "did you mean EVENTLAKE_COLLECT__PORT?"
    ]


def test_a_bad_environment_value_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    (tmp_path / "eventlake.toml").write_text("[collect]\nport = 9000\n")
    out = subprocess.run(
        [sys.executable, "-m", "eventlake", "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")},
            "EVENTLAKE_COLLECT__PORT": "abc",
        },
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid setting 'collect.port'")
    assert "EVENTLAKE_COLLECT__PORT" in lines[0] and "eventlake.toml" not in lines[0]
