"""Transports: how bytes move between roles, in one process, across processes or machines.

Algorithms above this layer see only :class:`Channel` (multi-party protocols) and
:class:`ClientPool` (the coordinator's clients), so the same role code runs in simulation
and deployed.
"""

from rengo.transport.channel import Channel, LocalBus, LocalChannel, TranscriptEntry, run_roles
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import GrpcChannel, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.pool import ClientPool, Handler, Reply, Request
from rengo.transport.simulation import ProcessPool, SerialPool

__all__ = [
    "Channel",
    "ClientPool",
    "GrpcChannel",
    "GrpcHub",
    "Handler",
    "HubSecurity",
    "LocalBus",
    "LocalChannel",
    "PartyConnection",
    "PartyCredentials",
    "ProcessPool",
    "Reply",
    "Request",
    "SerialPool",
    "TranscriptEntry",
    "run_roles",
]
