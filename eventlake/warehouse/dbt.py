"""Build the dbt models (staging -> marts -> metrics) and run their data tests in-process.

The interface the pipeline calls::

    build_models(config, target, *, changed_days=None, full_refresh=False, select=None)
        -> BuildResult

It runs ``dbt build`` (models and tests, in dependency order) through dbt's programmatic
``dbtRunner`` in this process (dbt is imported lazily; a repeated build costs about a second
instead of the CLI's 6-8 s of start-up and parse), on ``target``: the
:class:`~eventlake.warehouse.base.DbtTarget` of a write transaction
(``tx.dbt_target()``), which says which profile to write and what the engine does before
and after dbt runs; this module has no branch on the engine. What a failed build leaves
behind is the transaction's business (``warehouse/base.py``).

How a build is set up (see :mod:`eventlake.warehouse.dbt_project`): the packaged project is
mirrored into ``<models.dbt_dir>/project/`` together with the user's own models folder
(``models.user_models_dir``, copied to ``project/user_models/``), and the target's profile
is generated into ``<models.dbt_dir>/profiles.yml``. The run's ``--vars`` carry
``changed_days`` (ISO dates whose lake partitions received new rows: the incremental models
rebuild exactly the days those can change, see ``models/macros/changed_days.sql``; ``None``
rebuilds every day), ``session_timeout_minutes`` and the tracking plan (typed property
columns, accepted values).

After a successful build, ``<models.dbt_dir>/metrics_catalog.json`` is rewritten from the
manifest (:mod:`eventlake.warehouse.catalog`). A failing model or test raises
:class:`~eventlake.errors.ModelBuildError` naming the model and the test.

A day's incremental run is mostly dbt's fixed cost, kept down here: one ``build`` (models
and tests in one invocation); the manifest parsed once per process, and across processes
dbt's partial parsing from the stable ``project/target/partial_parse.msgpack``; no JSON
artifacts rewritten by the build (``--no-write-json``: ``parse`` wrote the manifest the
catalog reads); the catalog's column types read before ``after_build`` (on DuckDB, on
dbt-duckdb's open connection: no second open of the file). See docs/models.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventlake.errors import ModelBuildError
from eventlake.warehouse.base import ColumnTypes, DbtTarget
from eventlake.warehouse.catalog import CATALOG_FILE, write_metrics_catalog
from eventlake.warehouse.dbt_project import DbtConfig, build_vars, prepare_project, write_profile

__all__ = ["BuildResult", "ModelTestsFailedError", "build_models", "source_selection"]

# dbt keeps process-wide state (adapter registry, flags, invocation context): one build at
# a time per process.
_BUILD_LOCK = threading.Lock()
# Parsed manifests by a digest of everything parsing reads (project files, profile, the
# vars that stay fixed between runs). changed_days changes every run and would force a
# full re-parse (dbt hashes --vars); it is only read when models compile, so the run
# reuses the manifest parsed without it.
_MANIFESTS: dict[str, Any] = {}


class ModelTestsFailedError(ModelBuildError):
    """A build failed: ``failures`` lists (model/test name, dbt's message) of each failure."""

    def __init__(self, message: str, failures: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass(frozen=True)
class BuildResult:
    """What one ``dbt build`` did."""

    models_built: list[str]
    tests_passed: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    changed_days: list[str] | None = None
    catalog_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def _dbt_args(
    command: str,
    project: Path,
    profiles_dir: Path,
    vars_json: str,
    threads: int,
    *,
    full_refresh: bool,
    select: str | None,
) -> list[str]:
    args = [
        command,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(profiles_dir),
        "--vars",
        vars_json,
        "--threads",
        str(threads),
        "--log-path",
        str(profiles_dir / "logs"),
        "--log-level",
        "none",
        "--log-level-file",
        "info",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
    ]
    if command == "build":
        # The manifest.json that the catalog reads is written by `parse`; rewriting it and
        # run_results.json after every build costs half a second and nobody reads them.
        args.append("--no-write-json")
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select.split()]
    return args


def _parse_key(project: Path, profiles_dir: Path, stable_vars: str) -> str:
    digest = hashlib.sha256(stable_vars.encode())
    digest.update((profiles_dir / "profiles.yml").read_bytes())
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if rel.parts[0] in ("target", "logs") or not path.is_file():
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _manifest(project: Path, profiles_dir: Path, stable_vars: str, threads: int) -> Any:
    """The parsed manifest for this project and vars (parsed once per process)."""
    from dbt.cli.main import dbtRunner

    key = _parse_key(project, profiles_dir, stable_vars)
    cached = _MANIFESTS.get(key)
    # the catalog is read from target/manifest.json, which parsing writes
    if cached is not None and (project / "target" / "manifest.json").is_file():
        return cached
    args = _dbt_args(
        "parse", project, profiles_dir, stable_vars, threads, full_refresh=False, select=None
    )
    res = dbtRunner().invoke(args)
    if res.exception is not None or not res.success or res.result is None:
        raise ModelBuildError(f"dbt could not parse {project}: {res.exception or 'see logs'}")
    _MANIFESTS.clear()
    _MANIFESTS[key] = res.result
    return res.result


def _status(result: Any) -> str:
    """A dbt node result's status as text ('success', 'pass', 'fail', 'error'...)."""
    return str(getattr(result.status, "value", result.status))


#: Rows of a failed test quoted in the error (its first rows: which check, column, value).
FAILURE_SAMPLE_ROWS = 3


def _failed_tests(results: Sequence[Any]) -> dict[str, str]:
    """{unique_id: compiled SQL} of each test that failed (returned rows)."""
    out: dict[str, str] = {}
    for r in results:
        sql = getattr(r.node, "compiled_code", None)
        if _status(r) == "fail" and sql:
            out[str(r.node.unique_id)] = str(sql)
    return out


def _model_of(node: Any) -> str:
    """The model a test is attached to (or the node's own name)."""
    attached = getattr(node, "attached_node", None)
    if attached:
        return str(attached).split(".")[-1]
    depends = getattr(getattr(node, "depends_on", None), "nodes", None) or []
    models = [d.split(".")[-1] for d in depends if str(d).startswith("model.")]
    return ", ".join(models) if models else str(node.name)


def _summarise(
    results: Sequence[Any], samples: dict[str, str] | None = None
) -> tuple[list[str], int, list[tuple[str, str]]]:
    built: list[str] = []
    passed = 0
    failures: list[tuple[str, str]] = []
    for r in results:
        node = r.node
        status = _status(r)
        kind = str(getattr(node.resource_type, "value", node.resource_type))
        if kind == "test":
            if status == "pass":
                passed += 1
            elif status in ("fail", "error"):
                message = str(r.message or status).strip()
                sample = (samples or {}).get(str(node.unique_id))
                if sample:
                    message += f" (first rows: {sample})"
                failures.append((f"{_model_of(node)}: test {node.name}", message))
        elif status in ("success", "pass"):
            if kind == "model":
                built.append(str(node.name))
        elif status in ("error", "fail"):
            failures.append((f"{kind} {node.name}", str(r.message or status).strip()))
    return built, passed, failures


def source_selection(manifest: Any, tables: Sequence[tuple[str, str]]) -> str | None:
    """The dbt selection of the models that read ``tables`` ((schema, table) pairs loaded by
    batch sources), with everything they read in turn: ``@source:<source>.<table>`` for each
    dbt source declared on one of them (the ``@`` operator adds the ancestors of the
    descendants, so a model's seeds and other inputs exist even on its first build).
    None when no declared source points at them (the caller then builds every model).
    """
    wanted = {(schema.lower(), table.lower()) for schema, table in tables}
    picked = []
    for node in getattr(manifest, "sources", {}).values():
        key = (str(node.schema).lower(), str(node.identifier or node.name).lower())
        if key in wanted:
            picked.append(f"@source:{node.source_name}.{node.name}")
    return " ".join(sorted(picked)) or None


def build_models(
    config: DbtConfig,
    target: DbtTarget,
    *,
    changed_days: list[dt.date] | None = None,
    full_refresh: bool = False,
    select: str | None = None,
    sources: Sequence[tuple[str, str]] | None = None,
    new_offsets: Sequence[tuple[int, int, int]] | None = None,
) -> BuildResult:
    """Run ``dbt build`` (models + data tests) on ``target``.

    Args:
        config: the dbt folder, the user's models, the tracking plan, threads.
        target: where to build: a write transaction's ``dbt_target()``.
        changed_days: days whose lake partitions received new rows; the incremental models
            rebuild exactly what those days can change. ``None`` rebuilds every day.
        full_refresh: drop and rebuild the incremental models from scratch.
        select: a dbt selection (``"metrics"``, ``"+daily_active_users"``...).
        sources: raw tables ((schema, table)) a batch source changed: build only the models
            that read them (:func:`source_selection`), or every model when no dbt source
            declares them. Ignored with ``select``.
        new_offsets: the ``(bus_partition, first_offset, last_offset)`` ranges of the rows
            the new lake commits brought (``RawLoadResult.new_offsets``): only the messages with a
            copy among them are ranked again, not every message of the changed days. None:
            every row of the changed days counts as new.

    Returns:
        The models built, the tests passed and the time taken.

    Raises:
        ModelBuildError: a model or a data test failed (the message names them); the
            caller's transaction then publishes nothing.
    """
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    started = time.perf_counter()
    days = None
    rows = None
    if changed_days is not None and not full_refresh:
        days = sorted({d.isoformat() for d in changed_days})
        if new_offsets is not None:
            rows = [[int(p), int(a), int(b)] for p, a, b in new_offsets]
    with _BUILD_LOCK:
        project = prepare_project(config)
        profiles_dir = write_profile(config.dbt_dir, target.name, target.profile_output())
        threads = max(1, config.threads)
        from dbt.cli.main import dbtRunner

        samples: dict[str, str] = {}
        column_types: ColumnTypes | None = None
        target.before_build()
        try:
            manifest = _manifest(project, profiles_dir, build_vars(config, None), threads)
            if sources is not None and select is None:
                select = source_selection(manifest, sources)
            args = _dbt_args(
                "build",
                project,
                profiles_dir,
                build_vars(config, days, rows),
                threads,
                full_refresh=full_refresh,
                select=select,
            )
            res = dbtRunner(manifest=manifest).invoke(args)
            results = list(getattr(res.result, "results", None) or [])
            failed = _failed_tests(results)
            if failed:
                samples = target.failure_samples(failed, FAILURE_SAMPLE_ROWS)
            elif res.exception is None and res.success:
                column_types = target.column_types()
        finally:
            target.after_build()
        if res.exception is not None:
            raise ModelBuildError(f"dbt build failed: {res.exception}") from res.exception
        built, passed, failures = _summarise(results, samples)
        if failures or not res.success:
            detail = "; ".join(f"{name}: {msg}" for name, msg in failures[:5]) or "see logs"
            more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
            raise ModelTestsFailedError(
                f"dbt build failed on {len(failures)} node(s): {detail}{more} "
                f"(log: {profiles_dir / 'logs' / 'dbt.log'})",
                failures,
            )
        catalog_path = profiles_dir / CATALOG_FILE
        write_metrics_catalog(
            project / "target" / "manifest.json",
            catalog_path,
            column_types,
            reporting_currency=config.reporting_currency,
        )
    return BuildResult(
        models_built=built,
        tests_passed=passed,
        failures=[],
        seconds=time.perf_counter() - started,
        changed_days=days,
        catalog_path=catalog_path,
    )
