"""CSV drop source end to end: real files, a real lake and a real DuckDB warehouse."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pandas as pd
import pytest
from click.testing import CliRunner

from eventlake.cli import cli
from eventlake.config import load_config
from eventlake.errors import SourceError
from eventlake.lake import open_lake
from eventlake.sources.csv import CsvSource, open_csv_source

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_SCHEMA = REPO / "examples" / "students" / "schema.yaml"
STUDENTS = support.students()
STUDENT_HEADER, student_csv = STUDENTS.STUDENT_HEADER, STUDENTS.student_csv


def make_project(root: Path, **dataset: Any) -> Path:
    """An eventlake project with the students dataset; returns its config file."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_SCHEMA, root / "schema.yaml")
    (root / "drop").mkdir(exist_ok=True)
    options = "".join(f"{k} = {json.dumps(v)}\n" for k, v in dataset.items())
    config = root / "eventlake.toml"
    config.write_text(
        '[lake]\npath = "lake"\n[warehouse]\npath = "warehouse.duckdb"\n'
        "[sources.csv.students]\n"
        'input_dir = "drop"\nschema_file = "schema.yaml"\ntable = "students"\n' + options,
        encoding="utf-8",
    )
    return config


def source_for(config: Path) -> CsvSource:
    return open_csv_source(load_config(config), "students")


def query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def drop(root: Path, name: str, content: str | bytes) -> Path:
    path = root / "drop" / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def lines(seed: int, rows: int = 30) -> list[str]:
    return student_csv(rows, seed=seed).splitlines()


# -- bad files: each fails with a precise reason, and never blocks good data -----------


def _missing_column() -> str:
    out = [";".join(line.split(";")[:-1]) for line in lines(1)]
    return "\n".join(out) + "\n"


def _extra_column() -> str:
    out = lines(2)
    out = [out[0] + ";hobby"] + [row + ';"chess"' for row in out[1:]]
    return "\n".join(out) + "\n"


def _wrong_type() -> str:
    out = lines(3)
    cells = out[5].split(";")
    cells[2] = "abc"  # age
    out[5] = ";".join(cells)
    return "\n".join(out) + "\n"


def _outside_allowed() -> str:
    out = lines(4)
    cells = out[3].split(";")
    cells[0] = '"XX"'  # school
    out[3] = ";".join(cells)
    return "\n".join(out) + "\n"


def _wrong_delimiter() -> str:
    return student_csv(10, seed=5).replace(";", ":")


def _mixed_delimiter() -> str:
    out = lines(6)
    return "\n".join([out[0]] + [row.replace(";", ",") for row in out[1:]]) + "\n"


def _truncated_last_line() -> str:
    text = student_csv(20, seed=7)
    return text[: len(text) - 40]


def _duplicate_header() -> str:
    out = lines(8)
    return "\n".join([out[0].replace("famsize", "Age")] + out[1:]) + "\n"


def _repeated_header() -> str:
    out = lines(9)
    return "\n".join(out[:10] + [out[0]] + out[10:]) + "\n"


BAD_FILES: dict[str, tuple[Any, dict[str, Any]]] = {
    "missing_column.csv": (_missing_column, {"column": "g3", "expected": "missing"}),
    "extra_column.csv": (_extra_column, {"column": "hobby", "expected": "unknown column"}),
    "wrong_type.csv": (
        _wrong_type,
        {"row": 5, "line": 6, "column": "age", "value": "abc", "expected": "an integer"},
    ),
    "outside_allowed.csv": (
        _outside_allowed,
        {"row": 3, "line": 4, "column": "school", "value": "XX", "expected": "one of GP, MS"},
    ),
    "wrong_delimiter.csv": (_wrong_delimiter, {"line": 1, "expected": "delimited by one of"}),
    "mixed_delimiter.csv": (
        _mixed_delimiter,
        {"line": 2, "expected": "33 fields, found 1 (the row seems delimited by ','"},
    ),
    "empty.csv": (lambda: "", {"expected": "the file is empty"}),
    "header_only.csv": (lambda: ";".join(STUDENT_HEADER) + "\n", {"expected": "header only"}),
    "garbage.csv": (
        lambda: random.Random(0).randbytes(4096),
        {"expected": "binary data"},
    ),
    "truncated.csv": (_truncated_last_line, {"line": 21, "expected": "33 fields, found"}),
    "duplicate_header.csv": (
        _duplicate_header,
        {"column": "age", "line": 1, "expected": "unique column names"},
    ),
    "repeated_header.csv": (_repeated_header, {"line": 11, "expected": "header repeated"}),
}


def test_bad_files_fail_precisely_and_good_files_still_load(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    for name, (make, _) in BAD_FILES.items():
        drop(tmp_path, name, make())
    good = [drop(tmp_path, f"good_{i}.csv", student_csv(50, seed=100 + i)) for i in range(3)]
    result = source_for(config).ingest()

    outcomes = {o.file: o for o in result.files}
    assert {n for n, o in outcomes.items() if o.outcome == "failed"} == set(BAD_FILES)
    assert {n for n, o in outcomes.items() if o.outcome == "loaded"} == {g.name for g in good}
    failed_dir = tmp_path / "drop" / "failed"
    for name, (_, expect) in BAD_FILES.items():
        assert (failed_dir / name).exists(), name
        report = json.loads((failed_dir / f"{name}.error.json").read_text("utf-8"))
        assert report["problem_count"] >= 1 and report["file"] == name
        first = report["problems"][0]
        for key, value in expect.items():
            if key == "expected":
                assert value in first["expected"], (name, first)
            else:
                assert first[key] == value, (name, key, first)
    # All or nothing: only the good files' rows are in the warehouse.
    assert query(tmp_path, "SELECT count(*) FROM raw.students") == [(150,)]
    assert query(tmp_path, "SELECT DISTINCT _source_file FROM raw.students ORDER BY 1") == [
        ("good_0.csv",),
        ("good_1.csv",),
        ("good_2.csv",),
    ]
    assert not any((tmp_path / "drop").glob("*.csv"))  # everything was moved somewhere


def test_loaded_files_land_in_the_lake_and_warehouse_with_derived_types(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    drop(tmp_path, "a.csv", student_csv(40, seed=1))
    drop(tmp_path, "b.csv", student_csv(25, seed=2).replace(";", ","))
    result = source_for(config).ingest()
    assert result.count("loaded") == 2 and result.rows == 65

    lake = open_lake(str(tmp_path / "lake"))
    [record] = list(lake.commits("sources.students"))
    assert record.commit_id == result.commit_id
    assert {f["name"] for f in record.meta["files"]} == {"a.csv", "b.csv"}
    [lake_file] = record.files
    assert lake_file.path.startswith("sources/students/ingest_date=")
    frame = pd.read_parquet(lake.local_path(lake_file.path))
    assert len(frame) == 65 and "medu" in frame.columns

    types = dict(
        query(
            tmp_path,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = 'students'",
        )
    )
    assert types["age"] == "BIGINT" and types["romantic"] == "BOOLEAN"
    assert types["school"] == "VARCHAR" and types["_source_file"] == "VARCHAR"
    archived = sorted(p.name for p in (tmp_path / "drop" / "archive").iterdir())
    assert archived == ["a.csv", "b.csv"]

    log = [json.loads(line) for line in (tmp_path / "drop" / "ingest.log").read_text().splitlines()]
    assert {(e["file"], e["outcome"], e["rows"]) for e in log} == {
        ("a.csv", "loaded", 40),
        ("b.csv", "loaded", 25),
    }
    assert all(e["commit_id"] == result.commit_id and "seconds" in e for e in log)


def test_same_content_loads_once_whatever_its_name(tmp_path: Path) -> None:
    config = make_project(tmp_path, on_success="delete")
    text = student_csv(30, seed=11)
    drop(tmp_path, "first.csv", text)
    drop(tmp_path, "first_copy.csv", text)
    first = source_for(config).ingest()
    assert sorted(o.outcome for o in first.files) == ["duplicate", "loaded"]
    drop(tmp_path, "again.csv", text)
    second = source_for(config).ingest()  # a new process would see the same: state is durable
    assert [o.outcome for o in second.files] == ["duplicate"]
    assert second.commit_id is None
    assert query(tmp_path, "SELECT count(*) FROM raw.students") == [(30,)]
    assert not any((tmp_path / "drop").glob("*.csv"))  # on_success = delete


def test_a_copy_of_a_failing_file_fails_too(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    drop(tmp_path, "bad.csv", _wrong_type())
    drop(tmp_path, "bad_copy.csv", _wrong_type())
    result = source_for(config).ingest()
    assert [o.outcome for o in result.files] == ["failed", "failed"]
    copy = next(o for o in result.files if o.file == "bad_copy.csv")
    assert copy.error is not None and "same bytes as bad.csv" in copy.error
    assert (tmp_path / "drop" / "failed" / "bad_copy.csv.error.json").exists()


def test_empty_rows_bom_crlf_and_padded_values(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    rows = lines(21, 10)
    empty = ";" * 32
    drop(tmp_path, "blank_lines.csv", "\n".join(rows[:4] + ["", empty, "  "] + rows[4:]) + "\n")
    drop(tmp_path, "bom.csv", b"\xef\xbb\xbf" + student_csv(10, seed=22).encode())
    drop(tmp_path, "crlf.csv", student_csv(10, seed=24).replace("\n", "\r\n"))
    drop(tmp_path, "spaced.csv", student_csv(10, seed=25).replace(";", " ; "))
    result = source_for(config).ingest()
    outcomes = {o.file: o for o in result.files}
    assert all(o.outcome == "loaded" for o in outcomes.values()), outcomes
    assert outcomes["blank_lines.csv"].rows == 10 and outcomes["blank_lines.csv"].empty_rows == 3
    assert outcomes["bom.csv"].encoding == "utf-8-sig"
    assert query(tmp_path, "SELECT count(*) FROM raw.students") == [(40,)]
    assert query(tmp_path, "SELECT count(*) FROM raw.students WHERE school NOT IN ('GP','MS')") == [
        (0,)
    ]


def test_latin1_file_is_read_with_a_reported_fallback(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    schema = EXAMPLE_SCHEMA.read_text("utf-8").replace(
        "columns:\n", "columns:\n  note:       {type: string, required: false}\n"
    )
    (tmp_path / "schema.yaml").write_text(schema, "utf-8")
    out = lines(31, 5)
    out = [out[0] + ";note"] + [row + ';"élève"' for row in out[1:]]
    drop(tmp_path, "latin.csv", ("\n".join(out) + "\n").encode("latin-1"))
    [outcome] = source_for(config).ingest().files
    assert outcome.outcome == "loaded" and outcome.encoding == "latin-1"
    assert "Latin-1" in outcome.notes[0]
    assert query(tmp_path, "SELECT DISTINCT note FROM raw.students") == [("élève",)]


def test_warehouse_catches_up_on_commits_it_missed(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    drop(tmp_path, "a.csv", student_csv(20, seed=41))
    source_for(config).ingest()
    # Lose the warehouse (as if a crash hit between the lake commit and the publish).
    os.remove(tmp_path / "warehouse.duckdb")
    drop(tmp_path, "b.csv", student_csv(15, seed=42))
    result = source_for(config).ingest()
    assert len(result.warehouse_commits) == 2
    assert query(tmp_path, "SELECT count(*) FROM raw.students") == [(35,)]


def test_view_load_mode_reads_the_lake(tmp_path: Path) -> None:
    config = make_project(tmp_path, load_mode="view")
    drop(tmp_path, "a.csv", student_csv(20, seed=51))
    source_for(config).ingest()
    drop(tmp_path, "b.csv", student_csv(20, seed=52))
    source_for(config).ingest()
    assert query(tmp_path, "SELECT count(*), count(DISTINCT _source_file) FROM raw.students") == [
        (40, 2)
    ]
    assert query(
        tmp_path, "SELECT table_type FROM information_schema.tables WHERE table_name = 'students'"
    ) == [("VIEW",)]


def test_questions_sql_file_matches_the_module() -> None:
    text = (REPO / "examples" / "students" / "questions.sql").read_text("utf-8")
    for name, sql in STUDENTS.student_questions().items():
        assert f"-- name: {name}\n" in text
        assert sql + ";" in " ".join(text.split()), name


def test_cli_ingest_json_summary_and_unknown_dataset(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    drop(tmp_path, "a.csv", student_csv(12, seed=71))
    drop(tmp_path, "bad.csv", "")
    runner = CliRunner()
    res = runner.invoke(cli, ["-c", str(config), "sources", "csv", "ingest", "students", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert (summary["loaded"], summary["failed"], summary["rows"]) == (1, 1, 12)
    drop(tmp_path, "bad2.csv", "")
    res = runner.invoke(
        cli, ["-c", str(config), "sources", "csv", "ingest", "students", "--strict"]
    )
    assert res.exit_code == 2 and "FAILED     bad2.csv" in res.output
    res = runner.invoke(cli, ["-c", str(config), "sources", "csv", "ingest", "nope"])
    assert isinstance(res.exception, SourceError) and "unknown CSV dataset 'nope'" in str(
        res.exception
    )


def test_cli_counts_a_blank_and_a_whitespace_only_line_as_two_empty_rows(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    rows = lines(73, 6)
    drop(tmp_path, "gaps.csv", "\n".join(rows[:3] + ["", "   "] + rows[3:]) + "\n")
    res = CliRunner().invoke(cli, ["-c", str(config), "sources", "csv", "ingest", "students"])
    assert res.exit_code == 0, res.output
    assert "loaded     gaps.csv: 6 rows, 2 empty dropped" in res.output
    assert query(tmp_path, "SELECT count(*) FROM raw.students") == [(6,)]


def test_an_unreadable_input_is_reported_and_does_not_block_others(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    good = drop(tmp_path, "good.csv", student_csv(10, seed=81))
    odd = tmp_path / "drop" / "folder.csv"
    odd.mkdir()  # reading it fails like an unreadable file would
    result = source_for(config).ingest([odd, good])
    outcomes = {o.file: o for o in result.files}
    assert outcomes["good.csv"].outcome == "loaded"
    assert outcomes["folder.csv"].outcome == "failed" and outcomes["folder.csv"].error
    assert odd.is_dir()  # left in place to be retried


def test_a_column_added_to_the_schema_is_added_to_the_table(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    drop(tmp_path, "before.csv", student_csv(5, seed=91))
    source_for(config).ingest()
    schema = EXAMPLE_SCHEMA.read_text("utf-8").replace(
        "columns:\n", "columns:\n  note:       {type: string, required: false}\n"
    )
    (tmp_path / "schema.yaml").write_text(schema, "utf-8")
    out = lines(92, 5)
    out = [out[0] + ";note"] + [row + ';"hi"' for row in out[1:]]
    drop(tmp_path, "after.csv", "\n".join(out) + "\n")
    [outcome] = source_for(config).ingest().files
    assert outcome.outcome == "loaded"
    assert query(tmp_path, "SELECT note, count(*) FROM raw.students GROUP BY 1 ORDER BY 1") == [
        ("hi", 5),
        (None, 5),
    ]


@pytest.mark.parametrize("load_mode", ["table", "view"])
def test_a_large_ingest_is_cut_into_parallel_commits(
    tmp_path: Path, load_mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventlake.sources.csv import commit as csv_commit

    monkeypatch.setattr(csv_commit, "PART_ROWS", 30)  # 4 files x 20 rows: 2 parts
    config = make_project(tmp_path, load_mode=load_mode, workers=2)
    texts = [student_csv(20, seed=300 + i) for i in range(4)]
    for i, text in enumerate(texts):
        drop(tmp_path, f"big_{i}.csv", text)
    result = source_for(config).ingest()
    assert result.count("loaded") == 4 and len(result.commit_ids) == 2
    assert result.commit_id == result.commit_ids[0]
    assert sorted(result.warehouse_commits) == sorted(result.commit_ids)

    lake = open_lake(str(tmp_path / "lake"))
    records = {r.commit_id: r for r in lake.commits("sources.students")}
    assert set(records) == set(result.commit_ids)
    log = [json.loads(line) for line in (tmp_path / "drop" / "ingest.log").read_text().splitlines()]
    for entry in log:  # each file names the commit that holds its rows
        names = {f["name"] for f in records[entry["commit_id"]].meta["files"]}
        assert entry["file"] in names
    assert query(tmp_path, "SELECT count(*), count(DISTINCT _source_file) FROM raw.students") == [
        (80, 4)
    ]
    drop(tmp_path, "again.csv", texts[2])  # its hash is in the second commit
    drop(tmp_path, "big_0.csv", texts[0])  # same name and bytes as an archived input
    again = {o.file: o for o in source_for(config).ingest().files}
    assert {o.outcome for o in again.values()} == {"duplicate"}
    archive = tmp_path / "drop" / "archive"
    assert again["again.csv"].moved_to == str(archive / "again.csv")
    renamed = Path(again["big_0.csv"].moved_to or "")
    assert renamed.parent == archive and renamed.name.startswith("big_0.")
    assert renamed.read_text("utf-8") == (archive / "big_0.csv").read_text("utf-8") == texts[0]
    assert query(tmp_path, "SELECT count(*) FROM raw.students") == [(80,)]
