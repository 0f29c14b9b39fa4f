"""Per-file cleaning and validation of the CSV drop source, without lake or warehouse."""

from __future__ import annotations

import random
from pathlib import Path

import eventlake_tests_support as support
import pytest

from eventlake.sources.csv.batch import convert_batch
from eventlake.sources.csv.clean import FileRejected, prepare_file
from eventlake.sources.csv.convert import convert_file
from eventlake.sources.csv.schema import CsvSchema, parse_schema

student_csv = support.students().student_csv

SMALL = parse_schema(
    {
        "columns": {
            "name": {"type": "string", "max_length": 12},
            "kind": {"type": "string", "allowed": ["a", "b"]},
            "n": {"type": "integer", "min": 0},
            "x": {"type": "number", "required": False},
            "ok": "boolean",
            "day": {"type": "date", "required": False},
            "at": {"type": "timestamp", "required": False},
        }
    }
)
HEADER = "Name;Kind;N;X;OK;Day;At"


def prep(text: str | bytes, schema: CsvSchema = SMALL, **kw: object):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return prepare_file(Path("f.csv"), data, schema, **kw)  # type: ignore[arg-type]


def rejected(text: str | bytes, schema: CsvSchema = SMALL) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        convert_file(prep(text, schema), schema)
    return info.value


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_supported_delimiter_is_detected(delimiter: str) -> None:
    text = (HEADER + "\nann;a;1;2.5;yes;2024-01-02;2024-01-02T03:04:05Z\n").replace(";", delimiter)
    pf = prep(text)
    assert pf.delimiter == delimiter
    table = convert_file(pf, SMALL).table
    assert table.to_pylist()[0]["n"] == 1 and table.to_pylist()[0]["ok"] is True


def test_utf8_bom_is_stripped_and_reported() -> None:
    pf = prep(b"\xef\xbb\xbf" + (HEADER + "\nann;a;1;;no;;\n").encode())
    assert pf.encoding == "utf-8-sig" and pf.header[0] == "name"


def test_latin1_falls_back_with_a_note() -> None:
    pf = prep((HEADER + "\nJosé;a;1;;no;;\n").encode("latin-1"))
    assert pf.encoding == "latin-1" and "Latin-1" in pf.notes[0]
    assert convert_file(pf, SMALL).table.column("name").to_pylist() == ["José"]


def test_values_trimmed_and_empty_rows_dropped_and_counted() -> None:
    text = HEADER + "\n  ann ; b ; 7 ;;yes;;\n\n;;;;;;\n   \nbob;a;8;1e3;FALSE;;\n"
    result = convert_file(prep(text), SMALL)
    assert result.table.column("name").to_pylist() == ["ann", "bob"]
    assert result.table.column("kind").to_pylist() == ["b", "a"]
    assert result.table.column("x").to_pylist() == [None, 1000.0]
    assert result.empty_rows == 3  # the blank line, ';;;;;;' and the whitespace-only line


@pytest.mark.parametrize(
    ("body", "empty"),
    [
        ("\n   \n", 2),  # issue 17: a blank line then a whitespace-only one was "1 empty"
        ("   \n\n", 2),
        ("\n\n\n", 3),
        ("\r\n \t \r\n", 2),
        ('\n"x\n\ny";a;1;;no;;\n', 1),  # blank lines inside a quoted value are data
    ],
    ids=["blank-then-spaces", "spaces-then-blank", "three-blank", "crlf", "quoted"],
)
def test_every_empty_line_is_counted(body: str, empty: int) -> None:
    text = HEADER + "\nann;a;1;;yes;;\n" + body + "bob;b;2;;no;;\n"
    result = convert_file(prep(text), SMALL)
    assert result.table.num_rows == (3 if '"' in body else 2)
    assert result.empty_rows == empty


def test_type_problems_name_row_line_column_value_and_expected() -> None:
    text = HEADER + "\nann;a;1;;yes;;\n\nbob;c;x1;;maybe;2024-13-01;later\n"
    exc = rejected(text)
    found = {(p.column, p.value): p for p in exc.problems}
    assert found[("kind", "c")].line == 4 and "one of a, b" in found[("kind", "c")].expected
    assert found[("n", "x1")].row == 2 and "integer" in found[("n", "x1")].expected
    assert ("ok", "maybe") in found and ("day", "2024-13-01") in found and ("at", "later") in found
    assert exc.total == 5


def test_rules_min_max_length_required() -> None:
    text = HEADER + "\nabcdefghijklmnop;a;-1;;;;\n"
    exc = rejected(text)
    cols = {p.column: p for p in exc.problems}
    assert "at most 12 characters" in cols["name"].expected
    assert ">= 0" in cols["n"].expected
    assert cols["ok"].expected == "a value (required)"


def test_problems_are_capped_at_100_with_the_total() -> None:
    rows = "\n".join("ann;z;1;;yes;;" for _ in range(150))
    exc = rejected(HEADER + "\n" + rows + "\n")
    assert len(exc.problems) == 100 and exc.total == 150


def test_batch_path_matches_the_precise_path() -> None:
    texts = [student_csv(40, seed=s) for s in range(4)]
    from eventlake.sources.csv.schema import load_schema

    schema = load_schema(Path(__file__).resolve().parents[3] / "examples/students/schema.yaml")
    files = [prep(t, schema) for t in texts]
    batch = convert_batch(files, schema)
    assert batch.redo == [] and [p[0] for p in batch.passed] == [0, 1, 2, 3]
    precise = [convert_file(f, schema).table for f in files]
    import pyarrow as pa

    assert batch.table.equals(pa.concat_tables(precise))


def test_batch_sends_bad_and_blank_line_files_to_the_precise_path() -> None:
    rng = random.Random(1)
    good = [f"{HEADER}\nann;a;{rng.randint(0, 9)};;yes;;\n" for _ in range(3)]
    blank = f"{HEADER}\nann;a;1;;yes;;\n\nbob;b;2;;no;;\n"
    bad_rule = f"{HEADER}\nann;z;1;;yes;;\n"
    files = [prep(t) for t in [good[0], blank, good[1], bad_rule, good[2]]]
    batch = convert_batch(files, SMALL)
    assert sorted(batch.redo) == [1, 3]
    assert [p[0] for p in batch.passed] == [0, 2, 4] and batch.table.num_rows == 3


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (b"", "the file is empty"),
        (b"   \n\n", "the file is empty"),
        (HEADER.encode() + b"\n", "header only"),
        (b"\x00\x01binary\x00", "NUL bytes"),
        (b"Name:Kind:N\nann:a:1\n", "a header delimited by one of"),
        (b"\xff\xfeN\x00", "not UTF-16"),
    ],
)
def test_whole_file_problems(text: bytes, needle: str) -> None:
    with pytest.raises(FileRejected) as info:
        prep(text)
    assert needle in info.value.problems[0].expected


def test_header_problems_missing_extra_duplicate() -> None:
    with pytest.raises(FileRejected) as info:
        prep("Name;Kind;N;X;OK;Day;Hobby;name\nann;a;1;;yes;;x;y\n")
    problems = {(p.column, p.expected.split(" (")[0]) for p in info.value.problems}
    assert ("at", "this column in the header") in problems
    assert ("hobby", "no column outside the schema") in problems
    assert ("name", "unique column names") in problems


def test_extra_columns_can_be_ignored() -> None:
    pf = prep(HEADER + ";Hobby\nann;a;1;;yes;;;chess\n", extra_columns="ignore")
    assert convert_file(pf, SMALL).table.column_names == list(SMALL.names)


def test_configured_delimiter_mismatch_is_reported() -> None:
    with pytest.raises(FileRejected) as info:
        prep(HEADER.replace(";", ",") + "\n", delimiter=";")
    assert "configured delimiter ';'" in info.value.problems[0].expected


def test_truncated_last_line_and_repeated_header_row() -> None:
    text = HEADER + "\nann;a;1;;yes;;\n" + HEADER + "\nbob;b;2;;no;;\ncat;a"
    exc = rejected(text)
    by_line = {p.line: p for p in exc.problems}
    assert "header repeated" in by_line[3].expected
    assert by_line[5].expected.startswith("7 fields, found 2") and by_line[5].value == "cat;a"


def test_quoted_line_breaks_are_values_on_the_precise_path() -> None:
    text = HEADER + '\n"two\nlines";a;1;;yes;;\nbob;b;2;;no;;\n'
    files = [prep(text), prep(HEADER + "\nann;a;1;;yes;;\n")]
    batch = convert_batch(files, SMALL)
    # Rows no longer map to lines: the batch is bisected until the odd file stands alone.
    assert batch.redo == [0] and [p[0] for p in batch.passed] == [1]
    table = convert_file(files[0], SMALL).table
    assert table.column("name").to_pylist() == ["two\nlines", "bob"]


def test_a_file_of_only_empty_rows_fails() -> None:
    files = [prep(HEADER + "\n;;;;;;\n"), prep(HEADER + "\nann;a;1;;yes;;\n")]
    batch = convert_batch(files, SMALL)
    assert batch.redo == [0] and [p[0] for p in batch.passed] == [1]
    assert "all rows are empty" in rejected(HEADER + "\n;;;;;;\n").problems[0].expected
