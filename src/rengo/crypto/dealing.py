"""Where the guest and hosts get the obfuscators ``r^n mod n^2`` their encryptions need.

``"local"``: each party precomputes its own (a public-key modexp each). ``"coordinator"``:
the key holder deals each party fresh obfuscators made by CRT, several times cheaper, over
the party's private channel, ahead of each batch. This leaks nothing new in the semi-honest
model: the coordinator never sees the ciphertexts those obfuscators hide (hosts' ``Enc(u)``,
the guest's ``Enc(d)``), and any coalition that shows it them could decrypt them with the
private key anyway. A *malicious* coordinator could deal weak obfuscators; pick ``"local"``
when the coordinator is not trusted to follow the protocol.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.crypto import EncryptedArray, ObfuscatorPool, PaillierPublicKey
from rengo.crypto.wire import ciphertexts_from_bytes, ciphertexts_to_bytes
from rengo.transport.channel import Channel

ObfuscatorSource = Literal["local", "coordinator"]
OBFUSCATOR_SOURCES: tuple[ObfuscatorSource, ...] = ("local", "coordinator")


def obfuscator_key(epoch: int, batch: int) -> tuple[Any, ...]:
    """Message key of the obfuscators dealt for one batch."""
    return ("hlr", "obfuscators", epoch, batch)


def deal_obfuscators(
    channel: Channel, party: str, key: tuple[Any, ...], pool: ObfuscatorPool, count: int
) -> None:
    """Coordinator -> ``party``: ``count`` fresh CRT obfuscators, used once each."""
    channel.send(party, key, ciphertexts_to_bytes(pool.take(count), pool.public_key))


def batch_obfuscators(
    source: ObfuscatorSource,
    channel: Channel,
    coordinator: str,
    key: tuple[Any, ...],
    pool: ObfuscatorPool,
    count: int,
) -> np.ndarray:
    """``count`` obfuscators for this batch: dealt by the coordinator or from our pool."""
    if source == "local":
        return pool.take(count)
    data = channel.recv(coordinator, key)
    try:
        return ciphertexts_from_bytes(data, pool.public_key, (count,))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"bad obfuscators from the coordinator: {exc}") from exc


def encrypt_with(
    values: np.ndarray, public: PaillierPublicKey, exponent: int, obfuscators: np.ndarray
) -> EncryptedArray:
    """``Enc(values)`` at ``exponent`` from given obfuscators: ``Enc(0) = r^n`` plus the
    plaintexts (the crypto library's fixed-point encoding and range checks apply)."""
    zeros = EncryptedArray(public, obfuscators.reshape(np.shape(values)), exponent)
    return zeros + values


def rerandomized(encrypted: EncryptedArray, obfuscators: np.ndarray) -> EncryptedArray:
    """The same plaintexts under fresh randomness (times fresh obfuscators)."""
    fresh = encrypted.ciphertexts * obfuscators.reshape(encrypted.shape)
    return EncryptedArray(
        encrypted.public_key, fresh % encrypted.public_key.nsquare, encrypted.exponent
    )
