"""Which allocator Arrow uses in eventlake's processes: the system's (glibc), not mimalloc.

pyarrow's default pool on Linux is mimalloc, which hands freed pages back to the kernel
soon after a large buffer is freed and faults them in again for the next one. Every
eventlake stage that uses Arrow allocates and frees tens of MB per batch (the lander's
columns and Parquet pages, the generator's records), so with mimalloc a large part of
their time is the kernel's. Measured on this project's 2-core machine:

- ``benchmarks/bench_land.py --format request`` (300,000 events): the lander took
  1.70 s with mimalloc, 1.28 s with the system pool and 1.17 s with jemalloc; a
  profile of one run showed 1.25 s of system time against 0.32 s;
- the generator's Arrow encoder: ~0.6 s of system time per 1M events, a third of the
  run, against ~0.2 s (see ``generate/arrow.py``).

jemalloc was as fast, but not every pyarrow build has it; the system allocator always
exists. Buffers remember the pool they came from, so switching at any time is safe.
A user who sets ``ARROW_DEFAULT_MEMORY_POOL`` keeps their choice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["POOL_ENV", "prefer_system_allocator", "system_memory_pool"]

#: Arrow's own variable naming its default pool: when set, the user chose.
POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def prefer_system_allocator() -> None:
    """Make the system allocator Arrow's default pool in this process and the processes it
    starts, unless ``ARROW_DEFAULT_MEMORY_POOL`` already names one; idempotent.

    Cheap: it sets the variable Arrow reads when it first needs its default pool, so
    pyarrow is not imported here (a command that never uses Arrow does not pay for it);
    if pyarrow is already imported, the pool is switched directly.
    """
    choice = os.environ.setdefault(POOL_ENV, "system")
    arrow = sys.modules.get("pyarrow")
    if arrow is not None and choice == "system":
        arrow.set_memory_pool(arrow.system_memory_pool())


@contextmanager
def system_memory_pool() -> Iterator[None]:
    """Arrow allocates from the system allocator while the block runs (then the previous
    default pool again): for library callers that keep their own process-wide choice."""
    import pyarrow as pa

    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)
