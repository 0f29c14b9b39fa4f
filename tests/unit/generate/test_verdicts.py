"""Plan verdict tables of the bus encoder, on plans where the obvious reference fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import numpy as np
import pytest

from eventlake.generate import BusEncoder, WorldConfig, generate
from eventlake.generate import catalog as C
from eventlake.generate.verdicts import plan_verdicts
from eventlake.tracking_plan import parse_tracking_plan

PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"
ITEMS = "allowed: [sword, knife, shield, potion, bow, armor, gems_pack]"
CURRENCY = "allowed: [USD, EUR, GBP]"


@pytest.fixture(scope="module")
def world_frame():
    return generate(WorldConfig(users=250, days=8, start=dt.date(2026, 2, 20), seed=5))


def _plan(items: str, currency: str):
    text = PLAN.read_text().replace(ITEMS, items).replace(CURRENCY, currency)
    assert text != PLAN.read_text()
    return parse_tracking_plan(text)


def _tables(plan):
    """Offsets laid out as ``BusEncoder`` lays out its property pieces, and the tables."""
    off1 = np.zeros(len(C.HEADS), np.int64)
    off2 = np.zeros(len(C.HEADS), np.int64)
    n1 = n2 = 0
    for h in range(len(C.HEADS)):
        off1[h], off2[h] = n1, n2
        n1 += 1 if h in C.NO_PROPERTIES else C.pa_domain(h)
        n2 += 1 if h in C.NO_PROPERTIES else C.pb_domain(h)
    return off1, off2, plan_verdicts(plan, off1, off2, n1, n2)


def _truth(plan, head: int, a: int, b: int) -> int:
    _, event, _ = C.HEADS[head]
    props = C.properties(head, a, b, 0, 0)
    return int(plan.check_track(event, msgspec.json.encode(props)) is None)


def test_tables_match_a_check_of_every_purchase_code() -> None:
    # potion (item 0) is out: the all-zero reference fails, one change fixes it
    plan = _plan("allowed: [sword, knife]", "allowed: [USD, GBP]")
    off1, off2, (ok1, ok2) = _tables(plan)
    h = C.H_PURCHASE
    for a in range(C.pa_domain(h)):
        for b in range(C.pb_domain(h)):
            v1, v2 = ok1[off1[h] + a], ok2[off2[h] + b]
            assert v1 >= 0 and v2 >= 0
            got = int(v1 == 1 and v2 == 1)
            assert got == _truth(plan, h, a, b), (a, b)
    # level completed: 30,000 pb codes, all valid under the shipped plan
    assert (ok2[off2[C.H_LEVEL_COMPLETED] : off2[C.H_LEVEL_COMPLETED] + 30_000] == 1).all()


def test_no_reference_leaves_codes_to_prepare_events(world_frame) -> None:
    # neither potion nor USD, and no single change from (potion, USD) is valid:
    # the purchase codes stay unknown and go through prepare_events, which decides
    plan = _plan("allowed: [sword]", "allowed: [EUR]")
    off1, off2, (ok1, ok2) = _tables(plan)
    h = C.H_PURCHASE
    assert (ok1[off1[h] : off1[h] + C.pa_domain(h)] == -1).all()
    world, frame = world_frame
    encoder = BusEncoder(world, source="game", plan=plan)
    rows = np.arange(len(frame), dtype=np.int64)
    chunk = encoder.encode(frame, rows)
    buys = frame.head == h
    sword_eur = buys & (frame.pa == C.ITEM_NAMES.index("sword")) & (frame.bad == 0)
    sword_eur &= frame.pb // C.MAX_QUANTITY == C.CURRENCIES.index("EUR")
    assert sword_eur.any() and (buys & ~sword_eur).any()
    values = [msgspec.json.decode(v) for v in chunk.values]
    bought = [v for v in values if v["event"] == "Item Purchased"]
    assert len(bought) == sword_eur.sum()
    assert len(values) + len(chunk.quarantine_values) == len(frame)
    ref = [encoder.prepare(frame, int(i)) for i in np.flatnonzero(buys)[:200]]
    kept = sum(len(r.records) for r in ref)
    assert kept == sword_eur[np.flatnonzero(buys)[:200]].sum()
