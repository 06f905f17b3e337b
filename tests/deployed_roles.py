"""A vertical run's roles as deployed parties play them, on an in-process bus: the
coordinator's and each party's role functions (``rengo vfl coordinator`` / ``rengo vfl
party`` run the same ones over the gRPC hub), every party without an own seed, as ``rengo
vfl party`` runs without ``--own-seed`` (importable by name: the tests folder is on the path
through its conftest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rengo.core.roles import COORDINATOR
from rengo.transport.channel import LocalBus, TranscriptEntry, run_roles
from rengo.vfl.common import PartyData
from rengo.vfl.runner import VerticalPlan, vertical_coordinator, vertical_party


def run_as_deployed(
    plan: VerticalPlan, data: Mapping[str, PartyData]
) -> tuple[dict[str, Any], list[TranscriptEntry]]:
    """Every role's result, and every message sent."""
    bus = LocalBus([COORDINATOR, *plan.parties], record=True, timeout=120.0)
    roles: dict[str, Any] = {COORDINATOR: lambda ch: vertical_coordinator(ch, plan)}
    for name in plan.parties:
        roles[name] = lambda ch, name=name: vertical_party(ch, data[name])
    return run_roles(bus, roles), list(bus.transcript)
