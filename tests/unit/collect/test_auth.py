"""Write keys: Basic-auth parsing and constant-time lookup."""

from __future__ import annotations

import base64

import pytest

from eventlake.collect.auth import WriteKeys, basic_username


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_username_is_the_write_key() -> None:
    assert basic_username(basic("key123:")) == "key123"
    assert basic_username(basic("key123:ignored-password")) == "key123"
    assert basic_username(basic("key123")) == "key123"
    assert basic_username(None) is None
    assert basic_username("Bearer abc") is None


def test_malformed_basic_credentials_raise() -> None:
    with pytest.raises(ValueError, match="base64"):
        basic_username("Basic !!!not-base64!!!")


def test_write_keys_map_to_sources() -> None:
    keys = WriteKeys({"k1": "web", "k2": "ios", "": "ignored"})
    assert len(keys) == 2
    assert keys.source_for("k1") == "web"
    assert keys.source_for("k2") == "ios"
    assert keys.source_for("k") is None
    assert keys.source_for("k1 ") is None
    assert keys.source_for("") is None
    assert keys.source_for(None) is None
    assert keys.source_for("\udcff") is None  # lone surrogates do not crash the lookup
