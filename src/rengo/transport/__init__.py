"""Transports: how bytes move between roles, in one process, across processes or machines.

Algorithms above this layer see only :class:`Channel` (multi-party protocols) and
:class:`ClientPool` (the coordinator's clients), so the same role code runs in simulation
and deployed.
"""

import importlib
import os
from typing import Any

# gRPC's C core prints its own log lines (``I1204 ... ssl_transport_security.cc ... Handshake
# failed``) beside the one-line errors rengo raises for the same events. Its level is read once,
# when ``grpc`` is first imported, so it is set here, below every module that imports grpc; a
# GRPC_VERBOSITY the user set wins, and errors (``E...`` lines) still show.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from rengo.transport.channel import Channel, LocalBus, LocalChannel, TranscriptEntry, run_roles
from rengo.transport.executors import (
    Executor,
    executor_names,
    executors,
    make_executor,
    register_executor,
)
from rengo.transport.pool import ClientPool, Handler, Reply, Request
from rengo.transport.simulation import ProcessPool, SerialPool
from rengo.transport.straggler import StragglerWait

# The gRPC names load on first use: simulation should not pay for grpc and x509 imports.
_LAZY = {
    "GrpcHub": "rengo.transport.grpc_hub",
    "HubParty": "rengo.transport.grpc_hub",
    "Backoff": "rengo.transport.grpc_party",
    "GrpcChannel": "rengo.transport.grpc_party",
    "PartyConnection": "rengo.transport.grpc_party",
    "HubSecurity": "rengo.transport.grpc_security",
    "PartyCredentials": "rengo.transport.grpc_security",
    "RevocationList": "rengo.transport.revocation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
