"""A project with only a CSV source, as a user runs it: `eventlake sources csv ingest`,
`eventlake run`, `eventlake serve`. Its own metric models (examples/students: the five
questions) are built by the run and served like the built-in ones, with no event models and
no event dashboard; each answer is checked against the question's own SQL over the raw
table (examples/students/questions.sql), not the model SQL.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import httpx
import pytest

pytestmark = pytest.mark.integration

STUDENTS = Path(__file__).resolve().parents[3] / "examples" / "students"
data = support.students()
METRICS = {
    "absences_by_sex_low_famrel",
    "failures_by_famsize",
    "father_jobs_by_pstatus",
    "mother_jobs_of_young_males",
    "rural_travel_time",
}


@pytest.fixture(scope="module")
def students(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    project = tmp_path_factory.mktemp("students")
    for name in ("eventlake.toml", "schema.yaml", "models", "dashboards"):
        src = STUDENTS / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    drop = project / "drop" / "students"
    drop.mkdir(parents=True)
    (drop / "a.csv").write_text(data.student_csv(300, seed=3))
    (drop / "b.csv").write_text(data.student_csv(200, seed=4))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    support.run_cli(project, env, "sources", "csv", "ingest", "students")
    out = support.run_cli(project, env, "run")
    assert "new from sources: students" in out and "built 5 models" in out, out
    again = support.run_cli(project, env, "run")
    assert "nothing new to build" in again, again
    with support.serve_process(project, env) as url:
        yield url, project


def _sql(project: Path, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    with duckdb.connect(str(project / "data" / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _rows(url: str, metric: str, query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/metrics/{metric}.json?{query}")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def test_the_project_serves_its_own_metrics_and_dashboard_only(
    students: tuple[str, Path],
) -> None:
    url, _ = students
    listed = httpx.get(f"{url}/api/metrics").json()["metrics"]
    assert {m["name"] for m in listed} == METRICS
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert all(any(f"/api/metrics/{m}" in p for p in paths) for m in METRICS)
    dashboards = httpx.get(f"{url}/api/dashboards").json()["dashboards"]
    assert [(d["slug"], d["error"]) for d in dashboards] == [("students", None)]
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "Students" in page.text
    csv = httpx.get(f"{url}/api/metrics/rural_travel_time.csv?group_by=traveltime")
    assert csv.status_code == 200 and csv.text.startswith("traveltime,students")


def test_each_question_is_answered_as_its_sql_answers_it(students: tuple[str, Path]) -> None:
    url, project = students
    q = data.student_questions("raw.students")
    # 1. the mother's jobs of male students under 20
    jobs = _rows(url, "mother_jobs_of_young_males", "group_by=mjob")
    assert sorted(r["mjob"] for r in jobs if r["students"] > 0) == [
        r[0] for r in _sql(project, q["mother_jobs_of_young_males"])
    ]
    # 2. the most frequent travel time of rural students (ties: the shorter)
    top = _rows(url, "rural_travel_time", "group_by=traveltime&sort=-students&sort=traveltime")
    assert (top[0]["traveltime"], top[0]["students"]) == tuple(
        _sql(project, q["rural_travel_time_mode"])[0]
    )
    # 3. the three most frequent father's jobs per cohabitation status (ties: by job)
    counts = _rows(url, "father_jobs_by_pstatus", "group_by=pstatus&group_by=fjob")
    expected3 = [tuple(r) for r in _sql(project, q["top_father_jobs_by_pstatus"])]
    got3 = []
    for status in sorted({r["pstatus"] for r in counts}):
        ranked = sorted(
            (r for r in counts if r["pstatus"] == status), key=lambda r: (-r["students"], r["fjob"])
        )
        got3 += [(status, r["fjob"], r["students"]) for r in ranked[:3]]
    assert got3 == expected3
    # 4. the most frequent number of failures per family size (ties: the fewer)
    fails = _rows(url, "failures_by_famsize", "group_by=famsize&group_by=failures")
    got4 = []
    for size in sorted({r["famsize"] for r in fails}):
        best = min(
            (r for r in fails if r["famsize"] == size),
            key=lambda r: (-r["students"], r["failures"]),
        )
        got4.append((size, best["failures"], best["students"]))
    assert got4 == [tuple(r) for r in _sql(project, q["failures_mode_by_famsize"])]
    # 5. the median absences by sex among students whose family relationship is 1 to 3
    medians = _rows(url, "absences_by_sex_low_famrel", "")
    assert [(r["sex"], float(r["median_absences"])) for r in medians] == [
        (sex, float(m)) for sex, m in _sql(project, q["median_absences_by_sex_low_famrel"])
    ]


def test_a_school_filter_is_applied_by_the_api(students: tuple[str, Path]) -> None:
    url, project = students
    rows = _rows(url, "rural_travel_time", "school=MS&group_by=traveltime")
    expected = _sql(
        project,
        "SELECT traveltime, count(*) FROM raw.students WHERE address = 'R' AND school = 'MS' "
        "GROUP BY 1 ORDER BY 1",
    )
    assert [(r["traveltime"], r["students"]) for r in rows] == expected
    # the median's metric has no school: aggregating it across schools is not its business
    refused = httpx.get(f"{url}/api/metrics/absences_by_sex_low_famrel.json?total=true")
    assert refused.status_code == 400 and refused.json()["parameter"] == "group_by"
