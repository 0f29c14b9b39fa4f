"""Helpers for the REST API source tests: the pinball API in a thread, project settings.

Loaded by path from the test modules (the tests folder is not a package).
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from eventlake.config import Settings, load_config

ROOT = Path(__file__).resolve().parents[3]
PINBALL = ROOT / "examples" / "pinball"


def load_pinball() -> Any:
    """The examples/pinball/pinball_api.py module."""
    if "pinball_api" not in sys.modules:
        spec = importlib.util.spec_from_file_location("pinball_api", PINBALL / "pinball_api.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["pinball_api"] = module
        spec.loader.exec_module(module)
    return sys.modules["pinball_api"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_api(**config: Any) -> Iterator[tuple[Any, str]]:
    """A pinball API on a free 127.0.0.1 port: (api object, base URL)."""
    m = load_pinball()
    api = m.PinballApi(m.PinballConfig(**config))
    with m.serve_in_thread(api, free_port()) as url:
        yield api, url


def pinball_definition(url: str, **overrides: Any) -> dict[str, Any]:
    """The example's YAML definition as a dict, pointed at ``url``, fast settings."""
    d = yaml.safe_load((PINBALL / "pinball.yaml").read_text())
    d.update(base_url=url, backoff_base=0.01, backoff_max=0.2, rate_limit=1000)
    d.update(overrides)
    return d


def make_settings(
    project: Path,
    definition: dict[str, Any],
    name: str = "pinball",
    *,
    warehouse: dict[str, str] | None = None,
) -> Settings:
    """Write the definition and an eventlake.toml into ``project``; load them.

    ``warehouse``: the ``[warehouse]`` keys (default: a DuckDB file ``wh.duckdb``).
    """
    (project / f"{name}.yaml").write_text(yaml.safe_dump(definition))
    keys = warehouse or {"path": "wh.duckdb"}
    section = "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    (project / "eventlake.toml").write_text(
        f'[lake]\npath = "lake"\n[warehouse]\n{section}'
        f'[sources.api.{name}]\ndefinition = "{name}.yaml"\n'
    )
    return load_config(project / "eventlake.toml")


#: The pinball example's own dbt project and dashboard, copied into a test project.
PINBALL_FOLDERS = ("models", "seeds", "macros", "dashboards")


def pinball_project(
    project: Path,
    url: str,
    *,
    warehouse: dict[str, str] | None = None,
    schedule: str | None = None,
    extra: str = "",
) -> Settings:
    """The whole pinball example in ``project``: its definition pointed at ``url`` (fast
    retries), its models, seeds, macros and dashboard, and an eventlake.toml like the
    example's (``warehouse``: the [warehouse] keys, default DuckDB ``wh.duckdb``;
    ``schedule``: the source's cron under ``eventlake up``; ``extra``: more TOML)."""
    import shutil

    (project / "pinball.yaml").write_text(yaml.safe_dump(pinball_definition(url)))
    for folder in PINBALL_FOLDERS:
        shutil.copytree(PINBALL / folder, project / folder, dirs_exist_ok=True)
    keys = warehouse or {"path": "wh.duckdb"}
    section = "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    cron = f'[schedule]\napi = {{ pinball = "{schedule}" }}\n' if schedule else ""
    (project / "eventlake.toml").write_text(
        f'[lake]\npath = "lake"\n[warehouse]\n{section}'
        '[models]\nevents = "off"\n'
        '[sources.api.pinball]\ndefinition = "pinball.yaml"\n'
        f"{cron}{extra}"
    )
    return load_config(project / "eventlake.toml")


def admin(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the pinball API's admin endpoint (POST with a body, GET without)."""
    if body is None:
        return httpx.get(f"{url}/_admin/{path}").json()
    return httpx.post(f"{url}/_admin/{path}", json=body).json()


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on the published warehouse through its read-only reader (any engine)."""
    from eventlake.warehouse import open_warehouse

    reader = open_warehouse(settings).reader()
    try:
        return [tuple(r) for r in reader.execute(sql).rows]
    finally:
        reader.close()


def max_in_window(times: list[float], window: float) -> int:
    """The most requests the server saw within any ``window`` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@contextlib.contextmanager
def api_process(*args: str) -> Iterator[str]:
    """The pinball API as its own process (its own GIL: clean server-side timings)."""
    import subprocess
    import time

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(PINBALL / "pinball_api.py"), "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/_admin/stats", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pinball API process did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
