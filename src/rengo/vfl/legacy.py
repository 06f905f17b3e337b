"""Module paths of ``rengo.vfl`` before the package split, kept for one release.

Importing an old path warns with a :class:`DeprecationWarning` naming the new home and gives
a module holding its names (see :mod:`rengo.core.deprecation`); no file remains at the old
paths, so version control follows the moves. The few helpers whose signature changed keep
their old one here.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from rengo.core.deprecation import REMOVED_IN, MovedModule, alias_moved_modules

# Imported by the old helpers that use them, not here: `import rengo.vfl` imports this
# module, and these bring numpy, Paillier and the wire envelope with them.
if TYPE_CHECKING:
    import numpy as np

    from rengo.crypto.dealing import ObfuscatorSource
    from rengo.crypto.encrypted_array import EncryptedArray
    from rengo.crypto.obfuscators import ObfuscatorPool
    from rengo.transport.channel import Channel, Key

_OLD_SIGNATURES = "rengo.vfl.legacy"  # the helpers below, with their old signatures

MOVED_MODULES: dict[str, str | MovedModule] = {
    "rengo.vfl.hetero_lr_config": "rengo.vfl.hetero_lr.config",
    "rengo.vfl.hetero_lr_roles": "rengo.vfl.hetero_lr.roles",
    "rengo.vfl.hetero_lr_predict": "rengo.vfl.hetero_lr.predict",
    "rengo.vfl.hetero_lr_math": "rengo.vfl.hetero_lr.math",
    "rengo.vfl.hetero_lr_masking": "rengo.crypto.masking",
    "rengo.vfl.hetero_lr_gradient": MovedModule(
        "rengo.crypto.multiexp",
        names=dict.fromkeys(
            ("encrypted_matmul", "DEFAULT_FEATURE_PRECISION_BITS"), _OLD_SIGNATURES
        ),
        hints={
            "encrypted_matmul": "use EncryptedArray.matmul(matrix, precision_bits) instead",
            "DEFAULT_FEATURE_PRECISION_BITS": (
                "use LinearModelConfig().feature_precision_bits (16) instead"
            ),
        },
    ),
    "rengo.vfl.hetero_lr_obfuscators": MovedModule(
        "rengo.crypto.dealing",
        names=dict.fromkeys(
            (
                "encrypt_with",
                "rerandomized",
                "obfuscator_key",
                "deal_obfuscators",
                "batch_obfuscators",
            ),
            _OLD_SIGNATURES,
        ),
        hints={
            "encrypt_with": "use rengo.crypto.encrypt_array(..., obfuscators=...) instead",
            "rerandomized": "use EncryptedArray.rerandomize(obfuscators) instead",
            "obfuscator_key": "hetero LR deals under 'obfuscators' in its batch scope",
            "deal_obfuscators": "use rengo.crypto.deal_obfuscators on a scoped channel",
            "batch_obfuscators": "use rengo.crypto.batch_obfuscators on a scoped channel",
        },
    ),
    "rengo.vfl.psi_ids": "rengo.vfl.psi.ids",
    "rengo.vfl.psi_csv": "rengo.vfl.psi.csv_align",
    "rengo.vfl.psi_x25519": "rengo.crypto.x25519",
}
"""Old module path -> where its names live now."""


def _warn_old_signature(old: str, advice: str) -> None:
    """The caller used a helper whose signature changed: say what to use instead."""
    warnings.warn(
        f"{old} is deprecated and will be removed in rengo {REMOVED_IN}; {advice}",
        DeprecationWarning,
        stacklevel=3,
    )


DEFAULT_FEATURE_PRECISION_BITS = 16
"""Fractional bits of plaintext features in ``Enc(d)^T X`` (rounding error 2**-17)."""


def encrypted_matmul(
    encrypted: EncryptedArray,
    matrix: np.ndarray,
    precision_bits: int = DEFAULT_FEATURE_PRECISION_BITS,
) -> EncryptedArray:
    """Deprecated: ``encrypted.matmul(matrix, precision_bits)``."""
    _warn_old_signature("encrypted_matmul(enc, X, bits)", "use enc.matmul(X, bits)")
    return encrypted.matmul(matrix, precision_bits)


def encrypt_with(
    values: np.ndarray, public: Any, exponent: int, obfuscators: np.ndarray
) -> EncryptedArray:
    """Deprecated: ``encrypt_array(values, public, precision_bits=exponent,
    obfuscators=obfuscators)``."""
    from rengo.crypto.encrypted_array import encrypt_array

    _warn_old_signature("encrypt_with", "use rengo.crypto.encrypt_array(..., obfuscators=...)")
    return encrypt_array(values, public, precision_bits=exponent, obfuscators=obfuscators)


def rerandomized(encrypted: EncryptedArray, obfuscators: np.ndarray) -> EncryptedArray:
    """Deprecated: ``encrypted.rerandomize(obfuscators)``."""
    _warn_old_signature("rerandomized(enc, obfuscators)", "use enc.rerandomize(obfuscators)")
    return encrypted.rerandomize(obfuscators)


def obfuscator_key(epoch: int, batch: int) -> tuple[Any, ...]:
    """Deprecated: hetero LR deals obfuscators under ``"obfuscators"`` in its batch scope."""
    _warn_old_signature("obfuscator_key", "use channel.scope('hlr', epoch=e, batch=b)")
    return ("hlr", "obfuscators", epoch, batch)


def deal_obfuscators(
    channel: Channel, party: str, key: Key, pool: ObfuscatorPool, count: int
) -> None:
    """Deprecated: ``rengo.crypto.deal_obfuscators(channel.scope(...), party, pool, count)``."""
    from rengo.crypto import dealing

    _warn_old_signature("deal_obfuscators(channel, party, key, ...)", "use crypto.deal_obfuscators")
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
    from rengo.crypto import dealing

    _warn_old_signature("batch_obfuscators(..., key, ...)", "use crypto.batch_obfuscators")
    return dealing.batch_obfuscators(source, channel, coordinator, pool, count, key=key)


alias_moved_modules(MOVED_MODULES)
