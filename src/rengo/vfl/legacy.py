"""Module paths of ``rengo.vfl`` before the package split, kept for one release.

Importing an old path warns once with a :class:`DeprecationWarning` naming the new home and
forwards every name to it (see :mod:`rengo.core.deprecation`); no file remains at the old
paths. The few helpers whose signature changed keep their old one here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.core.deprecation import alias_moved_modules, warn_deprecated
from rengo.crypto import dealing
from rengo.crypto.dealing import ObfuscatorSource
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.transport.channel import Channel, Key

MOVED_MODULES: dict[str, tuple[str, ...]] = {
    "rengo.vfl.hetero_lr_config": ("rengo.vfl.hetero_lr.config",),
    "rengo.vfl.hetero_lr_roles": ("rengo.vfl.hetero_lr.roles",),
    "rengo.vfl.hetero_lr_predict": ("rengo.vfl.hetero_lr.predict",),
    "rengo.vfl.hetero_lr_math": ("rengo.vfl.hetero_lr.math",),
    "rengo.vfl.hetero_lr_masking": ("rengo.crypto.masking",),
    "rengo.vfl.hetero_lr_gradient": ("rengo.vfl.legacy", "rengo.crypto.multiexp"),
    "rengo.vfl.hetero_lr_obfuscators": ("rengo.vfl.legacy", "rengo.crypto.dealing"),
    "rengo.vfl.psi_ids": ("rengo.vfl.psi.ids",),
    "rengo.vfl.psi_csv": ("rengo.vfl.psi.csv_align",),
    "rengo.vfl.psi_x25519": ("rengo.crypto.x25519",),
}
"""Old module path -> where its names live now (searched in order)."""

DEFAULT_FEATURE_PRECISION_BITS = 16
"""Fractional bits of plaintext features in ``Enc(d)^T X`` (rounding error 2**-17)."""


def encrypted_matmul(
    encrypted: EncryptedArray,
    matrix: np.ndarray,
    precision_bits: int = DEFAULT_FEATURE_PRECISION_BITS,
) -> EncryptedArray:
    """Deprecated: ``encrypted.matmul(matrix, precision_bits)``."""
    warn_deprecated("encrypted_matmul(enc, X, bits)", "enc.matmul(X, bits)")
    return encrypted.matmul(matrix, precision_bits)


def encrypt_with(
    values: np.ndarray, public: Any, exponent: int, obfuscators: np.ndarray
) -> EncryptedArray:
    """Deprecated: ``encrypt_array(values, public, precision_bits=exponent,
    obfuscators=obfuscators)``."""
    warn_deprecated("encrypt_with", "rengo.crypto.encrypt_array(..., obfuscators=...)")
    return encrypt_array(values, public, precision_bits=exponent, obfuscators=obfuscators)


def rerandomized(encrypted: EncryptedArray, obfuscators: np.ndarray) -> EncryptedArray:
    """Deprecated: ``encrypted.rerandomize(obfuscators)``."""
    warn_deprecated("rerandomized(enc, obfuscators)", "enc.rerandomize(obfuscators)")
    return encrypted.rerandomize(obfuscators)


def obfuscator_key(epoch: int, batch: int) -> tuple[Any, ...]:
    """Deprecated: hetero LR deals obfuscators under ``"obfuscators"`` in its batch scope."""
    warn_deprecated("obfuscator_key", "channel.scope('hlr', epoch=e, batch=b)")
    return ("hlr", "obfuscators", epoch, batch)


def deal_obfuscators(
    channel: Channel, party: str, key: Key, pool: ObfuscatorPool, count: int
) -> None:
    """Deprecated: ``rengo.crypto.deal_obfuscators(channel.scope(...), party, pool, count)``."""
    warn_deprecated("deal_obfuscators(channel, party, key, ...)", "rengo.crypto.deal_obfuscators")
    dealing.deal_obfuscators(channel, party, pool, count, key=key)


def batch_obfuscators(
    source: ObfuscatorSource,
    channel: Channel,
    coordinator: str,
    key: Key,
    pool: ObfuscatorPool,
    count: int,
) -> np.ndarray:
    """Deprecated: ``rengo.crypto.batch_obfuscators(source, channel.scope(...), ...)``."""
    warn_deprecated("batch_obfuscators(..., key, ...)", "rengo.crypto.batch_obfuscators")
    return dealing.batch_obfuscators(source, channel, coordinator, pool, count, key=key)


alias_moved_modules(MOVED_MODULES)
