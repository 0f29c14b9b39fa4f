"""The CSV drop source on DuckDB and PostgreSQL: the same files, the same warehouse rows and
the same answers to the student example's five questions.

Each project has its own drop folder, lake and warehouse (PostgreSQL: a new database in the
session's throwaway cluster). The answers are checked against pandas reading the CSV texts
(written from the questions' definitions, not from their SQL) and against each other.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import pandas as pd
import pytest
from click.testing import CliRunner

from eventlake.cli import cli
from eventlake.config import load_config
from eventlake.errors import WarehouseError
from eventlake.lake import open_lake
from eventlake.sources.csv import open_csv_source
from eventlake.warehouse import open_warehouse

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
STUDENTS = support.students()
ENGINES = ("duckdb", "postgres")


def make_project(root: Path, warehouse: dict[str, str], **dataset: Any) -> Path:
    """An eventlake project with the students dataset on ``warehouse``; its config file."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / "students" / "schema.yaml", root / "schema.yaml")
    (root / "drop").mkdir(exist_ok=True)
    section = "".join(f"{k} = {json.dumps(v)}\n" for k, v in warehouse.items())
    options = "".join(f"{k} = {json.dumps(v)}\n" for k, v in dataset.items())
    config = root / "eventlake.toml"
    config.write_text(
        f'[lake]\npath = "lake"\n[warehouse]\n{section}'
        "[sources.csv.students]\n"
        'input_dir = "drop"\nschema_file = "schema.yaml"\ntable = "students"\n' + options,
        encoding="utf-8",
    )
    return config


def _warehouse(engine: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if engine == "duckdb":
        return {"path": "warehouse.duckdb"}
    url = support.new_postgres_database(request.getfixturevalue("postgres_url"), "csv")
    return {"backend": "postgres", "url": url}


@pytest.fixture(params=ENGINES)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A students project on each engine in turn; returns its config file."""
    return make_project(tmp_path / request.param, _warehouse(request.param, request))


def query(config: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` through the project's read-only warehouse reader."""
    reader = open_warehouse(load_config(config)).reader()
    try:
        return [tuple(r) for r in reader.execute(sql).rows]
    finally:
        reader.close()


def ingest(config: Path) -> Any:
    return open_csv_source(load_config(config), "students").ingest()


def drop(config: Path, name: str, text: str) -> None:
    (config.parent / "drop" / name).write_text(text, encoding="utf-8")


def _normal(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Numbers as rounded floats, so that both engines' spellings compare."""
    return [
        tuple(round(float(v), 6) if isinstance(v, int | float) and v is not True else v for v in r)
        for r in rows
    ]


def _pandas_answers(texts: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """The five questions answered by pandas from the CSV texts and their definitions."""
    frame = pd.concat([pd.read_csv(io.StringIO(t), sep=";") for t in texts], ignore_index=True)
    frame.columns = [c.lower() for c in frame.columns]

    def top(by: str, col: str, n: int) -> list[tuple[Any, ...]]:
        counts = frame.groupby([by, col]).size().reset_index(name="students")
        counts = counts.sort_values([by, "students", col], ascending=[True, False, True])
        out = counts.groupby(by).head(n)
        return [(r[by], r[col], int(r["students"])) for _, r in out.iterrows()]

    young_males = frame[(frame.sex == "M") & (frame.age < 20)]
    rural = frame[frame.address == "R"].traveltime.value_counts()
    best = min(t for t, c in rural.items() if c == rural.max())
    low = frame[frame.famrel.between(1, 3)].groupby("sex").absences.median()
    answers = {
        "mother_jobs_of_young_males": [(j,) for j in sorted(young_males.mjob.unique())],
        "rural_travel_time_mode": [(best, int(rural.max()))],
        "top_father_jobs_by_pstatus": top("pstatus", "fjob", 3),
        "failures_mode_by_famsize": top("famsize", "failures", 1),
        "median_absences_by_sex_low_famrel": [(s, float(m)) for s, m in low.items()],
    }
    return {name: _normal(rows) for name, rows in answers.items()}


TEXTS = [STUDENTS.student_csv(200, seed=60 + i) for i in range(5)]


def _answers(config: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {name: _normal(query(config, sql)) for name, sql in STUDENTS.student_questions().items()}


def test_the_five_questions_match_pandas(project: Path) -> None:
    for i, text in enumerate(TEXTS):
        drop(project, f"s{i}.csv", text)
    result = ingest(project)
    assert result.count("loaded") == 5 and result.warehouse_commits == result.commit_ids
    assert _answers(project) == _pandas_answers(TEXTS)


def test_the_five_questions_give_the_same_answers_on_duckdb_and_postgres(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    configs = {e: make_project(tmp_path / e, _warehouse(e, request)) for e in ENGINES}
    for config in configs.values():
        for i, text in enumerate(TEXTS):
            drop(config, f"s{i}.csv", text)
        # through the CLI, as a user would (one `ingest`, then a re-run with nothing new)
        res = CliRunner().invoke(
            cli, ["-c", str(config), "sources", "csv", "ingest", "students", "--json"]
        )
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["loaded"] == 5
    duck, pg = (_answers(configs[e]) for e in ENGINES)
    assert all(duck.values()) and pg == duck
    rows = "SELECT * FROM raw.students ORDER BY _source_file, g1, g2, g3, age, absences, medu"
    assert _normal(query(configs["postgres"], rows)) == _normal(query(configs["duckdb"], rows))


def test_files_load_exactly_once_and_types_derive_from_the_schema(project: Path) -> None:
    drop(project, "a.csv", STUDENTS.student_csv(30, seed=1))
    drop(project, "b.csv", STUDENTS.student_csv(20, seed=2).replace(";", ","))
    first = ingest(project)
    assert first.rows == 50 and len(first.warehouse_commits) == 1
    drop(project, "again.csv", STUDENTS.student_csv(30, seed=1))  # same bytes as a.csv
    second = ingest(project)
    assert [o.outcome for o in second.files] == ["duplicate"] and second.warehouse_commits == []
    assert query(
        project, "SELECT _source_file, count(*) FROM raw.students GROUP BY 1 ORDER BY 1"
    ) == [
        ("a.csv", 30),
        ("b.csv", 20),
    ]
    types = dict(
        query(
            project,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = 'students'",
        )
    )
    assert {k: types[k].lower() for k in ("age", "romantic", "school", "_source_file")} in (
        {"age": "bigint", "romantic": "boolean", "school": "varchar", "_source_file": "varchar"},
        {"age": "bigint", "romantic": "boolean", "school": "text", "_source_file": "text"},
    )
    loaded = query(project, "SELECT commit_id, rows FROM raw._source_commits")
    assert loaded == [(first.commit_id, 50)]


def test_postgres_down_then_back_catches_up_on_the_commit_it_missed(
    tmp_path: Path, postgres_url: str
) -> None:
    """The lake commit is the commit point: a warehouse that was down loads it later."""
    import psycopg

    url = support.new_postgres_database(postgres_url, "down")
    missing = url + "_later"  # this database does not exist yet: connections fail
    config = make_project(tmp_path, {"backend": "postgres", "url": missing})
    drop(config, "a.csv", STUDENTS.student_csv(25, seed=7))
    with pytest.raises(WarehouseError, match="PostgreSQL"):
        ingest(config)
    lake = open_lake(str(tmp_path / "lake"))
    assert len(lake.commit_ids("sources.students")) == 1
    assert (tmp_path / "drop" / "a.csv").exists()  # not tidied: the load did not happen

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {missing.rsplit('/', 1)[1]}")
    result = ingest(config)
    assert [o.outcome for o in result.files] == ["duplicate"]
    assert result.warehouse_commits == lake.commit_ids("sources.students")
    assert query(config, "SELECT count(*) FROM raw.students") == [(25,)]
    assert not (tmp_path / "drop" / "a.csv").exists()


def test_view_mode_on_postgres_fails_naming_the_setting_and_loses_nothing(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    warehouse = _warehouse("postgres", request)
    config = make_project(tmp_path, warehouse, load_mode="view")
    drop(config, "a.csv", STUDENTS.student_csv(15, seed=3))
    res = CliRunner().invoke(cli, ["-c", str(config), "sources", "csv", "ingest", "students"])
    assert isinstance(res.exception, WarehouseError)
    assert 'set sources.csv.students.load_mode = "table"' in str(res.exception)
    # the rows are safe in the lake; once the setting is changed they load
    make_project(tmp_path, warehouse, load_mode="table")
    result = ingest(config)
    assert len(result.warehouse_commits) == 1
    assert query(config, "SELECT count(*) FROM raw.students") == [(15,)]
