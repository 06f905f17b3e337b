"""A deployed party: the user's client code, connected outbound to a coordinator."""

from __future__ import annotations

from rengo.core.deprecation import moved_names
from rengo.hfl.client import ClientFn, client_handler
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
) -> int:
    """Serve ``client_fn(name)`` to the coordinator at ``host:port`` until the run ends.

    Reconnects with exponential backoff if the link or the coordinator drops; raises
    :class:`~rengo.core.errors.AuthenticationError` if refused. Returns how many sessions
    it took.
    """
    connection = PartyConnection(
        coordinator,
        name,
        credentials,
        handler=client_handler(client_fn),
        heartbeat_interval=heartbeat_interval,
        backoff=backoff,
    )
    connection.run()
    return connection.sessions


# run_role (any protocol's roles over gRPC) moved to rengo.deploy.roles.
__getattr__ = moved_names(__name__, {"run_role": "rengo.deploy.roles"})
