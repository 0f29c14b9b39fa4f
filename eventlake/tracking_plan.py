"""The tracking plan: a YAML file compiled once into fast per-event validators.

The plan names each track event and, for each of its properties, a type (``string``,
``integer``, ``number``, ``boolean``, ``timestamp``, ``object``, ``array``), whether it is
``required`` and the ``allowed`` values; ``unplanned_events`` says what happens to a track
event the plan does not name (``allow`` or ``quarantine``)::

    unplanned_events: allow
    events:
      Item Purchased:
        description: A player bought an item.
        properties:
          item: {type: string, required: true, allowed: [sword, shield]}
          price: {type: number, required: true}

:func:`load_tracking_plan` reads and checks the file (a :class:`TrackingPlanError` names
the file, line and column of a mistake) and compiles every event into a ``msgspec.Struct``
type: decoding an event's raw ``properties`` JSON into that type checks every property's
type, presence and (for strings and integers) allowed values in C, in one pass, with no
per-event interpretation of the plan. Allowed values of numbers and booleans, which msgspec
literals cannot express, are checked by a small closure built at compile time.

Used by :func:`eventlake.spec.prepare_events` (collector, generator, quarantine replay).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import yaml

from eventlake.errors import TrackingPlanError

if TYPE_CHECKING:
    from eventlake.config import Settings

__all__ = [
    "PROPERTY_TYPES",
    "CompiledPlan",
    "EventRule",
    "PropertyRule",
    "compile_plan",
    "load_tracking_plan",
    "parse_tracking_plan",
    "plan_from_settings",
]

#: Property type names of the plan, and the Python type each decodes to.
PROPERTY_TYPES: Mapping[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "timestamp": _dt.datetime,
    "object": dict[str, Any],
    "array": list[Any],
}

_POLICIES = ("allow", "quarantine")
_PROPERTY_KEYS = {"type", "required", "allowed", "description"}
_EVENT_KEYS = {"description", "properties"}
_PLAN_KEYS = {"unplanned_events", "events", "description"}


@dataclass(frozen=True, slots=True)
class PropertyRule:
    """One property of a planned event."""

    name: str
    type: str
    required: bool = False
    allowed: tuple[Any, ...] | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class EventRule:
    """One planned track event and its properties."""

    name: str
    properties: tuple[PropertyRule, ...] = ()
    description: str = ""


#: A compiled validator: raw ``properties`` JSON -> ``None`` when valid, else the reason.
Validator = Callable[[bytes | str], "str | None"]
#: The same rules for many events at once: a JSON array of ``properties`` objects -> whether
#: every one is valid (one decode in C; the collector's fast path, which needs no reason).
BatchValidator = Callable[[bytes], bool]


@dataclass(frozen=True)
class CompiledPlan:
    """A tracking plan ready to validate events; immutable and thread-safe.

    ``validators`` maps each planned event name to its compiled validator.
    """

    events: Mapping[str, EventRule] = field(default_factory=dict)
    unplanned_events: str = "allow"
    source: str = "<built-in: allow every event>"
    validators: Mapping[str, Validator] = field(default_factory=dict, repr=False)
    batch_validators: Mapping[str, BatchValidator] = field(default_factory=dict, repr=False)

    @classmethod
    def allow_all(cls) -> CompiledPlan:
        """The plan used when no file is configured: every well-formed event passes."""
        return cls()

    def check_track(self, event: str, properties: bytes | str | None) -> tuple[str, str] | None:
        """Validate one track event; ``None`` if it passes, else ``(reason_code, reason)``.

        ``properties`` is the event's raw JSON object (``None`` when absent).
        """
        validator = self.validators.get(event)
        if validator is None:
            if self.unplanned_events == "quarantine":
                return (
                    "unplanned_event",
                    f"event {event!r} is not in the tracking plan (unplanned_events: quarantine)",
                )
            return None
        reason = validator(properties if properties is not None else b"{}")
        if reason is None:
            return None
        return "plan_violation", f"event {event!r}: {reason}"


def _literal(values: tuple[Any, ...]) -> Any:
    return Literal.__getitem__(values)


def _compile_event(rule: EventRule) -> tuple[Validator, BatchValidator]:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    post_checks: list[tuple[int, frozenset[Any], str]] = []
    # Required fields first: a msgspec Struct wants fields without defaults before the rest.
    ordered = sorted(rule.properties, key=lambda p: not p.required)
    for index, prop in enumerate(ordered):
        attr = f"p{index}"
        rename[attr] = prop.name
        base: Any = PROPERTY_TYPES[prop.type]
        if prop.allowed is not None and prop.type in ("string", "integer"):
            base = _literal(prop.allowed)
        elif prop.allowed is not None:
            post_checks.append((index, frozenset(prop.allowed), prop.name))
        if prop.required:
            fields.append((attr, base))
        else:
            fields.append((attr, base | None, None))
    struct = msgspec.defstruct(
        "Properties", fields, rename=rename, forbid_unknown_fields=False, frozen=True, gc=False
    )
    decoder = msgspec.json.Decoder(struct)
    attrs = [f"p{index}" for index, _, _ in post_checks]
    literal_text = {
        p.name: ", ".join(map(repr, p.allowed))
        for p in rule.properties
        if p.allowed is not None and p.type in ("string", "integer")
    }
    allowed_text = {name: sorted(map(repr, vals)) for _, vals, name in post_checks}

    def validate(raw: bytes | str) -> str | None:
        try:
            value = decoder.decode(raw)
        except msgspec.ValidationError as exc:
            return _explain(str(exc), literal_text)
        except msgspec.DecodeError as exc:
            return f"properties are not valid JSON: {exc}"
        except (UnicodeDecodeError, RecursionError) as exc:
            return f"properties cannot be read: {exc}"
        for attr, (_, vals, name) in zip(attrs, post_checks, strict=True):
            got = getattr(value, attr)
            # numbers decode as float and booleans as bool, so set membership is exact
            if got is not None and got not in vals:
                return (
                    f"Invalid value {got!r} - at `properties.{name}` "
                    f"(allowed: {', '.join(allowed_text[name])})"
                )
        return None

    many = msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]

    def validate_many(array: bytes) -> bool:
        try:
            values = many.decode(array)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return False
        for attr, (_, vals, _name) in zip(attrs, post_checks, strict=True):
            for value in values:
                got = getattr(value, attr)
                if got is not None and got not in vals:
                    return False
        return True

    return validate, validate_many


def _explain(message: str, literal_text: Mapping[str, str]) -> str:
    """Reword a msgspec validation message in the plan's terms (``properties.x``)."""
    message = message.replace("`$", "`properties")
    if message.startswith("Object missing required field "):
        return "missing required property " + message.removeprefix(
            "Object missing required field "
        ).replace("`", "`properties.", 1)
    if message.startswith("Invalid enum value") and "`properties." in message:
        name = message.rsplit("`properties.", 1)[1].rstrip("`")
        if name in literal_text:
            return f"{message} (allowed: {literal_text[name]})"
    if message == "Expected `object`, got `array`" or message.startswith("Expected `object`"):
        return f"properties must be an object ({message})"
    return message


def compile_plan(
    events: Mapping[str, EventRule], unplanned_events: str = "allow", source: str = "<memory>"
) -> CompiledPlan:
    """Compile rules into a :class:`CompiledPlan` (done once; validating is then cheap)."""
    if unplanned_events not in _POLICIES:
        raise TrackingPlanError(
            f"{source}: unplanned_events must be one of {', '.join(_POLICIES)}, "
            f"got {unplanned_events!r}"
        )
    compiled = {name: _compile_event(rule) for name, rule in events.items()}
    return CompiledPlan(
        dict(events),
        unplanned_events,
        source,
        {name: pair[0] for name, pair in compiled.items()},
        {name: pair[1] for name, pair in compiled.items()},
    )


# -- loading the YAML with locations ------------------------------------------------------


class _Loc:
    """Turns YAML nodes into Python values, raising errors that carry file:line:column."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, message: str) -> TrackingPlanError:
        if node is None:
            return TrackingPlanError(f"{self.path}: {message}")
        mark = node.start_mark
        return TrackingPlanError(f"{self.path}:{mark.line + 1}:{mark.column + 1}: {message}")

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping")
        seen: set[str] = set()
        for key, _ in node.value:
            name = self.scalar(key, f"a key of {what}")
            if name in seen:
                raise self.error(key, f"duplicate key {name!r} in {what}")
            seen.add(str(name))
        return list(node.value)

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be a single value")
        return yaml.safe_load(yaml.serialize(node))

    def string(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node, what)
        if not isinstance(value, str):
            raise self.error(node, f"{what} must be a string, got {value!r}")
        return value


def _load_property(loc: _Loc, event: str, key: yaml.Node, node: yaml.Node) -> PropertyRule:
    name = loc.string(key, f"a property name of {event!r}")
    what = f"property {name!r} of {event!r}"
    values: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in loc.mapping(node, what):
        kname = loc.string(k, f"a key of {what}")
        if kname not in _PROPERTY_KEYS:
            raise loc.error(
                k,
                f"unknown key {kname!r} in {what} (expected one of "
                f"{', '.join(sorted(_PROPERTY_KEYS))})",
            )
        values[kname] = (k, v)
    if "type" not in values:
        raise loc.error(node, f"{what} has no 'type'")
    type_node = values["type"][1]
    ptype = loc.string(type_node, f"the type of {what}")
    if ptype not in PROPERTY_TYPES:
        raise loc.error(
            type_node,
            f"unknown type {ptype!r} for {what} (expected one of {', '.join(PROPERTY_TYPES)})",
        )
    required = False
    if "required" in values:
        req_node = values["required"][1]
        required = loc.scalar(req_node, f"'required' of {what}")
        if not isinstance(required, bool):
            raise loc.error(req_node, f"'required' of {what} must be true or false")
    allowed: tuple[Any, ...] | None = None
    if "allowed" in values:
        allowed = _load_allowed(loc, what, ptype, values["allowed"][1])
    description = ""
    if "description" in values:
        description = loc.string(values["description"][1], f"the description of {what}")
    return PropertyRule(name, ptype, required, allowed, description)


_ALLOWED_CHECKS: Mapping[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _load_allowed(loc: _Loc, what: str, ptype: str, node: yaml.Node) -> tuple[Any, ...]:
    if ptype not in _ALLOWED_CHECKS:
        raise loc.error(node, f"'allowed' is not supported for type {ptype!r} ({what})")
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise loc.error(node, f"'allowed' of {what} must be a non-empty list")
    out = []
    for item in node.value:
        value = loc.scalar(item, f"an allowed value of {what}")
        if not _ALLOWED_CHECKS[ptype](value):
            raise loc.error(item, f"allowed value {value!r} of {what} is not a {ptype}")
        out.append(value)
    return tuple(dict.fromkeys(out))


def _load_event(loc: _Loc, key: yaml.Node, node: yaml.Node) -> EventRule:
    name = loc.string(key, "an event name")
    if not name.strip():
        raise loc.error(key, "an event name must not be empty")
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return EventRule(name)
    description = ""
    props: list[PropertyRule] = []
    for k, v in loc.mapping(node, f"event {name!r}"):
        kname = loc.string(k, f"a key of event {name!r}")
        if kname == "description":
            description = loc.string(v, f"the description of {name!r}")
        elif kname == "properties":
            if isinstance(v, yaml.ScalarNode) and v.value in ("", "~", "null"):
                continue
            props = [_load_property(loc, name, pk, pv) for pk, pv in loc.mapping(v, "properties")]
        else:
            raise loc.error(
                k,
                f"unknown key {kname!r} in event {name!r} (expected one of "
                f"{', '.join(sorted(_EVENT_KEYS))})",
            )
    return EventRule(name, tuple(props), description)


def parse_tracking_plan(text: str, source: str = "<string>") -> CompiledPlan:
    """Check and compile a tracking plan given as YAML text (``source`` names it in errors)."""
    loc = _Loc(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise TrackingPlanError(f"{source}{where}: invalid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise TrackingPlanError(f"{source}: invalid YAML: {exc}") from exc
    if root is None:
        raise TrackingPlanError(f"{source}: the tracking plan is empty")
    policy = "allow"
    events: dict[str, EventRule] = {}
    for key, value in loc.mapping(root, "the tracking plan"):
        kname = loc.string(key, "a top-level key")
        if kname == "unplanned_events":
            policy = loc.string(value, "unplanned_events")
            if policy not in _POLICIES:
                raise loc.error(
                    value, f"unplanned_events must be one of {', '.join(_POLICIES)}, got {policy!r}"
                )
        elif kname == "events":
            if isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
                continue
            for ek, ev in loc.mapping(value, "events"):
                rule = _load_event(loc, ek, ev)
                events[rule.name] = rule
        elif kname == "description":
            loc.string(value, "description")
        else:
            raise loc.error(
                key,
                f"unknown top-level key {kname!r} (expected one of "
                f"{', '.join(sorted(_PLAN_KEYS))})",
            )
    return compile_plan(events, policy, source)


def load_tracking_plan(path: Path | str) -> CompiledPlan:
    """Read, check and compile the tracking plan at ``path``.

    Raises:
        TrackingPlanError: the file is unreadable or invalid; the message names the file,
            line and column, and what was expected.

    Example::

        plan = load_tracking_plan("tracking-plan.yaml")
        plan.check_track("Level Started", b'{"level": "one"}')
        # ('plan_violation', "event 'Level Started': Expected `int`, got `str` - at ...")
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackingPlanError(f"cannot read tracking plan {p}: {exc}") from exc
    return parse_tracking_plan(text, str(p))


#: The file name ``spec.tracking_plan`` defaults to; when it does not exist, nothing is checked.
DEFAULT_PLAN_NAME = "tracking-plan.yaml"


def plan_from_settings(settings: Settings) -> CompiledPlan:
    """The plan named by ``settings.spec.tracking_plan``.

    No plan configured, or the default file name absent from the project, means every
    well-formed event is accepted; any other missing or invalid file is an error.
    """
    configured = settings.spec.tracking_plan
    if configured is None:
        return CompiledPlan.allow_all()
    path = settings.resolve(configured)
    if not path.exists() and str(configured) == DEFAULT_PLAN_NAME:
        return CompiledPlan.allow_all()
    return load_tracking_plan(path)
