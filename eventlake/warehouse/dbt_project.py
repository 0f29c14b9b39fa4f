"""The dbt working folder: the packaged project, the user's models and a generated profile.

``build_models`` never runs dbt inside the installed package. It mirrors the project shipped
in ``eventlake/models/`` into ``<models.dbt_dir>/project/``, mirrors the user's own models
folder (``models.user_models_dir``) into ``project/user_models/`` (listed in ``model-paths``
of the mirrored ``dbt_project.yml``), and writes ``<models.dbt_dir>/profiles.yml`` from the
engine's :class:`~eventlake.warehouse.base.DbtTarget`, so a user needs no ``~/.dbt``. What a
build reads from the settings is one typed :class:`DbtConfig` with its paths resolved.
Files are copied only when their bytes changed, which keeps dbt's partial parsing valid
between builds.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eventlake.config import Settings
from eventlake.errors import ConfigError

__all__ = [
    "PACKAGED_PROJECT",
    "USER_MODELS_FOLDER",
    "DbtConfig",
    "build_vars",
    "prepare_project",
    "tracking_plan_var",
    "write_profile",
]

#: The dbt project shipped inside the package.
PACKAGED_PROJECT = Path(__file__).resolve().parent.parent / "models"
#: Folder of the mirrored project that holds a copy of the user's models.
USER_MODELS_FOLDER = "user_models"
PROFILE_NAME = "eventlake"
#: The exchange-rate seed inside the project; the user's file replaces it.
RATES_SEED = Path("seeds") / "exchange_rates.csv"
_SKIP = {"target", "logs", "dbt_packages", "__pycache__", ".user.yml"}


@dataclass(frozen=True, slots=True)
class DbtConfig:
    """What a dbt build reads from the settings, paths absolute.

    ``dbt_dir``: the working folder (profile, mirrored project, catalog, logs);
    ``user_models_dir``: the user's own models (None: none); ``tracking_plan``: the plan
    file whose events type the property columns (None or missing: no plan).
    """

    dbt_dir: Path
    user_models_dir: Path | None = None
    tracking_plan: Path | None = None
    session_timeout_minutes: int = 30
    threads: int = 2
    reporting_currency: str = "USD"
    #: the project's editable exchange-rate file (None or missing: the sample rates)
    exchange_rates: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DbtConfig:
        """The ``models`` section, the tracking plan and the threads of ``settings``."""
        models = settings.models
        return cls(
            dbt_dir=settings.resolve(models.dbt_dir),
            user_models_dir=(
                None if models.user_models_dir is None else settings.resolve(models.user_models_dir)
            ),
            tracking_plan=(
                None
                if settings.spec.tracking_plan is None
                else settings.resolve(settings.spec.tracking_plan)
            ),
            session_timeout_minutes=models.session_timeout_minutes,
            threads=max(1, settings.warehouse.threads),
            reporting_currency=models.reporting_currency,
            exchange_rates=(
                None if models.exchange_rates is None else settings.resolve(models.exchange_rates)
            ),
        )


def _sync_tree(src: Path, dst: Path, replace: dict[Path, Path] | None = None) -> None:
    """Make ``dst`` an exact copy of ``src``, rewriting only files whose bytes differ.

    ``replace`` maps a source file to another file whose bytes are copied instead.
    """
    dst.mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    for item in src.iterdir():
        if item.name in _SKIP or item.name.startswith("."):
            continue
        wanted.add(item.name)
        target = dst / item.name
        if item.is_dir():
            if target.exists() and not target.is_dir():
                target.unlink()
            _sync_tree(item, target, replace)
        else:
            data = (replace or {}).get(item, item).read_bytes()
            if not target.is_file() or target.read_bytes() != data:
                target.write_bytes(data)
    for existing in dst.iterdir():
        if existing.name not in wanted and existing.name not in _SKIP:
            if existing.is_dir():
                shutil.rmtree(existing)
            else:
                existing.unlink()


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def prepare_project(config: DbtConfig) -> Path:
    """Mirror the packaged project and the user's models into the dbt folder; return it.

    The user's exchange-rate file (``models.exchange_rates``), when it exists, replaces the
    sample rates of the seed ``exchange_rates``.
    """
    project = config.dbt_dir / "project"
    replace: dict[Path, Path] = {}
    if config.exchange_rates is not None and config.exchange_rates.is_file():
        replace[PACKAGED_PROJECT / RATES_SEED] = config.exchange_rates
    _sync_tree(PACKAGED_PROJECT, project, replace)
    user_dir = config.user_models_dir
    model_paths = ["models"]
    if user_dir is not None and user_dir.is_dir():
        _sync_tree(user_dir, project / USER_MODELS_FOLDER)
        model_paths.append(USER_MODELS_FOLDER)
    elif (project / USER_MODELS_FOLDER).exists():
        shutil.rmtree(project / USER_MODELS_FOLDER)
    project_yml = yaml.safe_load((PACKAGED_PROJECT / "dbt_project.yml").read_text("utf-8"))
    project_yml["model-paths"] = model_paths
    _write_if_changed(project / "dbt_project.yml", yaml.safe_dump(project_yml, sort_keys=False))
    return project


def write_profile(dbt_dir: Path, target: str, output: dict[str, Any]) -> Path:
    """Write ``<dbt_dir>/profiles.yml`` with one target ``output``; return ``dbt_dir``.

    Rewritten only when it changed (dbt's partial parsing hashes it).
    """
    profile = {PROFILE_NAME: {"target": target, "outputs": {target: output}}}
    _write_if_changed(dbt_dir / "profiles.yml", yaml.safe_dump(profile, sort_keys=True))
    return dbt_dir


def tracking_plan_var(path: Path | None) -> dict[str, Any]:
    """The tracking plan as the models read it: {event: {properties: {name: {type, allowed}}}}.

    No plan file configured or present: an empty plan (no typed property columns).
    """
    if path is None or not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read tracking plan {path}: {exc}") from exc
    events = doc.get("events") if isinstance(doc, dict) else None
    plan: dict[str, Any] = {}
    for name, spec in (events or {}).items():
        props: dict[str, Any] = {}
        for prop, pspec in ((spec or {}).get("properties") or {}).items():
            pspec = pspec or {}
            entry: dict[str, Any] = {"type": str(pspec.get("type", "string"))}
            if pspec.get("allowed"):
                entry["allowed"] = [str(v) for v in pspec["allowed"]]
            props[str(prop)] = entry
        plan[str(name)] = {"properties": props}
    return plan


def build_vars(
    config: DbtConfig,
    changed_days: list[str] | None,
    new_rows: list[list[int]] | None = None,
) -> str:
    """The ``--vars`` JSON of one build (stable key order, so equal runs hash equally).

    ``new_rows``: the ``[bus_partition, first_offset, last_offset]`` ranges of the rows the
    run's new lake commits brought (None: every row of the changed days counts as new).
    """
    return json.dumps(
        {
            "changed_days": changed_days,
            "new_rows": new_rows,
            "reporting_currency": config.reporting_currency,
            "session_timeout_minutes": config.session_timeout_minutes,
            "tracking_plan": tracking_plan_var(config.tracking_plan),
        },
        sort_keys=True,
    )
