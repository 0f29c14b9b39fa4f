"""HTTP helpers of the common core, shared by the stages that speak HTTP as clients.

The tracker SDK (:mod:`eventlake.tracker.transport`) and the REST API source
(:mod:`eventlake.sources.api.http`) both honour a server's ``Retry-After``; the header is
parsed here, and each stage turns the value into seconds against its own clock.
"""

from __future__ import annotations

import datetime as dt
import email.utils

__all__ = ["parse_retry_after_value"]


def parse_retry_after_value(value: str | None) -> float | dt.datetime | None:
    """A ``Retry-After`` header as delta seconds (clamped at 0) or an HTTP date.

    None when the header is absent, empty or neither form.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
