"""The SDK's retry policy against a scripted real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from eventlake.tracker import Client, DeliveryError

pytestmark = pytest.mark.integration


class Script:
    """Replies with the queued (status, headers) in turn, then 200; records every request."""

    def __init__(self, replies: list[tuple[int, dict[str, str]]]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    async def batch(self, request: Request) -> Response:
        raw = await request.body()
        body = gzip.decompress(raw) if request.headers.get("content-encoding") == "gzip" else raw
        self.requests.append(
            {
                "at": time.monotonic(),
                "headers": dict(request.headers),
                "body": json.loads(body),
            }
        )
        if self.replies:
            status, headers = self.replies.pop(0)
            return JSONResponse({"success": False}, status_code=status, headers=headers)
        return JSONResponse({"success": True})


@pytest.fixture
def scripted(serve: Any) -> Any:
    def start(replies: list[tuple[int, dict[str, str]]]) -> tuple[Script, str]:
        script = Script(replies)
        app = Starlette(routes=[Route("/v1/batch", script.batch, methods=["POST"])])
        return script, serve(app)

    return start


def _client(url: str, **kw: Any) -> Client:
    kw.setdefault("flush_interval", 0.05)
    kw.setdefault("base_backoff", 0.05)
    kw.setdefault("max_backoff", 0.2)
    return Client("secret-key", url, **kw)


def test_batch_is_gzipped_with_basic_auth_and_sent_at(scripted: Any) -> None:
    script, url = scripted([])
    with _client(url) as client:
        mid = client.track("Level Started", {"level": 1}, user_id="p1")
        assert client.flush(10)
    (req,) = script.requests
    assert req["headers"]["content-encoding"] == "gzip"
    user = base64.b64decode(req["headers"]["authorization"].split()[1]).decode()
    assert user == "secret-key:"
    (event,) = req["body"]["batch"]
    assert event["messageId"] == mid
    assert event["type"] == "track" and event["event"] == "Level Started"
    assert event["context"]["library"]["name"] == "eventlake-python"
    assert "sentAt" in event and "sentAt" in req["body"] and "originalTimestamp" in event


def test_5xx_and_429_are_retried_until_delivered(scripted: Any) -> None:
    script, url = scripted([(500, {}), (503, {}), (429, {})])
    with _client(url) as client:
        ids = [client.track("Session Started", user_id=f"p{i}") for i in range(5)]
        assert client.flush(20)
        assert client.stats["delivered"] == 5
    assert len(script.requests) == 4
    last = script.requests[-1]["body"]["batch"]
    assert [e["messageId"] for e in last] == ids


def test_retry_after_is_honoured(scripted: Any) -> None:
    script, url = scripted([(503, {"Retry-After": "1"})])
    with _client(url) as client:
        client.track("Session Started", user_id="p1")
        assert client.flush(20)
    first, second = script.requests
    # the server asked for 1 s; the client's own backoff here is at most 0.2 s
    assert second["at"] - first["at"] >= 0.95


def test_4xx_is_reported_not_retried(scripted: Any) -> None:
    script, url = scripted([(400, {})])
    errors: list[tuple[BaseException, list[dict[str, Any]]]] = []
    with _client(url, on_error=lambda e, b: errors.append((e, b))) as client:
        mid = client.track("Session Started", user_id="p1")
        assert client.flush(10)
        assert client.stats == {"delivered": 0, "failed": 1, "attempts": 1}
    assert len(script.requests) == 1
    ((err, batch),) = errors
    assert isinstance(err, DeliveryError) and err.status == 400
    assert batch[0]["messageId"] == mid


def test_413_splits_the_batch(scripted: Any) -> None:
    script, url = scripted([(413, {})])
    with _client(url, flush_interval=5.0, max_batch_events=8) as client:
        ids = [client.track("Session Started", user_id=f"p{i}") for i in range(8)]
        assert client.flush(10)
    sizes = [len(r["body"]["batch"]) for r in script.requests]
    assert sizes == [8, 4, 4]
    sent = [e["messageId"] for r in script.requests[1:] for e in r["body"]["batch"]]
    assert sent == ids
