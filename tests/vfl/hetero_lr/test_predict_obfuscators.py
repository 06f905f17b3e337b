"""Encrypted scoring randomises with the scheme the guest names (DJN by default), like
training; each party builds its own pool."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError, ProtocolError
from rengo.crypto import ObfuscatorPool, generate_paillier_keypair, local_exponent_bits
from rengo.transport.channel import LocalBus, run_roles
from rengo.vfl.hetero_lr.math import sigmoid
from rengo.vfl.hetero_lr.predict import (
    PREDICT_SETUP,
    SCOPE,
    hetero_lr_predict_coordinator,
    hetero_lr_predict_guest,
    hetero_lr_predict_host,
)
from rengo.vfl.hetero_lr.roles import GuestModel, HostModel

KEYS = generate_paillier_keypair(512, seed=4)
RNG = np.random.default_rng(2)
X_GUEST, X_HOST = RNG.normal(size=(40, 3)), RNG.normal(size=(40, 2))
GUEST = GuestModel(np.array([0.5, -1.0, 0.25]), 0.1)
HOST = HostModel(np.array([2.0, -0.5]), 1)


def _score(monkeypatch: pytest.MonkeyPatch, **guest_kwargs: Any) -> tuple[np.ndarray, list[str]]:
    made: list[str] = []
    original = ObfuscatorPool.for_encryptor

    def recording(*args: Any, **kwargs: Any) -> ObfuscatorPool:
        pool = original(*args, **kwargs)
        made.append(pool.method)
        return pool

    monkeypatch.setattr(ObfuscatorPool, "for_encryptor", recording)
    bus = LocalBus(["coordinator", "guest", "host"])
    results = run_roles(
        bus,
        {
            "coordinator": lambda c: hetero_lr_predict_coordinator(
                c, ["guest", "host"], "guest", KEYS
            ),
            "guest": lambda c: hetero_lr_predict_guest(c, X_GUEST, GUEST, ["host"], **guest_kwargs),
            "host": lambda c: hetero_lr_predict_host(c, X_HOST, HOST, "guest"),
        },
    )
    return results["guest"], made


def _expected() -> np.ndarray:
    return sigmoid(X_GUEST @ GUEST.weights + GUEST.intercept + X_HOST @ HOST.weights)


def test_encrypted_scoring_uses_djn_obfuscators_by_default(monkeypatch):
    scores, made = _score(monkeypatch)
    np.testing.assert_allclose(scores, _expected(), atol=1e-8)
    assert len(made) == 2 and all(m.startswith("djn") for m in made)


def test_encrypted_scoring_with_full_obfuscators_when_the_guest_asks(monkeypatch):
    scores, made = _score(monkeypatch, obfuscator_scheme="full")
    np.testing.assert_allclose(scores, _expected(), atol=1e-8)
    assert made == ["standard", "standard"]


def test_encrypted_scoring_with_djn_short_obfuscators_when_the_guest_asks(monkeypatch):
    exponent_bits: list[int] = []
    original = ObfuscatorPool.for_encryptor

    def recording(*args: Any, **kwargs: Any) -> ObfuscatorPool:
        pool = original(*args, **kwargs)
        exponent_bits.append(pool.scheme.exponent_bits)  # type: ignore[attr-defined]
        return pool

    monkeypatch.setattr(ObfuscatorPool, "for_encryptor", recording)
    scores, made = _score(monkeypatch, obfuscator_scheme="djn-short")
    np.testing.assert_allclose(scores, _expected(), atol=1e-8)
    assert made == ["djn-fixed-base", "djn-fixed-base"]
    assert exponent_bits == [local_exponent_bits(KEYS[0], "djn-short")] * 2


def test_unknown_scheme_is_refused_by_the_guest_and_by_a_host():
    with pytest.raises(ConfigError, match="obfuscator_scheme must be one of"):
        hetero_lr_predict_guest(
            LocalBus(["guest"]).channel("guest"),
            X_GUEST,
            GUEST,
            ["host"],
            obfuscator_scheme="short",  # type: ignore[arg-type]
        )
    bus = LocalBus(["guest", "host"])
    bus.channel("guest").scope(SCOPE).send(
        "host", PREDICT_SETUP, {"mode": "encrypted", "rows": 40, "obfuscator_scheme": "short"}
    )
    with pytest.raises(ProtocolError, match="names obfuscator scheme 'short'"):
        hetero_lr_predict_host(bus.channel("host"), X_HOST, HOST, "guest")
