"""The tracking plan: loading with located errors, and compiled validators vs. a reference."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlake.config import load_config
from eventlake.errors import TrackingPlanError
from eventlake.tracking_plan import (
    CompiledPlan,
    EventRule,
    PropertyRule,
    compile_plan,
    load_tracking_plan,
    parse_tracking_plan,
    plan_from_settings,
)

TEMPLATE = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


def test_the_template_plan_loads_with_the_shared_event_vocabulary() -> None:
    plan = load_tracking_plan(TEMPLATE)
    assert set(plan.events) == {
        "Signed Up",
        "Session Started",
        "Level Started",
        "Level Completed",
        "Level Failed",
        "Item Purchased",
        "Guild Joined",
    }
    purchase = {p.name: p for p in plan.events["Item Purchased"].properties}
    assert purchase["price"].type == "number" and purchase["price"].required
    assert (
        plan.check_track(
            "Item Purchased", b'{"item": "sword", "price": 4.99, "currency": "EUR", "quantity": 1}'
        )
        is None
    )


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("events:\n  A:\n    properties:\n      x: {type: money}\n", ":4:", "unknown type 'money'"),
        ("unplanned_events: maybe\n", ":1:19", "allow, quarantine"),
        ("events:\n  A:\n    propertys: {}\n", ":3:5", "unknown key 'propertys'"),
        ("events:\n  A:\n    properties:\n      x: {required: true}\n", ":4:", "no 'type'"),
        (
            "events:\n  A:\n    properties:\n      x: {type: integer, allowed: [a]}\n",
            ":4:",
            "not a integer",
        ),
        (
            "events:\n  A:\n    properties:\n      x: {type: object, allowed: [1]}\n",
            ":4:",
            "not supported",
        ),
        (
            "events:\n  A:\n    properties:\n      x: {type: string, required: maybe}\n",
            ":4:",
            "true or false",
        ),
        ("events:\n  A: {}\n  A: {}\n", ":3:3", "duplicate key 'A'"),
        ("events: [1, 2\n", ":2:", "invalid YAML"),
        ("", "", "empty"),
        ("- a\n", ":1:1", "must be a mapping"),
        ("colour: red\n", ":1:1", "unknown top-level key"),
    ],
)
def test_an_invalid_plan_names_file_line_and_column(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(TrackingPlanError) as info:
        load_tracking_plan(path)
    message = str(info.value)
    assert message.startswith(str(path) + where)
    assert words in message


def test_an_unreadable_plan_is_a_tracking_plan_error(tmp_path: Path) -> None:
    with pytest.raises(TrackingPlanError, match="cannot read"):
        load_tracking_plan(tmp_path / "missing.yaml")


def test_plan_from_settings(tmp_path: Path) -> None:
    assert plan_from_settings(load_config(None, base_dir=tmp_path)).events == {}
    with pytest.raises(TrackingPlanError):
        plan_from_settings(load_config(None, base_dir=tmp_path, spec={"tracking_plan": "x.yaml"}))
    (tmp_path / "tracking-plan.yaml").write_text(TEMPLATE.read_text())
    assert "Level Started" in plan_from_settings(load_config(None, base_dir=tmp_path)).events


def test_unplanned_policy() -> None:
    allow = parse_tracking_plan("unplanned_events: allow\nevents: {A: {}}\n")
    strict = parse_tracking_plan("unplanned_events: quarantine\nevents: {A: {}}\n")
    assert allow.check_track("B", None) is None
    assert strict.check_track("A", None) is None
    assert strict.check_track("B", None) == (
        "unplanned_event",
        "event 'B' is not in the tracking plan (unplanned_events: quarantine)",
    )
    assert CompiledPlan.allow_all().check_track("anything", b"[]") is None


def test_reasons_name_the_property() -> None:
    plan = parse_tracking_plan(
        "events:\n  Buy:\n    properties:\n"
        "      item id: {type: string, required: true, allowed: [a, b]}\n"
        "      n: {type: number, allowed: [1, 2.5]}\n"
        "      ok: {type: boolean, allowed: [true]}\n"
    )
    assert plan.check_track("Buy", b"{}") == (
        "plan_violation",
        "event 'Buy': missing required property `properties.item id`",
    )
    code, reason = plan.check_track("Buy", b'{"item id": "c"}')
    assert "`properties.item id`" in reason and "allowed: 'a', 'b'" in reason
    _, reason = plan.check_track("Buy", b'{"item id": "a", "n": 3}')
    assert "Invalid value 3.0 - at `properties.n`" in reason
    assert plan.check_track("Buy", b'{"item id": "a", "n": 2.5, "ok": true}') is None
    assert plan.check_track("Buy", b'{"item id": "a", "ok": false}') is not None


# -- property test: the compiled validator agrees with a direct reading of the rules ------

TYPES = ["string", "integer", "number", "boolean", "timestamp", "object", "array"]
SAMPLES = {
    "string": st.text(max_size=5),
    "integer": st.integers(-5, 5),
    "number": st.one_of(st.integers(-3, 3), st.floats(-3, 3, allow_nan=False)),
    "boolean": st.booleans(),
}


@st.composite
def rules(draw) -> EventRule:
    props = []
    for i in range(draw(st.integers(0, 4))):
        ptype = draw(st.sampled_from(TYPES))
        allowed = None
        if ptype in SAMPLES and draw(st.booleans()):
            values = draw(st.lists(SAMPLES[ptype], min_size=1, max_size=3))
            allowed = tuple(dict.fromkeys(values))
        props.append(PropertyRule(f"p{i}", ptype, draw(st.booleans()), allowed))
    return EventRule("E", tuple(props))


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-3, 3, allow_nan=False),
    st.text(max_size=5),
    st.just("2026-01-01T00:00:00Z"),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def reference_ok(rule: EventRule, props: dict) -> bool:
    """The plan's rules read literally, one property at a time."""
    for p in rule.properties:
        if p.name not in props or props[p.name] is None:
            if p.required:
                return False
            continue
        v = props[p.name]
        ok = {
            "string": isinstance(v, str),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": isinstance(v, bool),
            "timestamp": isinstance(v, str) and _is_timestamp(v),
            "object": isinstance(v, dict),
            "array": isinstance(v, list),
        }[p.type]
        if not ok:
            return False
        if p.allowed is not None and not any(
            v == a and type(v) is not bool and type(a) is not bool or v is a for a in p.allowed
        ):
            return False
    return True


def _is_timestamp(text: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", text))


@given(rule=rules(), props=st.dictionaries(st.sampled_from(["p0", "p1", "p2", "p3", "x"]), _values))
@settings(max_examples=400, deadline=None)
def test_compiled_validator_agrees_with_the_reference(rule: EventRule, props: dict) -> None:
    plan = compile_plan({"E": rule})
    verdict = plan.check_track("E", msgspec.json.encode(props))
    assert (verdict is None) == reference_ok(rule, props), verdict
    if verdict is not None:
        assert verdict[0] == "plan_violation"


def test_timestamp_properties_accept_offsets() -> None:
    plan = compile_plan({"E": EventRule("E", (PropertyRule("at", "timestamp", True),))})
    assert plan.check_track("E", b'{"at": "2026-01-01T01:00:00+01:00"}') is None
    assert plan.check_track("E", b'{"at": "soon"}') is not None
