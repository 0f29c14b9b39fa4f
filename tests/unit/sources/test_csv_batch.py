"""The CSV source's fast path (chunked, bisecting batch parse) and how passed files are cut
into lake commits: the batch must agree with the precise path file by file."""

from __future__ import annotations

from pathlib import Path

import eventlake_tests_support as support
import pyarrow as pa
import pytest

from eventlake.sources.csv import batch as csv_batch
from eventlake.sources.csv.batch import convert_batch, convert_chunks
from eventlake.sources.csv.clean import FileRejected, PreparedFile, prepare_file
from eventlake.sources.csv.commit import cut, plan_parts
from eventlake.sources.csv.convert import convert_file
from eventlake.sources.csv.files import move_many
from eventlake.sources.csv.result import CsvFileOutcome, PassedFiles
from eventlake.sources.csv.schema import load_schema

student_csv = support.students().student_csv

SCHEMA = load_schema(Path(__file__).resolve().parents[3] / "examples/students/schema.yaml")


def prep(name: str, text: str) -> PreparedFile:
    return prepare_file(Path(name), text.encode("utf-8"), SCHEMA)


def with_bad_cell(seed: int, row: int, col: int, value: str) -> str:
    lines = student_csv(12, seed=seed).splitlines()
    cells = lines[row].split(";")
    cells[col] = value
    lines[row] = ";".join(cells)
    return "\n".join(lines) + "\n"


def mixed_files(comma: tuple[int, ...] = ()) -> tuple[list[PreparedFile], set[int]]:
    """Ten files, three of them bad; those in ``comma`` use ',' (another header group)."""
    texts = [student_csv(12, seed=s) for s in range(10)]
    texts[3] = with_bad_cell(3, 4, 2, "abc")  # wrong type: the chunk does not parse
    texts[6] = with_bad_cell(6, 2, 0, '"XX"')  # outside the allowed set: a rule breaks
    texts[8] = student_csv(12, seed=8)[:-30]  # truncated last line: wrong field count
    for i in comma:
        texts[i] = texts[i].replace(";", ",")
    return [prep(f"f{i}.csv", t) for i, t in enumerate(texts)], {3, 6, 8}


def rows_by_file(files: list[PreparedFile], result: csv_batch.BatchResult) -> dict[int, pa.Table]:
    """Each passed file's rows, cut from the result's table in ``passed`` order."""
    table, out, offset = result.table, {}, 0
    for i, rows, _ in result.passed:
        out[i] = table.slice(offset, rows)
        offset += rows
    assert offset == table.num_rows
    return out


def test_a_bad_file_is_bisected_out_and_the_others_pass_in_the_batch() -> None:
    files, bad = mixed_files()
    batch = convert_batch(files, SCHEMA)
    assert batch.redo == sorted(bad)
    assert [i for i, _, _ in batch.passed] == sorted(set(range(10)) - bad)  # input order
    for i, rows in rows_by_file(files, batch).items():
        assert rows.equals(convert_file(files[i], SCHEMA).table), files[i].name
    for i in bad:
        with pytest.raises(FileRejected):
            convert_file(files[i], SCHEMA)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_chunks_on_threads_agree_with_the_precise_path(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_batch, "CHUNK_BYTES", 4096)  # several chunks from small files
    files, bad = mixed_files(comma=(1, 6, 9))
    result = convert_chunks(files, SCHEMA, workers=workers)
    assert result.redo == sorted(bad)
    assert sorted(i for i, _, _ in result.passed) == sorted(set(range(10)) - bad)
    for i, rows in rows_by_file(files, result).items():
        assert rows.equals(convert_file(files[i], SCHEMA).table), files[i].name


def test_nothing_to_convert() -> None:
    result = convert_chunks([], SCHEMA, workers=2)
    assert (result.passed, result.redo, result.table.num_rows) == ([], [], 0)


@pytest.mark.parametrize(
    ("rows", "parts", "expected"),
    [
        ([10, 10, 10, 10], 2, [(0, 2), (2, 4)]),
        ([10, 10, 10, 10], 1, [(0, 4)]),
        ([100, 1, 1, 1], 2, [(0, 1), (1, 4)]),
        ([1, 1, 1, 100], 2, [(0, 3), (3, 4)]),
        ([5], 3, [(0, 1)]),
        ([3, 3, 3], 3, [(0, 1), (1, 2), (2, 3)]),
    ],
)
def test_cut_keeps_whole_files_in_order(
    rows: list[int], parts: int, expected: list[tuple[int, int]]
) -> None:
    assert cut(rows, parts) == expected


def test_plan_parts_slices_rows_by_file_and_names_each_commit() -> None:
    files = [prep(f"p{i}.csv", student_csv(5 + i, seed=i)) for i in range(4)]
    batch = convert_batch(files, SCHEMA)
    passed = PassedFiles(tables=list(batch.tables))
    for i, rows, _empty in batch.passed:
        outcome = CsvFileOutcome(files[i].name, "loaded", files[i].sha256, rows=rows)
        passed.files.append((files[i], outcome))
    parts = plan_parts(passed, "students", "students", 2)
    assert len(parts) == 2 and parts[0].commit_id != parts[1].commit_id
    for part in parts:
        names = [f["name"] for f in part.meta["files"]]
        table = part.file.table
        assert sorted(set(table.column("_source_file").to_pylist())) == sorted(names)
        assert table.num_rows == sum(f["rows"] for f in part.meta["files"])
        assert part.file.path.startswith("sources/students/ingest_date=")
    assert {o.commit_id for _, o in passed.files} == {p.commit_id for p in parts}


def test_move_many_renames_and_keeps_both_of_two_same_names(tmp_path: Path) -> None:
    src, dest = tmp_path / "in", tmp_path / "archive"
    src.mkdir()
    dest.mkdir()
    (dest / "a.csv").write_text("old")
    (src / "a.csv").write_text("new")
    (src / "b.csv").write_text("b")
    moved = move_many(
        [(src / "a.csv", "f" * 64), (src / "b.csv", "0" * 64), (src / "gone.csv", "1" * 64)],
        dest,
    )
    assert moved == [dest / "a.ffffffffffff.csv", dest / "b.csv", None]
    assert (dest / "a.csv").read_text() == "old" and (
        dest / "a.ffffffffffff.csv"
    ).read_text() == "new"
    assert not any(src.iterdir())
