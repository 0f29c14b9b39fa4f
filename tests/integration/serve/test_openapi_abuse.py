"""Property-based HTTP testing of serve against its own OpenAPI document (schemathesis).

The server runs under uvicorn on a real 127.0.0.1 socket over the sample warehouse, with a
token and the query endpoint on, so every route of the document is reachable. Schemathesis
reads ``/openapi.json`` and runs its phases on every operation: the document's examples,
coverage (boundary and just-invalid values of each parameter), fuzzing (valid and invalid
requests) and stateful sequences. Its checks: no 5xx, every status code and content type
is documented, every JSON body and header matches its schema, invalid input and missing
credentials are refused with a 4xx.

One check is left out: ``positive_data_acceptance`` (every schema-valid request gets a
2xx). Some refusals are rules the schema language cannot state: ``start`` after ``end``,
``sort`` on a column that ``group_by`` leaves out, SQL that is not a read-only statement.
Those are 400s naming the parameter, and the other checks hold them to the document.

Bounded for CI: a fixed seed (the same requests every run) and a fixed number of examples
per operation; about 20 s on the 2-core dev machine. The schemathesis CLI runs in a
subprocess (its pytest plugin's lazy fixture loader does not support pytest 9).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

serving = sys.modules["eventlake_tests_serving"]
pytestmark = pytest.mark.integration

# One secret for both: the CLI sends one Authorization header to every operation, and the
# query endpoint's own token is tested in test_auth_and_query.py.
TOKEN = "abuse-token"
EXAMPLES = 50
SEED = 20261204


@pytest.fixture(scope="module")
def abuse_url(sample_project: Path) -> Iterator[str]:
    settings = serving.make_settings(
        sample_project, token=TOKEN, query_enabled=True, query_token=TOKEN
    )
    with serving.serving(settings) as url:
        yield url


def test_serve_answers_as_its_openapi_document_says(abuse_url: str, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{abuse_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--no-color",
    ]
    # cwd: schemathesis keeps its own files (.schemathesis/, reports) in the working folder.
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    report = out.stdout[-20_000:] + out.stderr[-5_000:]
    assert out.returncode == 0, report
    selected = re.search(r"Selected: (\d+)/(\d+)", out.stdout)
    tested = re.search(r"Tested: (\d+)", out.stdout)
    assert selected and tested, report
    # every operation of the document (9 metrics + 7 routes on the sample) was exercised
    assert int(tested.group(1)) == int(selected.group(1)) == int(selected.group(2)) >= 16
    for phase in ("Coverage", "Fuzzing"):
        assert f"✅ {phase}" in out.stdout, report
