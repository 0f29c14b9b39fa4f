"""Garbage-collector settings for eventlake's long-running pipeline processes.

The collector and the lander allocate many short-lived objects per request or batch and
make almost no reference cycles, while everything they loaded at start-up (the modules;
for the lander numba's compiler state and pyarrow's, several hundred thousand objects)
stays for the life of the process. With the default thresholds a collection runs every
700 allocations and, now and then, a full one walks all of that start-up heap: measured on
the lander, ~0.1 s of a 0.5 s batch of 300,000 events (``bench_land.py --format request``).
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc() -> None:
    """Call once per process, after start-up (imports done, app or lander built).

    ``gc.freeze()`` moves everything allocated so far out of every later collection for
    good; a gen-0 threshold of 50,000 allocations keeps collections rare (cycles are still
    collected, just less often).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
