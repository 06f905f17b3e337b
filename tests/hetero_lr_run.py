"""Hetero LR's three roles run on an in-process bus (the label party ``guest``, feature
parties ``host1``, ``host2`` ...), for tests that hold the protocol's results against a
plaintext reference, and the SGD settings such a reference replays."""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.crypto import PaillierPrivateKey, PaillierPublicKey
from rengo.transport.channel import LocalBus, run_roles
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.roles import hetero_lr_coordinator, hetero_lr_guest, hetero_lr_host


def run_hetero_lr(
    parts: list[np.ndarray],
    y: np.ndarray,
    config: HeteroLRConfig,
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
    seed: int,
) -> dict[str, Any]:
    """Train on ``parts`` (the guest's columns first, then one table per host) and return
    each role's result by name (``coordinator``, ``guest``, ``host1`` ...)."""
    hosts = [f"host{k}" for k in range(1, len(parts))]
    bus = LocalBus(["coordinator", "guest", *hosts])
    roles = {
        "coordinator": lambda c: hetero_lr_coordinator(
            c, ["guest", *hosts], "guest", keypair=keypair
        ),
        "guest": lambda c: hetero_lr_guest(c, parts[0], y, hosts, config, seed=seed),
    }
    for k, name in enumerate(hosts, start=1):
        roles[name] = (lambda part: lambda c: hetero_lr_host(c, part, "guest"))(parts[k])
    return run_roles(bus, roles)


def replayable_sgd(**options: Any) -> HeteroLRConfig:
    """Three epochs of SGD steps (batches of 50) a plaintext reference replays exactly,
    with ``options`` on top."""
    return HeteroLRConfig(
        epochs=3,
        batch_size=50,
        learning_rate=0.3,
        l2=0.05,
        tol=0.0,
        optimizer="sgd",
        lr_schedule="inverse_sqrt",
        feature_precision_bits=32,
        **options,
    )
