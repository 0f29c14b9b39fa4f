"""Watch mode: `eventlake sources csv watch` in a real subprocess, files dropped while it runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pytest

from eventlake.config import CsvDatasetConfig, load_config
from eventlake.sources.csv import DropFolderWatcher, open_csv_source

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
student_csv = support.students().student_csv


def _project(root: Path, stable: float) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / "students" / "schema.yaml", root / "schema.yaml")
    (root / "drop").mkdir()
    config = root / "eventlake.toml"
    config.write_text(
        '[lake]\npath = "lake"\n[warehouse]\npath = "warehouse.duckdb"\n'
        "[sources.csv.students]\n"
        'input_dir = "drop"\nschema_file = "schema.yaml"\ntable = "students"\n'
        f"stable_seconds = {stable}\nrescan_seconds = 2.0\n",
        encoding="utf-8",
    )
    return config


def _log(root: Path) -> list[dict[str, Any]]:
    path = root / "drop" / "ingest.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _outcome(root: Path, name: str) -> str | None:
    found = [e["outcome"] for e in _log(root) if e["file"] == name]
    return found[-1] if found else None


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """`eventlake sources csv watch students` running on a fresh project."""
    config = _project(tmp_path, stable=2.0)  # the slow writer pauses 0.25 s: ample margin
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from eventlake.cli import main; main()", "-c", str(config)]
        + ["sources", "csv", "watch", "students"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield tmp_path, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_watch_loads_dropped_slow_renamed_and_duplicate_files(
    watcher: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    root, proc = watcher
    folder = root / "drop"
    # 1. Files dropped while the watcher runs.
    for i in range(3):
        (folder / f"drop_{i}.csv").write_text(student_csv(30, seed=i), "utf-8")
    for i in range(3):
        _wait_for(lambda i=i: _outcome(root, f"drop_{i}.csv") == "loaded", f"drop_{i}.csv")

    # 2. A file written slowly, in place: never read half-written.
    text = student_csv(200, seed=10)
    chunks = [text[i : i + len(text) // 5 + 1] for i in range(0, len(text), len(text) // 5 + 1)]
    with open(folder / "slow.csv", "w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(chunk)
            fh.flush()
            time.sleep(0.25)
    _wait_for(lambda: _outcome(root, "slow.csv") is not None, "slow.csv")
    assert _outcome(root, "slow.csv") == "loaded"
    assert [e["rows"] for e in _log(root) if e["file"] == "slow.csv"] == [200]

    # 3. Written under a temporary name, then renamed: ignored until the rename.
    tmp = folder / ".renamed.csv.tmp"
    tmp.write_text(student_csv(20, seed=20), "utf-8")
    time.sleep(3.0)  # longer than stable_seconds: only the name keeps it out
    assert _outcome(root, ".renamed.csv.tmp") is None
    os.replace(tmp, folder / "renamed.csv")
    _wait_for(lambda: _outcome(root, "renamed.csv") == "loaded", "renamed.csv")

    # 4. The same file twice: the second drop is recognised and not loaded again.
    (folder / "again.csv").write_text(student_csv(30, seed=0), "utf-8")
    _wait_for(lambda: _outcome(root, "again.csv") is not None, "again.csv")
    assert _outcome(root, "again.csv") == "duplicate"

    # 5. A bad file is moved aside while the watcher keeps going.
    (folder / "bad.csv").write_bytes(b"")
    _wait_for(lambda: _outcome(root, "bad.csv") == "failed", "bad.csv")
    assert (folder / "failed" / "bad.csv.error.json").exists()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw.students").fetchone() == (3 * 30 + 200 + 20,)
    finally:
        con.close()


def test_watcher_waits_for_size_to_hold_still(tmp_path: Path) -> None:
    config = _project(tmp_path, stable=0.5)
    source = open_csv_source(load_config(config), "students")
    w = DropFolderWatcher(source)
    path = tmp_path / "drop" / "growing.csv"
    path.write_text("school;sex\n", "utf-8")
    w._observe({path}, now=100.0)
    assert w.ready(100.2) == []
    path.write_text("school;sex\nGP;F\n", "utf-8")  # grew: the clock restarts
    assert w.ready(100.6) == []
    assert w.ready(101.2) == [path]


def test_watch_in_a_thread_stops_on_request(tmp_path: Path) -> None:
    config = _project(tmp_path, stable=0.2)
    cfg = load_config(config).sources.csv["students"]
    assert isinstance(cfg, CsvDatasetConfig)
    source = open_csv_source(load_config(config), "students")
    (tmp_path / "drop" / "early.csv").write_text(student_csv(10, seed=99), "utf-8")
    stop = threading.Event()
    results: list[int] = []
    thread = threading.Thread(
        target=source.watch, args=(stop,), kwargs={"on_result": lambda r: results.append(r.rows)}
    )
    thread.start()
    try:
        _wait_for(lambda: results == [10], "the file present at start (initial rescan)")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
