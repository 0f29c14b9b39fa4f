"""remove_write_key: the top-level writeKey member goes, every other byte stays."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlake.collect.redact import remove_write_key


def test_the_member_goes_wherever_it_is_and_however_it_is_spelled() -> None:
    cases = {
        b'{"writeKey":"K","userId":"u"}': b'{"userId":"u"}',
        b'{"userId":"u", "writeKey" : "K" }': b'{"userId":"u"}',
        b'{"a":1,"writeKey":"K","b":2}': b'{"a":1,"b":2}',
        b'{"write\\u004bey":"K","e":"E"}': b'{"e":"E"}',
        b'{"writeKey":"K","writeKey":"L","e":"E"}': b'{"e":"E"}',
        b'{"writeKey":"K"}': b"{}",
        b'\n {"writeKey":{"nested":["x"]},"e":"E"}\n': b'\n {"e":"E"}\n',
    }
    for given_, want in cases.items():
        assert remove_write_key(given_) == want, given_


def test_nested_members_strings_and_other_values_are_left_alone() -> None:
    event = (
        b'{"properties":{"writeKey":"not the key"},"s":"a \\"writeKey\\": b",'
        b'"list":[{"writeKey":1}],"n":-1.5e3,"t":true,"z":null}'
    )
    assert remove_write_key(event) is event


def test_text_that_is_not_utf8_is_kept_byte_for_byte() -> None:
    event = b'{"writeKey":"K","properties":{"s":"\xff\xfe"},"x":"\xc3"}'
    assert remove_write_key(event) == b'{"properties":{"s":"\xff\xfe"},"x":"\xc3"}'


def test_deep_nesting_does_not_recurse() -> None:
    depth = 200_000
    event = b'{"writeKey":"K","deep":' + b"[" * depth + b"]" * depth + b"}"
    assert remove_write_key(event) == b'{"deep":' + b"[" * depth + b"]" * depth + b"}"


_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "writeKey", "b c", 'q"', "é"]), _values, max_size=5),
    st.sampled_from([None, "first", "last"]),
    st.booleans(),
)
def test_property_decodes_to_the_object_without_its_key(
    obj: dict[str, Any], where: str | None, spaced: bool
) -> None:
    items = [(k, v) for k, v in obj.items() if k != "writeKey"]
    if where == "first":
        items.insert(0, ("writeKey", "SECRET"))
    elif where == "last":
        items.append(("writeKey", "SECRET"))
    sep = (", ", ": ") if spaced else (",", ":")
    text = "{" + sep[0].join(json.dumps(k) + sep[1] + json.dumps(v) for k, v in items) + "}"
    out = remove_write_key(text.encode())
    assert msgspec.json.decode(out) == {k: v for k, v in items if k != "writeKey"}
    assert b"SECRET" not in out
