"""Student-style sample data for the CSV drop example: a generator and five canned questions.

The example dataset of the CSV drop folder is shaped like the UCI "student performance"
set: 33 columns, ';' delimited, mixed-case headers (``Medu``, ``Pstatus``, ``Dalc``...),
string values quoted. :func:`student_csv` writes such a file deterministically from a seed,
so tests, the benchmark and the docs share one generator and no data set is downloaded.
It is example data, not part of the eventlake package: run it as a script from this folder
(``python student_data.py drop/students/a.csv --rows 395 --seed 1``) or load it by path.

:data:`STUDENT_QUESTIONS` holds the design's five SQL questions over the loaded table
(``raw.students`` by default), written in SQL that DuckDB and PostgreSQL read alike;
``questions.sql`` beside this file carries the same text.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

__all__ = [
    "STUDENT_COLUMNS",
    "STUDENT_HEADER",
    "STUDENT_QUESTIONS",
    "main",
    "student_csv",
    "student_questions",
]

#: The 33 UCI header names as the original files spell them (normalised on ingest).
STUDENT_HEADER: tuple[str, ...] = (
    "school", "sex", "age", "address", "famsize", "Pstatus", "Medu", "Fedu", "Mjob", "Fjob",
    "reason", "guardian", "traveltime", "studytime", "failures", "schoolsup", "famsup",
    "paid", "activities", "nursery", "higher", "internet", "romantic", "famrel", "freetime",
    "goout", "Dalc", "Walc", "health", "absences", "G1", "G2", "G3",
)  # fmt: skip

#: The same names after header normalisation (the warehouse column names).
STUDENT_COLUMNS: tuple[str, ...] = tuple(h.lower() for h in STUDENT_HEADER)

_JOBS = ("teacher", "health", "services", "at_home", "other")
_YESNO = ("yes", "no")

# column -> (kind, domain); kind "s" is a quoted string, "i" an unquoted integer.
_DOMAINS: dict[str, tuple[str, tuple[object, ...]]] = {
    "school": ("s", ("GP", "MS")),
    "sex": ("s", ("F", "M")),
    "age": ("i", tuple(range(15, 23))),
    "address": ("s", ("U", "R")),
    "famsize": ("s", ("LE3", "GT3")),
    "pstatus": ("s", ("T", "A")),
    "medu": ("i", tuple(range(5))),
    "fedu": ("i", tuple(range(5))),
    "mjob": ("s", _JOBS),
    "fjob": ("s", _JOBS),
    "reason": ("s", ("home", "reputation", "course", "other")),
    "guardian": ("s", ("mother", "father", "other")),
    "traveltime": ("i", (1, 2, 3, 4)),
    "studytime": ("i", (1, 2, 3, 4)),
    "failures": ("i", (0, 1, 2, 3)),
    "famrel": ("i", (1, 2, 3, 4, 5)),
    "freetime": ("i", (1, 2, 3, 4, 5)),
    "goout": ("i", (1, 2, 3, 4, 5)),
    "dalc": ("i", (1, 2, 3, 4, 5)),
    "walc": ("i", (1, 2, 3, 4, 5)),
    "health": ("i", (1, 2, 3, 4, 5)),
    "absences": ("i", tuple(range(94))),
    "g1": ("i", tuple(range(21))),
    "g2": ("i", tuple(range(21))),
    "g3": ("i", tuple(range(21))),
}
for _flag in (
    "schoolsup", "famsup", "paid", "activities", "nursery", "higher", "internet", "romantic",
):  # fmt: skip
    _DOMAINS[_flag] = ("s", _YESNO)

# Skewed weights so that "most frequent" questions have clear answers.
_WEIGHTS: dict[str, tuple[float, ...]] = {
    "age": (20, 25, 25, 20, 5, 2, 2, 1),
    "traveltime": (50, 30, 15, 5),
    "failures": (70, 15, 10, 5),
    "mjob": (20, 10, 25, 15, 30),
    "fjob": (8, 5, 28, 7, 52),
    "absences": tuple(max(1.0, 40.0 - i) for i in range(94)),
}


def student_csv(rows: int = 395, *, seed: int = 0, delimiter: str = ";") -> str:
    """Return one student-style CSV file (UCI header, quoted strings) as text.

    395 rows make ~56 KB, the size of the UCI ``student-mat.csv``. Deterministic by seed;
    different seeds give different content (and so different content hashes).
    """
    rng = random.Random(seed)
    columns: list[list[str]] = []
    for name in STUDENT_COLUMNS:
        kind, domain = _DOMAINS[name]
        weights = _WEIGHTS.get(name)
        values = rng.choices(domain, weights=weights, k=rows)
        if kind == "s":
            columns.append([f'"{v}"' for v in values])
        else:
            columns.append([str(v) for v in values])
    lines = [delimiter.join(STUDENT_HEADER)]
    lines.extend(delimiter.join(row) for row in zip(*columns, strict=True))
    return "\n".join(lines) + "\n"


#: The design's five questions; ``{table}`` is the loaded table (e.g. ``raw.students``).
#: Portable SQL: derived tables have an alias, the median is ``percentile_cont``.
STUDENT_QUESTIONS: dict[str, str] = {
    "mother_jobs_of_young_males": (
        "SELECT DISTINCT mjob FROM {table} WHERE sex = 'M' AND age < 20 ORDER BY mjob"
    ),
    "rural_travel_time_mode": (
        "SELECT traveltime, count(*) AS students FROM {table} WHERE address = 'R' "
        "GROUP BY traveltime ORDER BY students DESC, traveltime LIMIT 1"
    ),
    "top_father_jobs_by_pstatus": (
        "SELECT pstatus, fjob, students FROM ("
        "SELECT pstatus, fjob, count(*) AS students, row_number() OVER ("
        "PARTITION BY pstatus ORDER BY count(*) DESC, fjob) AS place "
        "FROM {table} GROUP BY pstatus, fjob) AS ranked WHERE place <= 3 "
        "ORDER BY pstatus, place"
    ),
    "failures_mode_by_famsize": (
        "SELECT famsize, failures, students FROM ("
        "SELECT famsize, failures, count(*) AS students, row_number() OVER ("
        "PARTITION BY famsize ORDER BY count(*) DESC, failures) AS place "
        "FROM {table} GROUP BY famsize, failures) AS ranked WHERE place = 1 ORDER BY famsize"
    ),
    "median_absences_by_sex_low_famrel": (
        "SELECT sex, percentile_cont(0.5) WITHIN GROUP (ORDER BY absences) AS median_absences "
        "FROM {table} WHERE famrel BETWEEN 1 AND 3 GROUP BY sex ORDER BY sex"
    ),
}


def student_questions(table: str = "raw.students") -> dict[str, str]:
    """The five canned questions with ``{table}`` filled in (a trusted, quoted name)."""
    return {name: sql.format(table=table) for name, sql in STUDENT_QUESTIONS.items()}


def main(argv: list[str] | None = None) -> None:
    """Write one student CSV file: ``python student_data.py OUT.csv [--rows N] [--seed S]``."""
    ap = argparse.ArgumentParser(description="Write a student-style CSV file (UCI layout).")
    ap.add_argument("out", type=Path, help="the CSV file to write (its folder is created)")
    ap.add_argument("--rows", type=int, default=395, help="data rows (395 = ~56 KB)")
    ap.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    a = ap.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(student_csv(a.rows, seed=a.seed), encoding="utf-8")
    print(f"wrote {a.rows} rows to {a.out}")


if __name__ == "__main__":
    main()
