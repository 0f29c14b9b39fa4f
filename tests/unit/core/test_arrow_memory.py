"""eventlake's processes allocate Arrow memory from the system allocator (arrow_memory.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pyarrow as pa
import pytest

from eventlake.arrow_memory import POOL_ENV, prefer_system_allocator, system_memory_pool


@pytest.fixture
def restore_pool() -> Iterator[pa.MemoryPool]:
    previous = pa.default_memory_pool()
    yield previous
    pa.set_memory_pool(previous)


def test_switches_the_pool_of_a_process_that_imported_pyarrow(
    monkeypatch: pytest.MonkeyPatch, restore_pool: pa.MemoryPool
) -> None:
    monkeypatch.delenv(POOL_ENV, raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    prefer_system_allocator()
    assert pa.default_memory_pool().backend_name == "system"
    assert os.environ[POOL_ENV] == "system"  # the processes it starts inherit the choice


def test_keeps_the_users_choice(
    monkeypatch: pytest.MonkeyPatch, restore_pool: pa.MemoryPool
) -> None:
    monkeypatch.setenv(POOL_ENV, "mimalloc")
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    prefer_system_allocator()
    assert pa.default_memory_pool().backend_name == "mimalloc"


def test_set_before_pyarrow_is_imported() -> None:
    """The CLI calls it before anything imports pyarrow: Arrow reads the variable."""
    code = (
        "import sys\n"
        "from eventlake.arrow_memory import prefer_system_allocator\n"
        "prefer_system_allocator()\n"
        "assert 'pyarrow' not in sys.modules\n"
        "import pyarrow as pa\n"
        "print(pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != POOL_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "system"


def test_block_scoped_pool(restore_pool: pa.MemoryPool) -> None:
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    with system_memory_pool():
        assert pa.default_memory_pool().backend_name == "system"
    assert pa.default_memory_pool().backend_name == "mimalloc"
