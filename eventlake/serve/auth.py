"""Optional bearer-token auth for the API and the dashboard (``serve.token``).

Scripts send ``Authorization: Bearer <token>``. A browser cannot put a header on a page
load, so ``POST /login`` (the form shown instead of a protected page) checks the token and
sets it as an HttpOnly, SameSite=Strict cookie that later requests carry. Tokens are compared
in constant time. ``/healthz``, ``/login`` and the static assets stay open; ``/api/query``
checks its own ``serve.query_token`` instead. This token is not
a collector write key: the collector (mounted under /v1) checks its own keys.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, unquote

__all__ = ["COOKIE_NAME", "TokenAuth", "bearer_token", "safe_next", "tokens_equal"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE_NAME = "eventlake_token"
# /api/query is never open: its handler demands serve.query_token (a separate secret).
_OPEN_PATHS = ("/healthz", "/login", "/favicon.ico", "/api/query")
_OPEN_PREFIXES = ("/static/",)

_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eventlake: sign in</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css"></head>
<body class="login"><form method="post" action="/login" class="login-form">
<h1>eventlake</h1><p>{message}</p>
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button></form></body></html>"""


def tokens_equal(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _cookie_token(scope: Scope) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(COOKIE_NAME)
    return unquote(morsel.value) if morsel is not None else None


# Characters kept as they are in a redirect target; everything else is percent-encoded, so
# the Location header is plain ASCII and a browser cannot read the path as a host.
_NEXT_KEEP = "/?&=%-._~!$'()*+,;:@"
_MAX_NEXT = 2048


def safe_next(value: str) -> str:
    """``value`` if it is a path on this site, else ``/``: where to go after signing in.

    Browsers drop tabs and newlines anywhere in a URL and read a backslash as a slash, so
    ``/\t/evil.example`` and ``/\\evil.example`` mean ``//evil.example``, another site.
    Accepted: a path starting with one ``/`` and holding no control character, backslash
    or DEL; it comes back percent-encoded where needed (spaces, non-ASCII), so it is also
    a valid header value (a CR, LF or NUL there used to drop the connection).
    """
    if (
        not value.startswith("/")
        or value.startswith("//")
        or len(value) > _MAX_NEXT
        or "\\" in value
        or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)
    ):
        return "/"
    return quote(value, safe=_NEXT_KEEP)


def _html_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


class TokenAuth:
    """ASGI middleware: every path but the open ones needs the token (header or cookie)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/login" and scope["method"] == "POST":
            await self._login(scope, receive, send)
            return
        if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if tokens_equal(bearer_token(scope), self.token) or tokens_equal(
            _cookie_token(scope), self.token
        ):
            await self.app(scope, receive, send)
            return
        await self._deny(scope, send)

    async def _deny(
        self, scope: Scope, send: Send, message: str = "", *, html: bool = False
    ) -> None:
        accept = _header(scope, b"accept") or ""
        wants_html = html or (
            scope["method"] == "GET"
            and "text/html" in accept
            and not scope["path"].startswith("/api/")
        )
        if wants_html:
            # The path as the browser sent it (still percent-encoded): coming back to it
            # after sign-in asks for the same page, and encoded bytes stay encoded.
            raw_path = scope.get("raw_path")
            target = bytes(raw_path).decode("latin-1") if raw_path else quote(scope["path"])
            if scope.get("query_string"):
                target += "?" + bytes(scope["query_string"]).decode("latin-1")
            body = _LOGIN_PAGE.format(
                message=_html_escape(message or "This dashboard needs a token."),
                next=_html_escape(safe_next(target)),
            ).encode("utf-8")
            ctype = b"text/html; charset=utf-8"
        else:
            body = b'{"error":"missing or wrong bearer token (Authorization: Bearer <token>)"}'
            ctype = b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="eventlake"'),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 16 * 1024:
                break
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        target = safe_next((form.get("next") or ["/"])[0])
        assert self.token is not None
        if not tokens_equal(token, self.token):
            path, _, query = target.partition("?")
            scope = {
                **scope,
                "method": "GET",
                "path": path,
                "raw_path": path.encode("ascii"),
                "query_string": query.encode("ascii"),
            }
            await self._deny(scope, send, "Wrong token, try again.", html=True)
            return
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE_NAME}={quote(token, safe='')}; Path=/; HttpOnly; SameSite=Strict{secure}"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", target.encode("ascii")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
