"""Tracking-plan verdicts of the bus encoder's property codes, as two lookup tables.

The fast bus encoders render an event's ``properties`` from two codes (``pa``, ``pb``;
``generate/catalog.py``) and must know, without a Python call per event, whether the
collector's plan accepts them. A plan checks each property on its own (type, required,
allowed values: ``eventlake/tracking_plan.py``), so the verdict of a code tuple is the AND
of its parts' verdicts: ``pa``, and each digit of ``pb`` (``catalog.pb_shape``). One valid
*reference* tuple is found, then every value of each part is checked with the others held
at the reference: a few thousand checks per encoder instead of one per distinct code
(Level Completed alone has 30,000 ``pb`` codes).

Tables hold 1 (valid), 0 (breaks the plan) or -1 (unknown: no valid reference found, so
the encoder sends those rows through ``prepare_events``, which decides exactly).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np
import numpy.typing as npt

from eventlake.generate import catalog as C
from eventlake.tracking_plan import CompiledPlan

__all__ = ["plan_verdicts"]

Table = npt.NDArray[np.int8]
_ENC = msgspec.json.encode


def _reference(check: Callable[[list[int]], bool], dims: tuple[int, ...]) -> list[int] | None:
    """A valid code tuple: all zeros, or all zeros but one part (else None)."""
    ref = [0] * len(dims)
    if check(ref):
        return ref
    for part, size in enumerate(dims):
        for value in range(1, size):
            trial = ref.copy()
            trial[part] = value
            if check(trial):
                return trial
    return None


def _head_verdicts(plan: CompiledPlan, head: int, event: str) -> tuple[Table, Table]:
    """(verdict per ``pa`` code, verdict per ``pb`` code) of one track head."""
    shape = C.pb_shape(head)
    dims = (C.pa_domain(head), *shape)

    def check(codes: list[int]) -> bool:
        pb = int(np.ravel_multi_index(codes[1:], shape))
        props = C.properties(head, codes[0], pb, 0, 0)
        return plan.check_track(event, _ENC(props)) is None

    ref = _reference(check, dims)
    if ref is None:
        return np.full(dims[0], -1, np.int8), np.full(C.pb_domain(head), -1, np.int8)
    parts: list[Table] = []
    for part, size in enumerate(dims):
        verdict = np.empty(size, np.int8)
        for value in range(size):
            trial = ref.copy()
            trial[part] = value
            verdict[value] = check(trial)
        parts.append(verdict)
    ok2 = np.ones(shape, np.int8)
    for axis, verdict in enumerate(parts[1:]):
        view = [1] * len(shape)
        view[axis] = len(verdict)
        ok2 &= verdict.reshape(view)
    return parts[0], ok2.ravel()


def plan_verdicts(
    plan: CompiledPlan | None,
    p1_offsets: npt.NDArray[np.int64],
    p2_offsets: npt.NDArray[np.int64],
    p1_size: int,
    p2_size: int,
) -> tuple[Table, Table]:
    """Verdict tables indexed like the encoder's property pieces (``offset[head] + code``).

    Calls without a plan check (pages, screens, identify, alias, group) and every code
    when ``plan`` is None are valid.
    """
    ok1 = np.ones(p1_size, np.int8)
    ok2 = np.ones(p2_size, np.int8)
    if plan is None:
        return ok1, ok2
    for head, (etype, event, _) in enumerate(C.HEADS):
        if etype != "track" or event is None or head in C.NO_PROPERTIES:
            continue
        v1, v2 = _head_verdicts(plan, head, event)
        ok1[p1_offsets[head] : p1_offsets[head] + len(v1)] = v1
        ok2[p2_offsets[head] : p2_offsets[head] + len(v2)] = v2
    return ok1, ok2
