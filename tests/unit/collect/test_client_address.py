"""context.ip: the socket peer, or X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import pytest

from eventlake.collect.app import ClientAddress
from eventlake.errors import ConfigError


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert ClientAddress([]).resolve("10.0.0.2", "1.2.3.4") == "10.0.0.2"


def test_a_trusted_proxy_forwards_the_right_most_untrusted_hop() -> None:
    addr = ClientAddress(["10.0.0.0/8", "192.168.1.1"])
    assert addr.resolve("10.1.2.3", "1.2.3.4") == "1.2.3.4"
    assert addr.resolve("10.1.2.3", "6.6.6.6, 1.2.3.4, 192.168.1.1") == "1.2.3.4"
    assert addr.resolve("10.1.2.3", "10.0.0.9") == "10.0.0.9"
    assert addr.resolve("10.1.2.3", None) == "10.1.2.3"
    assert addr.resolve("8.8.8.8", "1.2.3.4") == "8.8.8.8"  # not a trusted peer
    assert addr.resolve("10.1.2.3", "garbage") == "10.1.2.3"
    assert addr.resolve("10.1.2.3", "2001:db8::1") == "2001:db8::1"
    assert addr.resolve(None, "1.2.3.4") is None


def test_an_invalid_trusted_proxy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        ClientAddress(["not-an-ip"])
