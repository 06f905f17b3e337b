"""A deployed party: the user's client code, connected outbound to a coordinator."""

from __future__ import annotations

from collections.abc import Sequence

from rengo.core.deprecation import moved_names
from rengo.hfl.client import ClientFn, client_handler
from rengo.hfl.mods.chain import Mod
from rengo.transport.grpc_party import DEFAULT_BACKOFF, Backoff, PartyConnection
from rengo.transport.grpc_security import PartyCredentials


def run_party(
    coordinator: str,
    name: str,
    client_fn: ClientFn,
    credentials: PartyCredentials,
    *,
    heartbeat_interval: float = 2.0,
    backoff: Backoff = DEFAULT_BACKOFF,
    mods: Sequence[Mod] = (),
) -> int:
    """Serve ``client_fn(name)`` to the coordinator at ``host:port`` until the run ends.

    Reconnects with exponential backoff if the link or the coordinator drops.

    Parameters
    ----------
    coordinator
        The coordinator's ``HOST:PORT``.
    name
        This party's name (as in its certificate).
    client_fn
        Builds this party's client.
    credentials
        mTLS certificate, token or plain text.
    heartbeat_interval, backoff
        Liveness checks and reconnection schedule.
    mods
        Client mods this party installs around its client (the mods the coordinator's
        strategy needs are added by name, from this installation's registry).

    Returns
    -------
    int
        How many sessions it took.

    Raises
    ------
    AuthenticationError
        If the coordinator refuses this party.
    """
    connection = PartyConnection(
        coordinator,
        name,
        credentials,
        handler=client_handler(client_fn, mods),
        heartbeat_interval=heartbeat_interval,
        backoff=backoff,
    )
    connection.run()
    return connection.sessions


# run_role (any protocol's roles over gRPC) moved to rengo.deploy.roles.
__getattr__ = moved_names(__name__, {"run_role": "rengo.deploy.roles"})
