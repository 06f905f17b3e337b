"""Where the parties' encryption randomness (obfuscators ``r^n mod n^2``) comes from.

``"local"``: each party precomputes its own (a public-key modexp each). ``"coordinator"``:
the key holder deals each party fresh obfuscators made by CRT, several times cheaper, over
the party's private channel, ahead of each use. This leaks nothing new in the semi-honest
model: the key holder never sees the ciphertexts those obfuscators hide, and any coalition
that shows it them could decrypt them with the private key anyway. A *malicious* key holder
could deal weak obfuscators; pick ``"local"`` when it is not trusted to follow the protocol.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.wire import ciphertexts_from_bytes, ciphertexts_to_bytes
from rengo.transport.channel import Channel, Key

ObfuscatorSource = Literal["local", "coordinator"]
OBFUSCATOR_SOURCES: tuple[ObfuscatorSource, ...] = ("local", "coordinator")
DEALT = "obfuscators"
"""Message key (in the caller's scope) of one dealing."""


def deal_obfuscators(
    channel: Channel, to: str, pool: ObfuscatorPool, count: int, *, key: Key = DEALT
) -> None:
    """Key holder -> ``to``: ``count`` fresh obfuscators from ``pool``, each used once.

    Parameters
    ----------
    channel
        The key holder's channel, scoped to the step the obfuscators are for.
    to
        The receiving party.
    pool
        The key holder's pool (CRT obfuscators when made with the private key).
    count
        How many the receiver asks for in this step.
    key
        The message key in ``channel``'s scope.
    """
    channel.send(to, key, ciphertexts_to_bytes(pool.take(count), pool.public_key))


def batch_obfuscators(
    source: ObfuscatorSource,
    channel: Channel,
    dealer: str,
    pool: ObfuscatorPool,
    count: int,
    *,
    key: Key = DEALT,
) -> np.ndarray:
    """``count`` obfuscators for one step: dealt by ``dealer`` or from our own ``pool``.

    Dealt ones are received in ``channel``'s scope.

    Raises
    ------
    ProtocolError
        If the dealt bytes are not ``count`` valid obfuscators under ``pool``'s key.
    """
    if source == "local":
        return pool.take(count)
    data = channel.recv(dealer, key)
    try:
        return ciphertexts_from_bytes(data, pool.public_key, (count,))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"bad obfuscators from {dealer}: {exc}") from exc
