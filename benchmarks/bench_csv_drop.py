"""Benchmark the CSV drop source: N student-style files validated, converted and loaded.

Generates ``--files`` distinct UCI-shaped files (~56 KB, 395 rows, ';' delimited) in a
temporary folder, then times, in the same run:

- baseline: per file ``pandas.read_csv`` + ``DataFrame.to_parquet`` (no validation, no
  warehouse), the shape of the reference design;
- eventlake: ``CsvSource.ingest`` of the whole folder (hash, clean, validate against the
  schema, lake commit(s), one warehouse publish, inputs archived), once per load mode.

Besides wall time it prints each run's steps and process CPU time (all threads), and the
load average: the machine is shared, so CPU seconds are the steadier figure.

Usage: ``.venv/bin/python benchmarks/bench_csv_drop.py [--files 999] [--rows 395]``.
Prints the figures and the baseline/eventlake ratio. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eventlake.config import CsvDatasetConfig, load_config  # noqa: E402
from eventlake.lake import open_lake  # noqa: E402
from eventlake.sources.csv import CsvSource  # noqa: E402
from eventlake.warehouse import open_warehouse  # noqa: E402


def _student_csv() -> Any:
    """examples/students/student_data.py's generator (example data, not in the package)."""
    path = REPO / "examples" / "students" / "student_data.py"
    spec = importlib.util.spec_from_file_location("student_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.student_csv


student_csv = _student_csv()


def generate(folder: Path, files: int, rows: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(files):
        text = student_csv(rows, seed=i)
        (folder / f"students_{i:04d}.csv").write_text(text, encoding="utf-8")
        total += len(text)
    return total


def baseline(src: Path, out: Path) -> float:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path in sorted(src.glob("*.csv")):
        frame = pd.read_csv(path, sep=";")
        frame.to_parquet(out / (path.stem + ".parquet"))
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (DuckDB's and pyarrow's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def eventlake_run(src: Path, work: Path, mode: str, run: int) -> tuple[float, int, int]:
    project = work / f"project-{mode}-{run}"
    drop = project / "drop"
    shutil.copytree(src, drop)
    shutil.copy(REPO / "examples" / "students" / "schema.yaml", project / "schema.yaml")
    settings = load_config(
        None,
        base_dir=project,
        lake={"path": str(project / "lake")},
        warehouse={"path": str(project / "warehouse.duckdb")},
    )
    config = CsvDatasetConfig(
        input_dir=drop, schema_file=project / "schema.yaml", table="students", load_mode=mode
    )  # type: ignore[arg-type]
    source = CsvSource(
        "students",
        config,
        lake=open_lake(settings.lake_uri()),
        warehouse=open_warehouse(settings),
        compression=settings.land.compression,
    )
    import duckdb  # noqa: F401  (import cost excluded, as pandas' is for the baseline)

    started, cpu = time.perf_counter(), cpu_seconds()
    result = source.ingest()
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    steps = ", ".join(f"{k} {v:.3f}" for k, v in result.stages.items())
    print(f"  eventlake steps (load_mode={mode}): {steps}; CPU {cpu:.3f} s")
    return elapsed, result.count("loaded"), result.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=999, help="files to generate (999)")
    parser.add_argument("--rows", type=int, default=395, help="rows per file (395 = ~56 KB)")
    parser.add_argument("--keep", type=Path, help="keep the work folder here")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each variant; the best is reported"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_csv_drop_")) if not args.keep else args.keep
    try:
        src = work / "input"
        size = generate(src, args.files, args.rows)
        print(
            f"{args.files} files, {args.rows} rows each, {size / args.files / 1024:.1f} KB "
            f"average, {size / 1e6:.1f} MB total; load average "
            + " ".join(f"{x:.2f}" for x in os.getloadavg())
            + f" on {os.cpu_count()} cores"
        )
        base = min(baseline(src, work / f"pandas-{i}") for i in range(args.repeat))
        print(f"baseline  pandas read_csv + to_parquet per file: {base:7.3f} s")
        results = {}
        for mode in ("table", "view"):
            runs = [eventlake_run(src, work, mode, i) for i in range(args.repeat)]
            secs, loaded, rows = min(runs)
            results[mode] = secs
            print(
                f"eventlake ingest (load_mode={mode:5s}): {secs:7.3f} s  "
                f"{loaded} files, {rows:,} rows, {rows / secs:,.0f} rows/s, "
                f"{base / secs:5.1f}x the baseline"
            )
        print("target: <= 0.5 s for 999 files (reference design: 10.9 s)")
        print(f"ratio baseline/eventlake (table): {base / results['table']:.1f}x")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
