"""Write-key authentication of the collector: Segment's scheme, compared in constant time.

A client names its write key as the HTTP Basic username (password empty: what Segment's and
RudderStack's SDKs send) or as ``writeKey`` in the JSON body. Each configured key maps to a
source name that is stored with every event it sends.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

__all__ = ["WriteKeys", "basic_username"]


def basic_username(authorization: str | None) -> str | None:
    """The username of an ``Authorization: Basic ...`` header; ``None`` when absent/not Basic.

    Raises:
        ValueError: the header says Basic but its credentials are not valid base64/UTF-8.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("the Basic credentials are not valid base64 of 'key:'") from exc
    return decoded.partition(":")[0]


class WriteKeys:
    """Configured write keys -> source names; lookups take the same time for any key."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = [(k.encode("utf-8"), source) for k, source in keys.items() if k]

    def __len__(self) -> int:
        return len(self._keys)

    def source_for(self, key: str | None) -> str | None:
        """The source name of ``key``, or ``None`` when it is not a configured key.

        Every configured key is compared with ``hmac.compare_digest`` and the loop never
        stops early, so the reply time does not reveal how much of a key was right.
        """
        if key is None:
            return None
        candidate = key.encode("utf-8", errors="surrogateescape")
        found: str | None = None
        for known, source in self._keys:
            if hmac.compare_digest(candidate, known) and found is None:
                found = source
        return found
