"""The CLI shell: lazy verbs, help, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from eventlake.cli import COMMANDS, cli


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
