"""Searching recorded bus transcripts for what must not cross (importable by name: the
tests folder is on the path through its conftest): decoded payload leaves, every plaintext
number in them, and the Paillier randomness checks of ``test_sent_ciphertexts``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from test_sent_ciphertexts import randomness_problems, sent_arrays

from rengo.core.codec import decode
from rengo.core.envelope import envelope_from_bytes
from rengo.transport.channel import TranscriptEntry

__all__ = ["decoded_leaves", "plain_numbers", "randomness_problems", "sent_arrays"]


def decoded_leaves(entry: TranscriptEntry) -> Iterator[Any]:
    """Every leaf value of the entry's decoded payload (dicts and sequences walked)."""

    def walk(value: Any) -> Iterator[Any]:
        if isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from walk(item)
        else:
            yield value

    yield from walk(decode(envelope_from_bytes(entry.payload).payload))


def plain_numbers(entries: list[TranscriptEntry]) -> np.ndarray:
    """Every plaintext number the entries carry (numeric arrays and scalars), as float64."""
    out = [np.zeros(0)]
    for entry in entries:
        for leaf in decoded_leaves(entry):
            if isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf":
                out.append(leaf.astype(np.float64).ravel())
            elif isinstance(leaf, (bool, int, float, np.number)):
                out.append(np.array([float(leaf)]))
    return np.concatenate(out)
