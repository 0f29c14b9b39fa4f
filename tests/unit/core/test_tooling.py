"""The README's test command, the Makefile and CI agree on what "the tests" are."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _make_dry_run(target: str) -> list[str]:
    # -n prints the commands without running them; -B pretends every target is stale, so
    # the full chain shows whatever the state of the local .venv.
    out = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def test_ci_runs_make_test_and_nothing_else() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    makes = [c for c in commands if c.startswith("make ")]
    assert makes == ['make test PYTEST_ARGS="-p no:cacheprovider"']


def test_make_test_sets_up_lints_typechecks_then_runs_every_test() -> None:
    steps = _make_dry_run("test")
    joined = "\n".join(steps)
    order = [
        joined.index("pip install -q -c constraints.txt -e '.[test]'"),
        joined.index("scripts/install-system-deps.sh"),
        joined.index("ruff check eventlake tests benchmarks"),
        joined.index("ruff format --check"),
        joined.index("mypy"),
        joined.index("-m pytest"),
    ]
    assert order == sorted(order), steps
    pytest_line = next(s for s in steps if "-m pytest" in s)
    assert not re.search(r"\s-m\s+[\"']?not ", pytest_line), "no marker is deselected"


def test_readme_names_make_test_as_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme and ".ci/run" in readme
