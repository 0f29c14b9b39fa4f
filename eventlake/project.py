"""A project folder: ``eventlake.toml``, ``tracking-plan.yaml`` and ``exchange-rates.csv``.

What ``eventlake init`` and ``eventlake demo`` write; the library form, so that the demo
(and any program) can make a project without going through the CLI. Finding the project
from a working folder is :func:`eventlake.config.find_config_file`.

:func:`tracks_events` says whether a project tracks events, which decides whether it is
offered the built-in event models and the game dashboard (``[models] events``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from eventlake.config import Settings
from eventlake.errors import ConfigError

__all__ = ["EXAMPLE_WRITE_KEY", "NO_EVENTS_CONFIG", "tracks_events", "write_example_project"]

#: The write key the example eventlake.toml maps to the source "dev".
EXAMPLE_WRITE_KEY = "dev-write-key"

#: file written -> its source inside the package (the sample exchange rates are the seed's)
_FILES = {
    "eventlake.toml": "templates/eventlake.toml",
    "tracking-plan.yaml": "templates/tracking-plan.yaml",
    "exchange-rates.csv": "models/seeds/exchange_rates.csv",
}


#: The eventlake.toml of ``eventlake init --no-events``: a project fed by CSV or REST sources
#: only (no collector, no tracking plan, no event models).
NO_EVENTS_CONFIG = "templates/eventlake-no-events.toml"

#: Lake streams of batch sources start with this; every other stream holds events.
_SOURCE_STREAMS = "sources."


def write_example_project(
    directory: Path, *, force: bool = False, events: bool = True
) -> list[Path]:
    """Write eventlake.toml, tracking-plan.yaml and exchange-rates.csv (the sample rates, to
    edit) into ``directory``; return what was written.

    Existing files are kept unless ``force``. ``events=False`` writes only an
    eventlake.toml for a project without tracked events (``[models] events = "off"``, a
    commented CSV and REST source), and ``models/``, ``seeds/`` and ``dashboards/`` folders
    for the project's own models, seeds and dashboards.

    Raises:
        ConfigError: the folder or a file cannot be written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {exc}") from exc
    written = []
    package = resources.files("eventlake")
    files = _FILES if events else {"eventlake.toml": NO_EVENTS_CONFIG}
    for target_name, source in files.items():
        target = directory / target_name
        if target.exists() and not force:
            continue
        try:
            target.write_text((package / source).read_text(encoding="utf-8"), "utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc}") from exc
        written.append(target)
    if not events:
        for folder in ("models", "seeds", "dashboards"):
            path = directory / folder
            if not path.exists():
                try:
                    path.mkdir()
                except OSError as exc:
                    raise ConfigError(f"cannot create {path}: {exc}") from exc
                written.append(path)
    return written


def tracks_events(settings: Settings) -> bool:
    """Whether the project tracks events, i.e. is offered the built-in event models and
    the game dashboard (``[models] events``).

    ``on``/``off`` decide; ``auto`` (the default) says yes unless the project has batch
    sources (``[sources.csv]``, ``[sources.api]``) and tracks nothing: no collector write
    key (``collect.write_keys``, ``write_keys_file``) and no event commit in the lake (a
    stream other than a batch source's ``sources.<name>``). So a
    project of REST or CSV sources alone gets no empty event models, and one that starts
    sending events gets them from the next run.
    """
    mode = settings.models.events
    if mode != "auto":
        return mode == "on"
    if not settings.sources.csv and not settings.sources.api:
        return True
    if settings.collect.write_keys or settings.collect.write_keys_file is not None:
        return True
    from eventlake.lake import open_lake

    lake = open_lake(settings.lake_uri(), settings.lake.storage_options, create=False)
    return any(
        not stream.startswith(_SOURCE_STREAMS) and lake.commit_ids(stream)
        for stream in lake.streams()
    )
