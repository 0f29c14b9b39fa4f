"""The generator's vocabulary: event heads, their property codes and plan-breaking variants.

An event row of an :class:`~eventlake.generate.activity.EventFrame` names its *head* (call
type, track event name, page/screen name) by index into :data:`HEADS`, and its properties
by two small integer codes ``pa``/``pb`` whose meaning depends on the head. This module is
the one place that turns codes into the properties a client would send
(:func:`properties`), so the per-event Python path (HTTP, files, the spec check) and the
vectorised bus encoder (``generate/encode.py``, which pre-renders the same dicts into text
tables) cannot disagree. Event names and properties follow
``eventlake/templates/tracking-plan.yaml`` and docs/architecture.md "Event vocabulary".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eventlake.generate.world import (
    COUNTRIES,
    GUILDS,
    ITEMS,
    LEVEL_FAIL_CAUSES,
    PLATFORMS,
    SCREENS,
    SIGNUP_METHODS,
)

__all__ = [
    "BAD_KINDS",
    "BREAKABLE_HEADS",
    "CURRENCIES",
    "NO_PROPERTIES",
    "HEADS",
    "pa_domain",
    "pb_domain",
    "pb_shape",
    "properties",
    "split_properties",
]

CURRENCIES = ["USD", "EUR", "GBP"]
COUNTRY_CURRENCY = np.array([CURRENCIES.index(v[1]) for v in COUNTRIES.values()], dtype=np.int64)
ITEM_NAMES = list(ITEMS)
ITEM_WEIGHTS = np.array([ITEMS[i][1] for i in ITEM_NAMES]) / sum(v[1] for v in ITEMS.values())
WEB_PLATFORM = list(PLATFORMS).index("Web")

MAX_LEVEL = 500
MAX_SESSION_NUMBER = 2000
SCORE_STEPS = 100
MAX_DURATION = 300
MAX_QUANTITY = 5

#: (type, event, name) of every head; track events have an ``event``, pages/screens a name.
HEADS: list[tuple[str, str | None, str | None]] = [
    ("track", "Session Started", None),
    ("track", "Level Started", None),
    ("track", "Level Completed", None),
    ("track", "Level Failed", None),
    ("track", "Item Purchased", None),
    *[("screen", None, s) for s in SCREENS],
    *[("page", None, s) for s in SCREENS],
    ("track", "Signed Up", None),
    ("track", "Guild Joined", None),
    ("identify", None, None),
    ("alias", None, None),
    ("group", None, None),
]
H_SESSION, H_LEVEL_STARTED, H_LEVEL_COMPLETED, H_LEVEL_FAILED, H_PURCHASE = range(5)
H_SCREEN0 = 5
H_PAGE0 = H_SCREEN0 + len(SCREENS)
H_SIGNED_UP = H_PAGE0 + len(SCREENS)
H_GUILD_JOINED, H_IDENTIFY, H_ALIAS, H_GROUP = range(H_SIGNED_UP + 1, H_SIGNED_UP + 5)
#: Heads whose calls carry no properties.
NO_PROPERTIES = (H_IDENTIFY, H_ALIAS, H_GROUP)
#: Heads whose properties the plan constrains, so a variant can break it.
BREAKABLE_HEADS = [H_SESSION, H_LEVEL_STARTED, H_LEVEL_COMPLETED, H_LEVEL_FAILED, H_PURCHASE]
#: Number of plan-breaking variants (``bad`` codes 1..BAD_KINDS).
BAD_KINDS = 2


def _level_completed(pb: int) -> dict[str, Any]:
    score_k, dur = divmod(pb, MAX_DURATION)
    return {"score": score_k * 10, "duration_seconds": float(dur)}


def split_properties(head: int, pa: int, pb: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The properties of a fast head as two parts: the ``pa`` part then the ``pb`` part."""
    if head == H_SESSION:
        return {"session_number": pa}, {}
    if head == H_LEVEL_STARTED:
        return {"level": pa}, {}
    if head == H_LEVEL_COMPLETED:
        return {"level": pa}, _level_completed(pb)
    if head == H_LEVEL_FAILED:
        return {"level": pa}, {"cause": LEVEL_FAIL_CAUSES[pb]}
    if head == H_PURCHASE:
        item = ITEM_NAMES[pa]
        currency, qty = divmod(pb, MAX_QUANTITY)
        return {"item": item, "price": ITEMS[item][0]}, {
            "currency": CURRENCIES[currency],
            "quantity": qty + 1,
        }
    if H_SCREEN0 <= head < H_PAGE0:
        return {}, {}
    if H_PAGE0 <= head < H_SIGNED_UP:
        screen = SCREENS[pa]
        return {"path": "/" + screen.lower(), "title": screen}, {}
    if head == H_SIGNED_UP:
        return {"method": SIGNUP_METHODS[pa]}, {}
    if head == H_GUILD_JOINED:
        gid, gname = GUILDS[pa]
        return {"guild_id": gid, "guild_name": gname}, {}
    raise ValueError(f"head {head} has no properties")


def pa_domain(head: int) -> int:
    """How many ``pa`` codes a fast head uses (table size)."""
    if head == H_SESSION:
        return MAX_SESSION_NUMBER + 1
    if head in (H_LEVEL_STARTED, H_LEVEL_COMPLETED, H_LEVEL_FAILED):
        return MAX_LEVEL + 1
    if head == H_PURCHASE:
        return len(ITEM_NAMES)
    if H_PAGE0 <= head < H_SIGNED_UP:
        return len(SCREENS)
    if head == H_SIGNED_UP:
        return len(SIGNUP_METHODS)
    if head == H_GUILD_JOINED:
        return len(GUILDS)
    return 1


def pb_domain(head: int) -> int:
    """How many ``pb`` codes a fast head uses (table size)."""
    if head == H_LEVEL_COMPLETED:
        return SCORE_STEPS * MAX_DURATION
    if head == H_LEVEL_FAILED:
        return len(LEVEL_FAIL_CAUSES)
    if head == H_PURCHASE:
        return len(CURRENCIES) * MAX_QUANTITY
    return 1


def pb_shape(head: int) -> tuple[int, ...]:
    """The independent properties folded into a head's ``pb`` code, as a row-major shape.

    ``pb == np.ravel_multi_index(digits, pb_shape(head))``; each digit sets one property
    (Level Completed: score step, duration; Item Purchased: currency, quantity), so the
    plan verdict of a code is the AND of its digits' verdicts (``generate/verdicts.py``).
    """
    if head == H_LEVEL_COMPLETED:
        return (SCORE_STEPS, MAX_DURATION)
    if head == H_PURCHASE:
        return (len(CURRENCIES), MAX_QUANTITY)
    return (pb_domain(head),)


def _break(head: int, props: dict[str, Any], bad: int) -> dict[str, Any]:
    """A plan-breaking variant of ``props`` (a wrong type, a missing or unknown value)."""
    props = dict(props)
    if head == H_PURCHASE:
        if bad == 1:
            props["item"] = "laser_sword"  # not an allowed item
        else:
            props["price"] = f"{props['price']}"  # a string where a number is required
    elif head == H_SESSION:
        props["session_number"] = str(props["session_number"])
    elif bad == 1:
        props.pop("level", None)  # a required property missing
    else:
        props["level"] = f"level-{props['level']}"
    return props


def properties(head: int, pa: int, pb: int, x: int, bad: int) -> dict[str, Any] | None:
    """The ``properties`` a client sends for one event row (``None``: the call has none)."""
    if head in NO_PROPERTIES:
        return None
    first, second = split_properties(head, pa, pb)
    props = {**first, **second}
    return _break(head, props, bad) if bad else props
