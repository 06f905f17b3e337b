"""The dashboard as an ASGI app: a JSON API over a read-only run store, the page that draws
it, and a server-sent event stream that tells open pages when the store changed.

Every endpoint is a GET (see :class:`~rengo.ui.guards.ReadOnlyGuard`); the store is opened
with SQLite's ``mode=ro``, so not even a bug here could change a run or the ledger.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from rengo import __version__
from rengo.core.errors import ConfigError, DataError
from rengo.tracking import RunStore, UnknownRunError
from rengo.tracking.schema import SCHEMA_VERSION
from rengo.ui import views
from rengo.ui.changes import ChangeWatcher
from rengo.ui.guards import HostGuard, ReadOnlyGuard, SecurityHeaders, TokenGuard

STATIC = Path(__file__).parent / "static"
STREAM_POLL_S = 0.2
STREAM_KEEPALIVE_S = 15.0
STREAM_MAX_S = 600.0
"""An event stream ends after this long; the browser's EventSource reconnects by itself,
so a forgotten tab never pins a server thread forever."""


def _error(status: int, exc: Exception, store_path: Path) -> JSONResponse:
    """The error's message for a remote viewer: the store named by its file name only
    (the server's folders are none of the viewer's business)."""
    detail = str(exc).replace(str(store_path), store_path.name)
    return JSONResponse({"detail": detail}, status_code=status)


def build_api(store_path: str | os.PathLike[str], *, poll_interval_s: float = 0.25) -> FastAPI:
    """The dashboard's routes over the store at ``store_path``, without any access guard
    (:func:`create_app` adds them). Raises ConfigError if there is no store there."""
    store = RunStore(store_path, read_only=True)
    watcher = ChangeWatcher(store.path, poll_interval_s)
    stopping = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        watcher.close()
        store.close()

    api = FastAPI(
        title="rengo dashboard",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    api.state.store = store
    api.state.watcher = watcher
    api.mount("/static", StaticFiles(directory=STATIC), name="static")

    @api.exception_handler(UnknownRunError)
    async def unknown_run(_: Request, exc: UnknownRunError) -> JSONResponse:
        return _error(404, exc, store.path)

    @api.exception_handler(ConfigError)
    async def bad_request(_: Request, exc: ConfigError) -> JSONResponse:
        return _error(400, exc, store.path)

    @api.exception_handler(DataError)
    async def bad_data(_: Request, exc: DataError) -> JSONResponse:
        return _error(422, exc, store.path)

    def consistent(
        view: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """``view`` over one moment of the store: a page read while a run writes never puts
        rounds beside a round count or a chart from another moment."""
        with store.snapshot():
            return view(store, *args, **kwargs)

    @api.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    @api.get("/api/health")
    def health() -> dict[str, Any]:
        """Liveness, the store's name and schema, and that this server is read-only."""
        return {
            "status": "ok",
            "rengo_version": __version__,
            "store": store.path.name,
            "schema_version": SCHEMA_VERSION,
            "read_only": True,
            "change_version": watcher.version,
        }

    @api.get("/api/runs")
    def runs(
        kind: str | None = None,
        status: str | None = None,
        q: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
        tz: str | None = None,
    ) -> dict[str, Any]:
        """Runs, newest first, filtered by kind, status, name or id text, and start date
        (days in the time zone ``tz``: the page sends its browser's)."""
        return consistent(
            views.runs_overview,
            kind=kind,
            status=status,
            query=q,
            since=since,
            until=until,
            limit=limit,
            tz=tz,
        )

    @api.get("/api/runs/{run_id}")
    def run(run_id: str) -> dict[str, Any]:
        """One run's header, config, summary, rounds and metric series."""
        return consistent(views.run_overview, run_id)

    @api.get("/api/runs/{run_id}/clients")
    def clients(run_id: str) -> dict[str, Any]:
        """Per-client totals, participation, failures, traffic and metric spread."""
        return consistent(views.clients_overview, run_id)

    @api.get("/api/runs/{run_id}/events")
    def events(
        run_id: str,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=10000)] = 500,
    ) -> dict[str, Any]:
        """The run's events after sequence number ``after``."""
        return consistent(views.events_view, run_id, after, limit)

    @api.get("/api/runs/{run_id}/presence")
    def presence(run_id: str) -> dict[str, Any]:
        """Who is connected to a deployed run's coordinator."""
        return consistent(views.presence_view, run_id)

    @api.get("/api/runs/{run_id}/rewards")
    def rewards(run_id: str, method: str | None = None) -> dict[str, Any]:
        """Contribution per participant and the run's ledger."""
        return consistent(views.rewards_view, run_id, method)

    @api.get("/api/runs/{run_id}/tournament")
    def tournament(run_id: str) -> dict[str, Any]:
        """A tournament run's leaderboard, scores per round and per era."""
        return consistent(views.tournament_view, run_id)

    @api.get("/api/compare")
    def compare(ids: str) -> dict[str, Any]:
        """Two or more runs side by side (``ids=a,b,...``)."""
        return consistent(views.compare_view, [i for i in ids.split(",") if i.strip()])

    @api.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        """Server-sent events: ``change`` whenever the store changed (pages then refetch)."""
        watcher.start()
        return StreamingResponse(
            _changes(request, watcher, stopping),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    # set by the server as it begins to stop: open event streams end, so the graceful
    # shutdown completes instead of cancelling them
    api.state.stopping = stopping
    return api


async def _changes(
    request: Request, watcher: ChangeWatcher, stopping: threading.Event
) -> AsyncIterator[str]:
    """``retry``, then one ``change`` event now and one per store change, keep-alive
    comments between, ending after :data:`STREAM_MAX_S`, or once the server is
    ``stopping`` (an open page held the server's graceful shutdown until it gave up and
    cancelled the stream, printing a traceback)."""
    yield "retry: 2000\n\n"
    started = last_sent = time.monotonic()
    seen: int | None = None
    while time.monotonic() - started < STREAM_MAX_S and not stopping.is_set():
        if await request.is_disconnected():
            return
        if watcher.version != seen:
            seen = watcher.version
            last_sent = time.monotonic()
            yield f"event: change\ndata: {json.dumps({'version': seen})}\n\n"
        elif time.monotonic() - last_sent > STREAM_KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(STREAM_POLL_S)


def create_app(
    store_path: str | os.PathLike[str],
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    https: bool = False,
    poll_interval_s: float = 0.25,
) -> Any:
    """The dashboard app for the store at ``store_path``, behind its guards.

    Parameters
    ----------
    store_path
        The run store (file or folder); opened read-only, it must exist.
    token
        When set, every request must carry it (bearer header, cookie, or ``?token=``).
    allowed_hosts
        Host header values to accept (None: any); a loopback-only server without a token
        passes its own names here against DNS rebinding.
    https
        Served over TLS: the token cookie is then marked ``Secure``.
    poll_interval_s
        How often the store is checked for changes while a page is open.

    Returns
    -------
    An ASGI application (FastAPI inside, guards outside); its ``api`` attribute is the
    FastAPI app, for ``fastapi.testclient.TestClient``-style tests of the routes alone,
    and ``api.state.stopping`` the event that ends every open event stream (set it before
    stopping the server).
    """
    api = build_api(store_path, poll_interval_s=poll_interval_s)
    app: Any = SecurityHeaders(api)
    if allowed_hosts is not None:
        app = HostGuard(app, allowed_hosts)
    if token is not None:
        app = TokenGuard(app, token, secure_cookie=https)
    app = ReadOnlyGuard(app)
    app.api = api
    return app
