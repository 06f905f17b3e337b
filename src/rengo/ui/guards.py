"""ASGI guards in front of the dashboard: read-only methods, the token, the Host header, and
the security headers every response carries.

They are plain ASGI callables (no ``BaseHTTPMiddleware``), so the server-sent event stream
passes through them unbuffered.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from rengo.ui.access import token_matches

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

READ_METHODS = frozenset({"GET", "HEAD"})
COOKIE = "rengo_ui_token"
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        b"form-action 'none'",
    ),
)


async def _reply(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
                *SECURITY_HEADERS,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ReadOnlyGuard:
    """Answers every method but GET and HEAD with 405: nothing here changes anything."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse any HTTP method that could change state (405); answer HEAD as GET
        without the body (the routes are declared for GET only)."""
        if scope["type"] == "http" and scope["method"] not in READ_METHODS:
            await _reply(
                send,
                405,
                {"detail": "the rengo dashboard is read-only: only GET and HEAD are served"},
                [(b"allow", b"GET, HEAD")],
            )
            return
        if scope["type"] == "http" and scope["method"] == "HEAD":
            body_sent = False

            async def headers_only(message: Message) -> None:
                nonlocal body_sent
                if message["type"] == "http.response.body":
                    if body_sent:
                        return
                    body_sent = True
                    message = {**message, "body": b"", "more_body": False}
                await send(message)

            await self.app({**scope, "method": "GET"}, receive, headers_only)
            return
        await self.app(scope, receive, send)


class TokenGuard:
    """Lets a request through if it carries the token: ``Authorization: Bearer``, the
    cookie, or ``?token=`` - which is answered with a redirect that sets the cookie and drops
    the token from the address bar (so it stays out of history and logs)."""

    def __init__(self, app: ASGIApp, token: str, secure_cookie: bool) -> None:
        self.app = app
        self.token = token
        self.secure_cookie = secure_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse HTTP requests without the bearer token (401)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = _header(scope, b"authorization") or ""
        scheme, _, offered = authorization.partition(" ")
        if scheme.lower() == "bearer" and token_matches(offered.strip(), self.token):
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie(_header(scope, b"cookie") or "")
        if COOKIE in cookie and token_matches(cookie[COOKIE].value, self.token):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        offered_query = next((v for k, v in query if k == "token"), None)
        if token_matches(offered_query, self.token):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            # back to this very page on this server: percent-encoded (a raw non-Latin-1 or
            # CR/LF path broke the response) and never "//host" (another site)
            path = "/" + quote(scope.get("root_path", "") + scope["path"], safe="/").lstrip("/")
            location = path + (f"?{rest}" if rest else "")
            flags = "; HttpOnly; SameSite=Strict; Path=/" + (
                "; Secure" if self.secure_cookie else ""
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", location.encode("latin-1")),
                        (b"set-cookie", f"{COOKIE}={self.token}{flags}".encode("latin-1")),
                        (b"cache-control", b"no-store"),
                        (b"content-length", b"0"),
                        *SECURITY_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await _reply(
            send,
            401,
            {
                "detail": "this dashboard needs its token: open it once as /?token=TOKEN, or "
                "send 'Authorization: Bearer TOKEN'"
            },
            [(b"www-authenticate", b"Bearer")],
        )


class HostGuard:
    """Refuses requests whose Host header is not one of ``hosts`` (DNS rebinding: a web page
    elsewhere must not read a dashboard that listens on this machine's loopback)."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse HTTP requests for an unexpected Host header (DNS rebinding)."""
        if scope["type"] == "http":
            host = (_header(scope, b"host") or "").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.hosts:
                await _reply(send, 400, {"detail": f"unexpected Host header {host!r}"})
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response the app sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the security headers to every HTTP response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
