"""The CSV schema file: parsing, checks, name normalisation and derived types."""

from __future__ import annotations

from pathlib import Path

import eventlake_tests_support as support
import pyarrow as pa
import pytest

from eventlake.errors import ConfigError
from eventlake.sources.csv.commit import table_columns
from eventlake.sources.csv.schema import load_schema, normalize_name, parse_schema

STUDENT_COLUMNS = support.students().STUDENT_COLUMNS

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "students" / "schema.yaml"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Medu", "medu"),
        ("Pstatus", "pstatus"),
        ("  G1 ", "g1"),
        ("Mother Job", "mother_job"),
        ("userId", "user_id"),
        ("\ufeffschool", "school"),
        ('"Dalc"', "dalc"),
        ("fam-size (n)", "fam_size_n"),
    ],
)
def test_header_names_are_trimmed_snake_cased_and_lower_cased(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_example_student_schema_has_the_33_uci_columns_in_order() -> None:
    schema = load_schema(EXAMPLE)
    assert schema.names == STUDENT_COLUMNS
    assert schema.column("age").type == "integer"
    assert schema.column("school").allowed == ("GP", "MS")
    assert schema.column("romantic").type == "boolean"


def test_arrow_types_and_the_warehouse_columns_derive_from_the_schema() -> None:
    schema = parse_schema(
        {
            "columns": {
                "name": {"type": "string", "max_length": 10},
                "n": "integer",
                "x": {"type": "number", "required": False},
                "ok": "boolean",
                "day": "date",
                "at": "timestamp",
            }
        }
    )
    arrow = schema.arrow_schema()
    assert [(f.name, f.type) for f in arrow] == [
        ("name", pa.string()),
        ("n", pa.int64()),
        ("x", pa.float64()),
        ("ok", pa.bool_()),
        ("day", pa.date32()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
    # the warehouse table: the schema's columns, then the lineage column
    assert table_columns(schema).names == [*schema.names, "_source_file"]
    assert arrow.field("at").type == pa.timestamp("us", tz="UTC")
    assert arrow.field("x").nullable and not arrow.field("n").nullable


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"cols": {}}, "top-level 'columns:'"),
        ({"columns": {"a": {"type": "int"}}}, "type 'int' is not one of"),
        ({"columns": {"a": {"type": "string", "maxlen": 3}}}, "unknown key(s) maxlen"),
        ({"columns": {"a": {"type": "string", "allowed": []}}}, "non-empty list"),
        ({"columns": {"a": {"allowed": [True, False]}}}, "quote yes/no"),
        ({"columns": {"A": "string", "a": "integer"}}, "duplicate"),
        ({"columns": {"a": {"type": "integer", "min": "low"}}}, "expected a number"),
    ],
)
def test_invalid_schema_names_the_problem(doc: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_schema(doc, "test.yaml")


def test_missing_or_broken_schema_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read schema file"):
        load_schema(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_schema(bad)


def test_boolean_spellings_cover_every_case() -> None:
    schema = parse_schema({"columns": {"a": "boolean"}, "true_values": ["yes"]})
    trues, _ = schema.bool_words()
    assert {"yes", "YES", "Yes"} <= set(trues)


def test_example_project_config_declares_the_students_dataset() -> None:
    from eventlake.config import load_config

    settings = load_config(EXAMPLE.parent / "eventlake.toml")
    dataset = settings.sources.csv["students"]
    assert dataset.table == "students" and dataset.load_mode == "table"
    assert settings.resolve(dataset.schema_file) == EXAMPLE.resolve()
    assert load_schema(settings.resolve(dataset.schema_file)).names == STUDENT_COLUMNS
