"""How the tracker talks to a collector: one gzipped ``POST /v1/batch`` and its verdict.

The verdict decides what the background thread does with a batch: ``ok`` (forget it),
``retry`` (network error, 408, 429, 5xx: back off, honouring ``Retry-After``), ``split``
(413 on a batch of several events: send halves) or ``fatal`` (any other 4xx: it will never
succeed, report it through ``on_error``). Backoff is exponential with jitter.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

from eventlake.httputil import parse_retry_after_value

__all__ = ["Verdict", "backoff_delay", "parse_retry_after", "send_batch"]

Outcome = Literal["ok", "retry", "split", "fatal"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one attempt to send a batch."""

    outcome: Outcome
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""


def parse_retry_after(value: str | None, now: _dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    when = parse_retry_after_value(value)
    if when is None or isinstance(when, float):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    now = now or _dt.datetime.now(_dt.UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before retry number ``attempt`` (0-based): exponential, capped, jittered.

    "Equal jitter": half the exponential step plus a random share of the other half, so
    many clients that failed together do not retry together. ``Retry-After`` is a floor.
    """
    step = min(cap, base * (2.0 ** min(attempt, 30)))
    delay = step / 2 + (rng or random).uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _now_text() -> bytes:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


def encode_body(messages: Sequence[bytes]) -> bytes:
    """The ``/v1/batch`` JSON body; ``sentAt`` (now) is set on the batch and each event."""
    sent = b',"sentAt":"' + _now_text() + b'"}'
    events = b",".join(m[:-1] + sent for m in messages)
    return b'{"batch":[' + events + b"]" + sent


def send_batch(
    http: httpx.Client,
    url: str,
    write_key: str,
    messages: Sequence[bytes],
    *,
    compress: bool = True,
    headers: Mapping[str, str] | None = None,
) -> Verdict:
    """POST ``messages`` once and classify the reply (never raises for HTTP or network)."""
    body = encode_body(messages)
    auth = base64.b64encode(write_key.encode() + b":").decode()
    hdrs = {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}
    if compress:
        body = gzip.compress(body, compresslevel=5)
        hdrs["Content-Encoding"] = "gzip"
    if headers:
        hdrs.update(headers)
    try:
        reply = http.post(url, content=body, headers=hdrs)
    except httpx.TransportError as exc:
        return Verdict("retry", None, None, f"{type(exc).__name__}: {exc}")
    status = reply.status_code
    if status < 300:
        return Verdict("ok", status)
    detail = reply.text[:500]
    retry_after = parse_retry_after(reply.headers.get("Retry-After"))
    if status in (408, 429) or status >= 500:
        return Verdict("retry", status, retry_after, detail)
    if status == 413 and len(messages) > 1:
        return Verdict("split", status, None, detail)
    return Verdict("fatal", status, None, detail)
