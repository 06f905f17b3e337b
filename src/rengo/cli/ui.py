"""``rengo ui``: the live dashboard over a run store, and the ``--ui`` of ``rengo coordinator``.

Register with ``app.command("ui")(ui)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rengo.cli.errors import friendly_errors
from rengo.cli.secret_options import warn_if_on_command_line
from rengo.cli.store_option import StoreOption

console = Console()


def start_dashboard(
    store: Path | None,
    listen: str,
    token: str | None,
    certs: Path | None,
    *,
    foreground: bool,
    out: Console = console,
    max_connections: int | None = None,
) -> Any:
    """Build the dashboard server for a store; serve it here (``foreground``) or on a
    thread, returning the started server. ``certs`` (a ``rengo certs init`` folder) turns on
    HTTPS with the coordinator's certificate and requires browsers to present a client
    certificate from that CA; a non-loopback address needs it or ``token``.
    ``max_connections`` (None: the dashboard's default) caps the connections served at once.

    Raises
    ------
    ConfigError
        No store there, an exposed address without a token or certificates, or (served
        here) a port another process holds: refused before the dashboard is announced.
    """
    from rengo.tracking import resolve_store_path
    from rengo.ui import TlsFiles, parse_listen, require_ui

    require_ui()
    from rengo.ui import DashboardServer

    tls = None if certs is None else TlsFiles.from_certs_dir(certs)
    limit = {} if max_connections is None else {"max_connections": max_connections}
    server = DashboardServer(
        resolve_store_path(store), parse_listen(listen), token=token, tls=tls, **limit
    )
    access = (
        "client certificate from the federation's CA required"
        if tls is not None
        else ("token required" if token is not None else "this machine only")
    )
    if foreground:  # on a thread, start() says when the port is taken
        from rengo.transport.grpc_hub import check_can_listen

        check_can_listen(server.listen.address)
        out.print(f"dashboard at [bold]{server.url}[/] ({access}); Ctrl-C to stop")
        server.serve_forever()
        return server
    url = server.start()
    out.print(f"dashboard at [bold]{url}[/] ({access})")
    return server


def ui(
    ctx: typer.Context,
    store: StoreOption = None,
    listen: Annotated[
        str, typer.Option(help="HOST:PORT; anything but loopback needs --token or --certs.")
    ] = "127.0.0.1:8080",
    token: Annotated[
        str | None,
        typer.Option(envvar="RENGO_UI_TOKEN", help="Access token (>= 16 characters)."),
    ] = None,
    certs: Annotated[
        Path | None,
        typer.Option(help="Serve HTTPS with this `rengo certs init` folder; clients need a cert."),
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Most connections served at once (default 256); more are answered 503 and "
            "open pages poll instead.",
        ),
    ] = None,
) -> None:
    """Serve the live dashboard: runs, curves, clients, who is online, payouts. Read-only."""
    with friendly_errors():
        warn_if_on_command_line(ctx, "token", "--token", "RENGO_UI_TOKEN")
        start_dashboard(
            store, listen, token, certs, foreground=True, max_connections=max_connections
        )
