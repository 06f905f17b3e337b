"""Transports: how bytes move between roles, in one process, across processes or machines.

Algorithms above this layer see only :class:`Channel` (multi-party protocols) and
:class:`ClientPool` (the coordinator's clients), so the same role code runs in simulation
and deployed.
"""

import os
from typing import TYPE_CHECKING

# gRPC's C core prints its own log lines (``I1204 ... ssl_transport_security.cc ... Handshake
# failed``) beside the one-line errors rengo raises for the same events. Its level is read once,
# when ``grpc`` is first imported, so it is set here, below every module that imports grpc; a
# GRPC_VERBOSITY the user set wins, and errors (``E...`` lines) still show.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from rengo.core.lazy_exports import lazy_exports

# Imported now: a lazy name equal to a submodule's would be replaced by that submodule
# whenever the submodule is imported first.
from rengo.transport.executors import executors

if TYPE_CHECKING:
    from rengo.transport.channel import Channel, LocalBus, LocalChannel, TranscriptEntry, run_roles
    from rengo.transport.executors import (
        Executor,
        executor_names,
        make_executor,
        register_executor,
    )
    from rengo.transport.grpc_hub import GrpcHub, HubParty
    from rengo.transport.grpc_party import Backoff, GrpcChannel, PartyConnection
    from rengo.transport.grpc_security import HubSecurity, PartyCredentials
    from rengo.transport.pool import ClientPool, Handler, Reply, Request
    from rengo.transport.revocation import RevocationList
    from rengo.transport.simulation import ProcessPool, SerialPool
    from rengo.transport.straggler import StragglerWait


__all__ = [
    "Backoff",
    "Channel",
    "ClientPool",
    "Executor",
    "GrpcChannel",
    "GrpcHub",
    "Handler",
    "HubParty",
    "HubSecurity",
    "LocalBus",
    "LocalChannel",
    "PartyConnection",
    "PartyCredentials",
    "ProcessPool",
    "Reply",
    "Request",
    "RevocationList",
    "SerialPool",
    "StragglerWait",
    "TranscriptEntry",
    "executor_names",
    "executors",
    "make_executor",
    "register_executor",
    "run_roles",
]

__getattr__, __dir__ = lazy_exports(__name__)
