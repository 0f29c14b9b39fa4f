"""The dbt working folder: the packaged project, the user's own project and a generated profile.

``build_models`` never runs dbt inside the installed package. It mirrors the project shipped
in ``eventlake/models/`` into ``<models.dbt_dir>/project/``, mirrors the user's own folders
into it (``models.user_models_dir`` -> ``project/user_models/``, ``models.user_seeds_dir``
-> ``project/user_seeds/``, ``models.user_macros_dir`` -> ``project/user_macros/``, each
listed in the mirrored ``dbt_project.yml``'s ``model-paths``, ``seed-paths`` or
``macro-paths``), and writes ``<models.dbt_dir>/profiles.yml`` from the engine's
:class:`~eventlake.warehouse.base.DbtTarget`, so a user needs no ``~/.dbt``. What a build
reads from the settings is one typed :class:`DbtConfig` with its paths resolved. Files are
copied only when their bytes changed, which keeps dbt's partial parsing valid between
builds.

The built-in event models are a part of the project that can be switched off
(``[models] events``, :func:`eventlake.project.tracks_events`): the mirrored
``dbt_project.yml`` then disables each of our models, seeds and singular tests by name
(``+enabled: false``), so a project without tracked events builds only its own models; our
macros stay available to them. A user's folder named like ours (``staging/``, ``marts/``,
``metrics/``) takes our folder's schema and materialization.
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
    "USER_MACROS_FOLDER",
    "USER_MODELS_FOLDER",
    "USER_SEEDS_FOLDER",
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
#: ... of the user's seeds and macros.
USER_SEEDS_FOLDER = "user_seeds"
USER_MACROS_FOLDER = "user_macros"
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
    ``from_settings`` decides ``events`` with :func:`eventlake.project.tracks_events`.
    """

    dbt_dir: Path
    user_models_dir: Path | None = None
    #: the user's seeds and macros folders (None: none)
    user_seeds_dir: Path | None = None
    user_macros_dir: Path | None = None
    #: build the built-in event models (False: only the user's own project)
    events: bool = True
    tracking_plan: Path | None = None
    session_timeout_minutes: int = 30
    threads: int = 2
    reporting_currency: str = "USD"
    #: the project's editable exchange-rate file (None or missing: the sample rates)
    exchange_rates: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DbtConfig:
        """The ``models`` section, the tracking plan and the threads of ``settings``."""
        from eventlake.project import tracks_events

        models = settings.models

        def folder(path: Path | None) -> Path | None:
            return None if path is None else settings.resolve(path)

        return cls(
            dbt_dir=settings.resolve(models.dbt_dir),
            user_models_dir=folder(models.user_models_dir),
            user_seeds_dir=folder(models.user_seeds_dir),
            user_macros_dir=folder(models.user_macros_dir),
            events=tracks_events(settings),
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


def _mirror_user_folder(source: Path | None, project: Path, folder: str) -> bool:
    """Mirror the user's ``source`` folder into ``project/folder``; False when it has none."""
    if source is not None and source.is_dir():
        _sync_tree(source, project / folder)
        return True
    if (project / folder).exists():
        shutil.rmtree(project / folder)
    return False


def _nested(tree: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """``tree[k1][k2]...`` (created as needed)."""
    for key in keys:
        node = tree.get(key)
        if not isinstance(node, dict):
            node = tree[key] = {}
        tree = node
    return tree


def _disable_packaged_events(project_yml: dict[str, Any]) -> None:
    """Disable each of our models, seeds and singular tests by name (``+enabled: false``).

    By name, not by folder: a user's ``staging/`` folder has the same config path as ours
    (``eventlake.staging``) and must stay enabled.
    """
    for section, folder, suffix in (
        ("models", "models", ".sql"),
        ("seeds", "seeds", ".csv"),
        ("data_tests", "tests", ".sql"),
    ):
        root = PACKAGED_PROJECT / folder
        for path in sorted(root.rglob(f"*{suffix}")):
            rel = path.relative_to(root)
            parts = [*rel.parent.parts, path.stem]
            _nested(project_yml, [section, PROFILE_NAME, *parts])["+enabled"] = False


def prepare_project(config: DbtConfig) -> Path:
    """Mirror the packaged project and the user's models, seeds and macros into the dbt
    folder; return it.

    The user's exchange-rate file (``models.exchange_rates``), when it exists, replaces the
    sample rates of the seed ``exchange_rates``. Without ``config.events`` our models, seeds
    and tests are disabled.
    """
    project = config.dbt_dir / "project"
    replace: dict[Path, Path] = {}
    if config.exchange_rates is not None and config.exchange_rates.is_file():
        replace[PACKAGED_PROJECT / RATES_SEED] = config.exchange_rates
    _sync_tree(PACKAGED_PROJECT, project, replace)
    project_yml = yaml.safe_load((PACKAGED_PROJECT / "dbt_project.yml").read_text("utf-8"))
    for key, source, folder in (
        ("model-paths", config.user_models_dir, USER_MODELS_FOLDER),
        ("seed-paths", config.user_seeds_dir, USER_SEEDS_FOLDER),
        ("macro-paths", config.user_macros_dir, USER_MACROS_FOLDER),
    ):
        if _mirror_user_folder(source, project, folder):
            project_yml[key] = [*project_yml[key], folder]
    if not config.events:
        _disable_packaged_events(project_yml)
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
