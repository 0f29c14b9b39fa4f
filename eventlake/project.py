"""A project folder: ``eventlake.toml``, ``tracking-plan.yaml`` and ``exchange-rates.csv``.

What ``eventlake init`` and ``eventlake demo`` write; the library form, so that the demo
(and any program) can make a project without going through the CLI. Finding the project
from a working folder is :func:`eventlake.config.find_config_file`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from eventlake.errors import ConfigError

__all__ = ["EXAMPLE_WRITE_KEY", "write_example_project"]

#: The write key the example eventlake.toml maps to the source "dev".
EXAMPLE_WRITE_KEY = "dev-write-key"

#: file written -> its source inside the package (the sample exchange rates are the seed's)
_FILES = {
    "eventlake.toml": "templates/eventlake.toml",
    "tracking-plan.yaml": "templates/tracking-plan.yaml",
    "exchange-rates.csv": "models/seeds/exchange_rates.csv",
}


def write_example_project(directory: Path, *, force: bool = False) -> list[Path]:
    """Write eventlake.toml, tracking-plan.yaml and exchange-rates.csv (the sample rates, to
    edit) into ``directory``; return what was written.

    Existing files are kept unless ``force``.

    Raises:
        ConfigError: the folder or a file cannot be written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {exc}") from exc
    written = []
    package = resources.files("eventlake")
    for target_name, source in _FILES.items():
        target = directory / target_name
        if target.exists() and not force:
            continue
        try:
            target.write_text((package / source).read_text(encoding="utf-8"), "utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc}") from exc
        written.append(target)
    return written
