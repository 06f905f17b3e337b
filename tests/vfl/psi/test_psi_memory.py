"""PSI holds its points as 32-byte runs, not as a ``bytes`` object per point: hashing,
blinding and the leader's matching each peak at a small multiple of the points' own bytes
(a bank's million IDs per party are 32 MB of points; a list of ``bytes`` of them is over
70 MB, a dict of them more), and the matching finds the same positions a dict does."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from rengo.crypto import x25519
from rengo.crypto.x25519 import POINT_BYTES, exchange_chunk, hash_to_points, new_secret
from rengo.vfl.psi import protocol

COUNT = 20_000
IDS = [f"{i:012d}".encode() for i in range(COUNT)]
POINTS = hash_to_points(IDS, b"rengo-psi/v1/memory-test")


def _traced_peak(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_hashing_ids_to_points_peaks_under_three_times_the_points() -> None:
    peak = _traced_peak(lambda: hash_to_points(IDS, b"rengo-psi/v1/memory-test"))
    assert peak < 3 * len(POINTS), f"{peak / len(POINTS):.2f}x the points"


def test_blinding_points_peaks_under_three_times_the_points() -> None:
    secret = new_secret()
    peak = _traced_peak(lambda: exchange_chunk(secret, POINTS))
    assert peak < 3 * len(POINTS), f"{peak / len(POINTS):.2f}x the points"


def test_hashing_gives_each_id_its_keyed_digest_with_the_top_bit_cleared() -> None:
    context = b"rengo-psi/v1/memory-test"
    key = hashlib.blake2b(context, digest_size=32, person=x25519._CONTEXT_PERSON).digest()
    digests = [
        bytearray(hashlib.blake2b(v, digest_size=32, key=key, person=x25519._HASH_PERSON).digest())
        for v in IDS
    ]
    for digest in digests:
        digest[-1] &= 0x7F
    assert b"".join(digests) == POINTS


def test_the_leader_s_matching_peaks_under_three_times_the_points() -> None:
    theirs = exchange_chunk(new_secret(), POINTS)[0]
    mine = theirs[len(theirs) // 2 :] + POINTS[: len(POINTS) // 2]  # half of them shared

    def match() -> np.ndarray:
        return protocol._positions_among(
            protocol._point_strings(mine), *protocol._sorted_points(theirs)
        )

    peak = _traced_peak(match)
    assert peak < 3 * len(theirs), f"{peak / len(theirs):.2f}x the points"


@pytest.mark.parametrize("theirs_count", [0, 1, 7, 500])
def test_matching_finds_each_point_where_a_dict_of_them_does(theirs_count: int) -> None:
    rng = np.random.default_rng(theirs_count)
    pool = [bytes(rng.integers(0, 256, POINT_BYTES, dtype=np.uint8)) for _ in range(1000)]
    pool += [bytes(POINT_BYTES), b"\x01" + bytes(POINT_BYTES - 1), bytes(POINT_BYTES - 1) + b"\x01"]
    theirs = pool[:theirs_count] + pool[-3:]
    mine = [pool[i] for i in rng.permutation(len(pool))[:600]]
    position_of = {p: i for i, p in enumerate(theirs)}
    found = protocol._positions_among(
        protocol._point_strings(b"".join(mine)), *protocol._sorted_points(b"".join(theirs))
    )
    assert found.tolist() == [position_of.get(p, -1) for p in mine]
