"""A deployed party: the user's client code, connected outbound to a coordinator."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from rengo.core.deprecation import moved_names
from rengo.core.errors import ConfigError, PeerFailure
from rengo.core.roles import COORDINATOR
from rengo.crypto.signatures import SigningIdentity
from rengo.deploy.local_dp_history import warn_unkept_dp_history
from rengo.hfl.client import ClientFn, client_handler
from rengo.hfl.mods.chain import Mod
from rengo.hfl.secagg.client_mod import SecAggMod
from rengo.transport.grpc_party import DEFAULT_BACKOFF, Backoff, PartyConnection
from rengo.transport.grpc_security import PartyCredentials

log = logging.getLogger("rengo.deploy")


def run_party(
    coordinator: str,
    name: str,
    client_fn: ClientFn,
    credentials: PartyCredentials,
    *,
    heartbeat_interval: float = 2.0,
    heartbeat_timeout: float | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    mods: Sequence[Mod] = (),
    on_finished: Callable[[str], None] | None = None,
    require_signed_secagg: bool = False,
    data_files: Mapping[str, str] | None = None,
    on_joined: Callable[[str | None], None] | None = None,
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
    heartbeat_interval, heartbeat_timeout, backoff
        Liveness checks (seconds between heartbeats; without a whole frame from the
        coordinator before this party reconnects, default five intervals) and reconnection
        schedule.
    mods
        Client mods this party installs around its client (the mods the coordinator's
        strategy needs are added by name, from this installation's registry). A party with
        an mTLS certificate also installs the secure aggregation mod with its certificate as
        signing identity, so it can take part in signed rounds.
    require_signed_secagg
        Refuse secure aggregation rounds that are not signed, so a coordinator cannot
        downgrade this party to the semi-honest protocol (needs an mTLS certificate). To pin
        the degree and threshold too, install ``SecAggMod(identity, min_threshold=...)``.
    data_files
        The data files this party trains on, ``{path: sha256 hex}``
        (:func:`rengo.data.file_sha256`): reported to the coordinator at every join, which
        keeps the first report with the run and warns when a later one differs. It is this
        party's word, not checked by anyone; None: nothing reported.
    on_finished
        Called with the coordinator's last word (``"run RUN completed"``) when it ends the
        run - also when this party lost its link before the end and came back after it.
    on_joined
        Called with the run's id (None where the coordinator records no run) each time the
        coordinator welcomes this party: ``rengo party`` names the run in its log records.

    Returns
    -------
    int
        How many sessions it took.

    Raises
    ------
    AuthenticationError
        If the coordinator refuses this party; :class:`~rengo.core.errors.HandshakeError`
        (a subclass) if TLS cannot be set up, naming which side's certificate or mode is
        wrong.
    DuplicatePartyError
        If another instance of this party connected and replaced this one.
    CoordinatorUnreachable
        If no coordinator answered for ``backoff.give_up_after`` seconds.
    PeerFailure
        If the coordinator ended the run as failed (``run RUN failed: REASON``; its role
        is ``"coordinator"``): ``rengo party`` then exits 1 with that line.

    Warns
    -----
    UserWarning
        If the party's client trains with local DP and keeps its accountant history only in
        memory (:mod:`rengo.deploy.local_dp_history`): a restart would forget the budget spent.
    """
    warn_unkept_dp_history(client_fn, name)
    connection = PartyConnection(
        coordinator,
        name,
        credentials,
        handler=client_handler(
            client_fn, [*mods, *_signing_mods(name, credentials, mods, require_signed_secagg)]
        ),
        heartbeat_interval=heartbeat_interval,
        heartbeat_timeout=heartbeat_timeout,
        backoff=backoff,
        data_files=data_files,
        on_welcome=on_joined,
    )
    connection.run()
    if connection.run_failed:
        raise PeerFailure(COORDINATOR, "run failed", f"party {name}: {connection.farewell}")
    if on_finished is not None and connection.farewell is not None:
        on_finished(connection.farewell)
    return connection.sessions


def _signing_mods(
    name: str, credentials: PartyCredentials, mods: Sequence[Mod], require_signed: bool
) -> list[Mod]:
    """The secagg mod signing with this party's mTLS certificate (none if the party installs
    its own, or authenticates by token).

    Raises
    ------
    ConfigError
        If ``require_signed`` and the party has no certificate to sign with.
    """
    if any(getattr(mod, "name", None) == SecAggMod.name for mod in mods):
        return []
    identity = None
    if credentials.cert and credentials.key and credentials.ca_cert:
        try:
            identity = SigningIdentity.from_pem(
                credentials.cert, credentials.key, credentials.ca_cert, credentials.revocations
            )
        except ConfigError as exc:
            if require_signed:
                raise
            log.warning("party %s cannot sign secure aggregation rounds: %s", name, exc)
    if identity is None or identity.name != name:
        if require_signed:
            raise ConfigError(
                f"party {name!r} requires signed secure aggregation but has no certificate "
                "from the federation CA in its own name to sign with"
            )
        return []  # a signed round then fails with "has no signing identity"
    return [SecAggMod(identity, require_signed=require_signed)]


# run_role (any protocol's roles over gRPC) moved to rengo.deploy.roles.
__getattr__ = moved_names(__name__, {"run_role": "rengo.deploy.roles"})
