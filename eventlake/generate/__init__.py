"""The generate stage: a synthetic game world whose players send Segment events.

Deterministic for a seed: the same :class:`WorldConfig` gives the same events, byte for
byte (message ids included). The pipeline of this package::

    build_world(config)  -> World        players and their dimensions   (world.py)
    simulate(world)      -> EventFrame   events as numpy columns         (activity.py)
    write_bus / write_jsonl / send_http  where they go                  (outputs.py)
    write_bus_parallel                   the bus, several processes     (parallel.py)
        BusEncoder (JSON records), ArrowEncoder (Arrow records)        (encode.py, arrow.py)

:func:`generate` runs the first two. Docs: docs/generator.md.
"""

from __future__ import annotations

from eventlake.generate.activity import EventFrame, simulate
from eventlake.generate.arrow import ArrowEncoder
from eventlake.generate.encode import BusEncoder, EncodedChunk, segment_event
from eventlake.generate.outputs import OutputResult, send_http, write_bus, write_jsonl
from eventlake.generate.parallel import write_bus_parallel
from eventlake.generate.world import World, WorldConfig, build_world

__all__ = [
    "ArrowEncoder",
    "BusEncoder",
    "EncodedChunk",
    "EventFrame",
    "OutputResult",
    "World",
    "WorldConfig",
    "build_world",
    "generate",
    "segment_event",
    "send_http",
    "simulate",
    "write_bus",
    "write_bus_parallel",
    "write_jsonl",
]


def generate(config: WorldConfig) -> tuple[World, EventFrame]:
    """The world of ``config`` and all its events, sorted by arrival at the collector."""
    world = build_world(config)
    return world, simulate(world)
