"""Every package's public names are listed in __all__ and importable."""

from __future__ import annotations

import importlib
import pkgutil

import eventlake

SKIP = {"eventlake.__main__"}


def _modules() -> list[str]:
    names = ["eventlake"]
    for info in pkgutil.walk_packages(eventlake.__path__, "eventlake."):
        if info.name in SKIP or ".models" in info.name or info.name.startswith("eventlake.cli"):
            continue
        names.append(info.name)
    return names


def test_every_module_declares_all_and_its_names_exist() -> None:
    problems = []
    for name in _modules():
        module = importlib.import_module(name)
        public = getattr(module, "__all__", None)
        if public is None:
            if not name.endswith("__init__") and module.__doc__ is None:
                problems.append(f"{name}: no __all__ and no docstring")
            continue
        for attr in public:
            if not hasattr(module, attr):
                problems.append(f"{name}.__all__ names missing {attr}")
    assert problems == []


def test_every_module_has_a_docstring() -> None:
    missing = [n for n in _modules() if not (importlib.import_module(n).__doc__ or "").strip()]
    assert missing == []
