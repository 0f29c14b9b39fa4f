"""fsutil.flock_exclusive: a bounded wait for an exclusive flock, and the warehouses' use of it."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from eventlake.errors import WarehouseError
from eventlake.fsutil import flock_exclusive
from eventlake.warehouse.duckdb import write_transaction


def test_takes_a_free_lock_and_gives_up_on_a_held_one(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    # flock belongs to an open file description: two opens conflict even in one process
    with open(path, "a+") as holder, open(path, "a+") as other:
        assert flock_exclusive(holder.fileno(), 0.0)
        assert not flock_exclusive(other.fileno(), 0.1, poll=0.01)
        fcntl.flock(holder.fileno(), fcntl.LOCK_UN)
        assert flock_exclusive(other.fileno(), 0.1, poll=0.01)


def test_a_duckdb_writer_behind_another_one_fails_naming_the_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with open(tmp_path / "warehouse.duckdb.lock", "a+") as holder:
        assert flock_exclusive(holder.fileno(), 0.0)
        with (
            pytest.raises(WarehouseError, match=r"warehouse\.duckdb is locked by another writer"),
            write_transaction(path, timeout=0.1),
        ):
            pass
