"""Who may see the dashboard, and that nothing it serves can change the store."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the ui extra: pip install 'rengo[ui]'")
from fastapi.testclient import TestClient

from rengo.core.errors import ConfigError
from rengo.ui import check_exposure, create_app, is_loopback, parse_listen
from rengo.ui.access import Listen, TlsFiles
from tests.ui.conftest import Recorded

TOKEN = "s3cret-token-0123456789"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        (":8080", "127.0.0.1", 8080),
        ("8080", "127.0.0.1", 8080),
        ("0.0.0.0:9000", "0.0.0.0", 9000),
        ("localhost:0", "localhost", 0),
        ("[::1]:8080", "::1", 8080),
    ],
)
def test_listen_addresses_parse(text: str, host: str, port: int) -> None:
    assert parse_listen(text) == Listen(host, port)


@pytest.mark.parametrize("text", ["127.0.0.1", "host:port", ":70000", "::1:8080"])
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="listen address"):
        parse_listen(text)


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.1.2.3", "example.org"))


def test_non_loopback_needs_a_token_or_client_certificates(tmp_path: Path) -> None:
    check_exposure(parse_listen("127.0.0.1:8080"), None, None)
    with pytest.raises(ConfigError, match="reachable from other machines"):
        check_exposure(parse_listen("0.0.0.0:8080"), None, None)
    check_exposure(parse_listen("0.0.0.0:8080"), TOKEN, None)
    tls = TlsFiles(tmp_path / "c.pem", tmp_path / "c.key", tmp_path / "ca.pem")
    check_exposure(parse_listen("0.0.0.0:8080"), None, tls)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        check_exposure(parse_listen("0.0.0.0:8080"), "short", None)
    with pytest.raises(ConfigError, match="not a certificate folder"):
        TlsFiles.from_certs_dir(tmp_path)


def test_token_is_required_and_accepted_three_ways(recorded: Recorded) -> None:
    with TestClient(create_app(recorded.path, token=TOKEN), follow_redirects=False) as client:
        for path in ("/", "/api/runs", "/api/stream", "/static/app.js"):
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert "needs its token" in refused.json()["detail"]
        assert (
            client.get(
                "/api/runs", headers={"authorization": "Bearer wrong-token-000000"}
            ).status_code
            == 401
        )
        bearer = client.get("/api/runs", headers={"authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200 and bearer.json()["total"] == 4
        assert client.get("/?token=wrong-token-00000000").status_code == 401
        login = client.get(f"/?token={TOKEN}&x=1")
        assert login.status_code == 303 and login.headers["location"] == "/?x=1"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        client.cookies.set("rengo_ui_token", TOKEN)
        assert client.get("/api/runs").status_code == 200


@pytest.mark.parametrize(
    "token", ["correct horse battery staple", "abcdefgh;ijklmnop", "pässwörd-1234567890"]
)
def test_a_token_a_browser_cannot_carry_is_refused_at_start(token: str) -> None:
    """Such tokens were accepted, then every browser login failed: the cookie value broke
    on the space or ';', and a non-ASCII token made the redirect answer 500."""
    with pytest.raises(ConfigError, match="may hold only ASCII letters, digits"):
        check_exposure(parse_listen("0.0.0.0:8080"), token, None)


def _login_redirect(app: Any, path: str) -> tuple[int, str]:
    """The status and Location a raw request for ``path?token=TOKEN`` gets (a browser sends
    paths a test client would normalise first)."""
    started: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "query_string": f"token={TOKEN}".encode(),
        "headers": [(b"host", b"127.0.0.1:8080")],
    }
    asyncio.run(app(scope, receive, send))
    headers = dict(started["headers"])
    return started["status"], headers[b"location"].decode("latin-1")


def test_the_login_redirect_stays_on_this_server_and_survives_any_path(
    recorded: Recorded,
) -> None:
    """The redirect sent the raw path back: ``//evil.example/x`` left for another site, a
    non-Latin-1 path answered 500 and a CR/LF one broke the response."""
    app = create_app(recorded.path, token=TOKEN)
    assert _login_redirect(app, "//evil.example/x") == (303, "/evil.example/x")
    assert _login_redirect(app, "/\u20ac") == (303, "/%E2%82%AC")
    assert _login_redirect(app, "/a\r\nSet-Cookie: x=1") == (303, "/a%0D%0ASet-Cookie%3A%20x%3D1")


def test_head_is_answered_where_get_is(recorded: Recorded) -> None:
    with TestClient(create_app(recorded.path)) as client:
        for path in ("/", "/api/health", "/api/runs", "/static/app.js"):
            got, head = client.get(path), client.head(path)
            assert head.status_code == 200 == got.status_code, path
            assert (
                head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
            )


def test_errors_name_the_store_by_its_file_name_only(recorded: Recorded) -> None:
    with TestClient(create_app(recorded.path)) as client:
        detail = client.get("/api/runs/nope").json()["detail"]
    assert "no run with id" in detail and recorded.path.name in detail
    assert str(recorded.path.parent) not in detail


def test_foreign_host_header_is_refused_without_a_token(recorded: Recorded) -> None:
    app = create_app(recorded.path, allowed_hosts={"127.0.0.1", "localhost"})
    with TestClient(app) as client:
        assert client.get("/api/health", headers={"host": "evil.example:8080"}).status_code == 400
        assert client.get("/api/health", headers={"host": "localhost:8080"}).status_code == 200
        assert client.get("/api/health", headers={"host": "127.0.0.1"}).status_code == 200


def _digest(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()


def test_no_endpoint_changes_anything(recorded: Recorded) -> None:
    app = create_app(recorded.path)
    routes = [r for r in app.api.routes if hasattr(r, "methods")]
    assert routes, "the app has routes"
    for route in routes:  # every route the app has is a read
        assert set(route.methods) <= {"GET", "HEAD"}, route.path
    before = _digest(recorded.path)
    watcher = sqlite3.connect(recorded.path)
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    paths = [
        "/",
        "/api/health",
        "/api/runs",
        f"/api/runs/{recorded.alpha}",
        f"/api/runs/{recorded.alpha}/clients",
        f"/api/runs/{recorded.alpha}/events",
        f"/api/runs/{recorded.deployed}/presence",
        f"/api/runs/{recorded.alpha}/rewards",
        f"/api/runs/{recorded.tournament}/tournament",
        f"/api/compare?ids={recorded.alpha},{recorded.beta}",
        "/static/app.js",
    ]
    with TestClient(app) as client:
        for path in paths:
            assert client.get(path).status_code == 200, path
            for method in WRITE_METHODS:
                answer = client.request(method, path, json={"status": "failed"})
                assert answer.status_code == 405, (method, path)
                assert answer.headers["allow"] == "GET, HEAD"
        assert client.post(f"/api/runs/{recorded.alpha}/delete").status_code == 405
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    watcher.close()
    assert _digest(recorded.path) == before
