"""The land stage: bus -> Parquet lake, exactly once, plus the quarantine tools.

``Lander(config.land, bus, lake).run()`` lands what the bus held when it started
(``follow=True`` keeps going) and returns a :class:`LandResult`;
``Lander.from_settings(settings)`` builds one from a whole configuration and
``land(settings)`` is the one-call form. Quarantined events
land in ``<lake>/quarantine/``; :mod:`eventlake.land.quarantine` lists and replays them.
"""

from __future__ import annotations

from eventlake.config import Settings
from eventlake.land.lander import LANDER_STREAM, BatchSummary, Lander, LandResult, commit_id_for
from eventlake.land.offsets import LakeOffsets

__all__ = [
    "LANDER_STREAM",
    "BatchSummary",
    "LakeOffsets",
    "LandResult",
    "Lander",
    "commit_id_for",
    "land",
]


def land(settings: Settings, *, follow: bool = False) -> LandResult:
    """Land everything on the bus now (or keep landing with ``follow``); idempotent."""
    lander = Lander.from_settings(settings)
    try:
        return lander.run(follow=follow)
    finally:
        lander.close()
