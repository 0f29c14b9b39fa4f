"""A project's own models in a project that also tracks events: built by the same runs as
ours, after the CSV source they read; a source's new commits alone rebuild only the models
downstream of it; a failing test of theirs publishes nothing and the commits stay pending.

Real dbt builds on DuckDB (the event models too), a real CSV source (examples/students'
schema and sample generator).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pytest

from eventlake import pipeline
from eventlake.config import Settings, load_config
from eventlake.errors import ModelBuildError
from eventlake.lake import open_lake
from eventlake.project import tracks_events
from eventlake.sources import open_csv_source

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STUDENTS = Path(__file__).resolve().parents[3] / "examples" / "students"
data = support.students()

MODEL = """
select school, count(*) as students, sum(absences) as absences
from {{ source('students', 'students') }}
group by school
"""
PROPERTIES = """
version: 2
sources:
  - name: students
    schema: raw
    tables: [{name: students}]
models:
  - name: students_by_school
    config:
      meta:
        eventlake:
          dimensions: [school]
          measures: [{name: students, agg: sum}, {name: absences, agg: sum}]
    columns:
      - name: absences
        data_tests: [not_null]
"""


def _project(root: Path) -> Settings:
    shutil.copy(STUDENTS / "schema.yaml", root / "schema.yaml")
    (root / "drop").mkdir()
    (root / "models" / "metrics").mkdir(parents=True)
    (root / "models" / "metrics" / "students_by_school.sql").write_text(MODEL)
    (root / "models" / "metrics" / "students.yml").write_text(PROPERTIES)
    (root / "eventlake.toml").write_text(
        '[lake]\npath = "lake"\n[warehouse]\npath = "wh.duckdb"\n'
        '[sources.csv.students]\ninput_dir = "drop"\nschema_file = "schema.yaml"\n'
        'table = "students"\n[collect]\nwrite_keys = { "k" = "game" }\n'
    )
    return load_config(root / "eventlake.toml")


def _ingest(settings: Settings, name: str, text: str) -> None:
    (settings.resolve("drop") / name).write_text(text)
    result = open_csv_source(settings, "students").ingest()
    assert result.to_dict()["failed"] == 0


def _read(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.resolve("wh.duckdb")), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_own_models_build_after_their_source_and_alone_when_only_it_changed(
    tmp_path: Path,
) -> None:
    settings = _project(tmp_path)
    assert tracks_events(settings)  # a collector key: the event models are built too
    lakedata = support.lakedata()
    lakedata.LakeWriter(open_lake(settings.lake_uri())).commit(
        lakedata.game_events(dt.date(2026, 3, 2), 5)
    )
    _ingest(settings, "a.csv", data.student_csv(50, seed=1))

    first = pipeline.run(settings, land=False)
    assert first.sources_changed == ("sources.students",)
    assert first.models_built > 20  # ours and theirs, everything: the first build
    assert sum(n for _, n, _ in _read(settings, "SELECT * FROM metrics.students_by_school")) == 50
    assert _read(settings, "SELECT count(*) FROM metrics.daily_active_users")[0][0] > 0

    # nothing new: nothing built
    assert pipeline.run(settings, land=False).skipped_build

    # the source alone: only the model that reads it (and its test)
    _ingest(settings, "b.csv", data.student_csv(30, seed=2))
    second = pipeline.run(settings, land=False)
    assert second.sources_changed == ("sources.students",) and not second.changed_days
    assert (second.models_built, second.tests_passed) == (1, 1)
    assert sum(n for _, n, _ in _read(settings, "SELECT * FROM metrics.students_by_school")) == 80
    assert pipeline.run(settings, land=False).skipped_build

    # a failing test of theirs: nothing published, the commits stay pending
    (tmp_path / "models" / "metrics" / "students.yml").write_text(
        PROPERTIES.replace("[not_null]", "[{accepted_values: {arguments: {values: [0]}}}]")
    )
    _ingest(settings, "c.csv", data.student_csv(20, seed=3))
    with pytest.raises(ModelBuildError, match="students_by_school"):
        pipeline.run(settings, land=False)
    assert sum(n for _, n, _ in _read(settings, "SELECT * FROM metrics.students_by_school")) == 80
    (tmp_path / "models" / "metrics" / "students.yml").write_text(PROPERTIES)
    fixed = pipeline.run(settings, land=False)
    assert fixed.sources_changed == ("sources.students",) and fixed.models_built == 1
    assert sum(n for _, n, _ in _read(settings, "SELECT * FROM metrics.students_by_school")) == 100
