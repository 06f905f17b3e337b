"""What both halves of SecAgg+ agree on: stage keys, the communication graph, key contexts,
share digests and the layout of the masked vector (Bell et al. CCS 2020, Fig. 1/2).

Masked vector of client u (length P + 4, every entry in ``Z_{2^bits}``)::

    y_u = [ m_u * q(d_u) (P entries) | m_u | clipped_u | unclipped_u | weight_u ]

``d_u`` is the client's update (model minus global, or its clipped and weighted update under
DP), ``q`` the quantisation (:mod:`rengo.crypto.quantisation`), ``m_u`` its integer multiplier
(its example count for weighted FedAvg; 1 under DP, whose weight ``v_u`` rides in
``weight_u`` as fixed point), ``clipped_u`` how many coordinates fell outside the clip range,
``unclipped_u`` the DP adaptive-clipping bit. The coordinator only ever sees the sum.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Sequence
from typing import TypeGuard

import numpy as np

from rengo.crypto.pairwise import open_sealed
from rengo.crypto.shamir import Share

ADVERTISE = "secagg.advertise"
SHARE_KEYS = "secagg.share_keys"
DELIVER = "secagg.deliver_shares"
REVEAL = "secagg.reveal"
MASKED_INPUT = "secagg.masked_input"
CONSISTENCY = "secagg.consistency"
UNMASK = "secagg.unmask"
STAGES = (ADVERTISE, SHARE_KEYS, DELIVER, REVEAL, MASKED_INPUT, CONSISTENCY, UNMASK)
"""Stage keys in order; a reveal follows only complaints (unsigned rounds), the consistency
check runs only in signed rounds."""

EXTRA = 4
"""Entries after the P quantised coordinates: multiplier, clipped, unclipped, weight."""
WEIGHT_SCALE = 1 << 16
"""Fixed-point scale of a DP client's weight ``v_u`` in ``weight_u``."""
MODE_EXAMPLES = "examples"
MODE_DP = "dp"


def neighbour_graph(
    client_ids: Sequence[str], degree: int, server_round: int
) -> dict[str, list[str]]:
    """A k-regular graph on the round's clients (Harary graph on a shuffled cycle).

    The clients are put on a cycle in the order of a hash of the round number and their
    names, and each is joined to the ``degree / 2`` clients on either side (``degree``
    even), or to everyone when ``degree >= n - 1``. The graph is public; it only needs to
    be independent of the clients' data. (Cached: in a signed round every client
    recomputes it.)
    """
    graph = _cached_graph(tuple(sorted(client_ids)), degree, server_round)
    return {u: list(vs) for u, vs in graph.items()}


@functools.lru_cache(maxsize=16)
def _cached_graph(ids: tuple[str, ...], degree: int, server_round: int) -> dict[str, list[str]]:
    n = len(ids)
    if degree >= n - 1:
        return {u: [v for v in ids if v != u] for u in ids}
    # the order on the cycle: by a hash of the round and the name (SHA-256 is the same on
    # every machine; a numpy generator's stream is not promised across versions, and in a
    # signed round every client recomputes the graph)
    order = sorted(
        ids, key=lambda u: hashlib.sha256(f"secagg-graph|{server_round}|{u}".encode()).digest()
    )
    half = degree // 2
    graph: dict[str, set[str]] = {u: set() for u in ids}
    for i, u in enumerate(order):
        for step in range(1, half + 1):
            v = order[(i + step) % n]
            graph[u].add(v)
            graph[v].add(u)
    return {u: sorted(vs) for u, vs in graph.items()}


def pair_context(purpose: str, server_round: int, u: str, v: str) -> bytes:
    """The HKDF context of the key between ``u`` and ``v`` (symmetric in the pair)."""
    low, high = sorted((u, v))
    return f"rengo-secagg|{purpose}|{server_round}|{low}\x00{high}".encode()


def share_context(server_round: int, owner: str, holder: str) -> bytes:
    """Associated data sealing ``owner``'s shares for ``holder`` (direction matters)."""
    return f"rengo-secagg|shares|{server_round}|{owner}\x00{holder}".encode()


def share_digest(server_round: int, owner: str, holder: str, kind: str, share: bytes) -> bytes:
    """The digest an owner commits to for each share it hands out, so the coordinator can
    reject a wrong share when it comes back (a share is 521 random bits: the digest hides it)."""
    label = f"rengo-secagg|digest|{server_round}|{owner}\x00{holder}|{kind}|".encode()
    return hashlib.sha256(label + share).digest()


DIGEST_BYTES = 32
SHARE_KINDS = ("key", "seed")
"""The two shares an owner deals each holder, in this order: of its masking key, of its
self-mask seed."""


def dealt_digests(
    server_round: int, owner: str, holder: str, key_share: bytes, seed_share: bytes
) -> bytes:
    """What an owner commits to for the pair of shares it deals ``holder``: the
    :func:`share_digest` of the key share, then of the seed share, as one 64-byte value (so
    an owner's digests for its holders travel as one map of bytes, which the codec carries
    as a single node)."""
    return share_digest(server_round, owner, holder, "key", key_share) + share_digest(
        server_round, owner, holder, "seed", seed_share
    )


def committed_digest(digests: bytes, kind: str) -> bytes:
    """The digest of the ``kind`` share ("key" or "seed") in a :func:`dealt_digests` value."""
    start = DIGEST_BYTES * SHARE_KINDS.index(kind)
    return digests[start : start + DIGEST_BYTES]


def open_dealt_shares(
    key: bytes, sealed: object, digests: object, server_round: int, owner: str, holder: str
) -> list[bytes]:
    """The pair of shares (masking key, self-mask seed) ``owner`` sealed for ``holder`` under
    their pair's sealing ``key``, checked against the digests ``owner`` committed to
    (:func:`dealt_digests`).

    The holder runs it on delivery; the coordinator runs it again, with the key a
    complaining holder lets it derive, to tell a dealer that sealed garbage from a holder
    that lies about it (the same check on both sides).

    Raises
    ------
    ValueError
        Saying what is wrong: the shares do not open (altered, or sealed under another key
        or for another pair or round), are not two shares, or miss their digests.
    """
    if not isinstance(sealed, bytes):
        raise ValueError("are not bytes")
    try:
        plain = open_sealed(key, sealed, share_context(server_round, owner, holder))
    except ValueError:
        raise ValueError("fail authentication (they do not open)") from None
    pair = [plain[:70], plain[70:]]
    if len(plain) != 140:
        raise ValueError("have the wrong length")
    try:
        Share.from_bytes(pair[0]), Share.from_bytes(pair[1])
    except ValueError as exc:
        raise ValueError(f"are no shares ({exc})") from None
    if digests != dealt_digests(server_round, owner, holder, pair[0], pair[1]):
        raise ValueError("are not the shares it committed to (their digests differ)")
    return pair


def seed_commitment(server_round: int, owner: str, seed: bytes) -> bytes:
    """What an owner commits to for its self-mask seed when it deals the seed's shares, so the
    coordinator can tell a seed rebuilt from shares that do not lie on one polynomial through
    it (a seed is 256 random bits: the hash hides it). With every share checked against its
    :func:`share_digest`, a rebuilt seed that misses the commitment convicts its owner."""
    label = b"rengo-secagg|seed|%d|" % server_round + encode_names([owner])
    return hashlib.sha256(label + seed).digest()


def roster_digest(
    server_round: int, epoch: int, clients: Sequence[str], degree: int, threshold: int
) -> bytes:
    """What fixes one start of a signed round: its number, its epoch (the coordinator's start
    time in milliseconds, which each client accepts only fresh and increasing), its
    clients, degree and threshold.

    Every signature of a signed round covers it, so clients told different rosters (and
    hence different graphs) cannot accept each other's keys or count each other's
    signatures on the survivor set, and a signature from another start of the same round
    never counts.
    """
    label = b"rengo-secagg|roster|%d|%d|%d|%d|" % (server_round, epoch, degree, threshold)
    return hashlib.sha256(label + encode_names(clients)).digest()


def encode_names(names: Sequence[str]) -> bytes:
    """Client names, sorted, each prefixed by its length: no two lists encode alike (a name
    may hold any character in simulation)."""
    out = bytearray()
    for name in sorted(names):
        raw = name.encode()
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


FRESHNESS_S = 120
"""Seconds a signed statement's time (and a round's epoch) may lie before the verifier's own
start of the round, or after its clock's now: statements from long ago do not count even
for a client that lost its memory of the epochs it took part in."""


def now_s() -> int:
    """The time signed statements carry: whole seconds since the epoch."""
    return int(time.time())


def clock_gap(theirs: int, ours: int) -> str:
    """``"420 s ahead of"`` or ``"95 s behind"``: how a time another party stamped (whole
    seconds since the epoch) stands to this party's clock, for errors that name the clocks
    (the usual cause of a stale time is a machine whose clock is off, not a replay)."""
    gap = theirs - ours
    return f"{abs(gap)} s {'ahead of' if gap > 0 else 'behind'}"


CLOCK_FIX = (
    "signed SecAgg needs every party's clock within "
    f"{FRESHNESS_S // 4} s of the coordinator's: set the clock that is off right (NTP)"
)
"""What an error about a signed time tells its reader to do."""


def is_fresh(signed_at: object, since: int, now: int, margin: int = FRESHNESS_S) -> TypeGuard[int]:
    """Whether ``signed_at`` is a time within ``margin`` seconds of ``[since, now]``."""
    return (
        isinstance(signed_at, int)
        and not isinstance(signed_at, bool)
        and since - margin <= signed_at <= now + margin
    )


def consistency_quorum(clients: int, degree: int, threshold: int) -> int:
    """How many of the round's clients must sign a survivor set before anyone unmasks:
    ``T = ceil((n + 2t - k) / 2)`` (at most ``n``).

    Any two quorums then share ``2T - n >= 2t - k`` signers, so while fewer than ``2t - k``
    clients collude with the coordinator, two honest clients cannot both reach a quorum on
    different sets (Bonawitz et al. CCS 2017, Section 6, with the bound of this graph).
    """
    return min(clients, -(-(clients + 2 * threshold - degree) // 2))


def keys_statement(roster: bytes, owner: str, signed_at: int, c_pk: bytes, s_pk: bytes) -> bytes:
    """What a client signs when it advertises its keys in a signed round: the round's roster
    (:func:`roster_digest`), its name, the time and both public keys (so no one can pass off
    other keys as its own, in this round or another)."""
    head = b"rengo-secagg|keys|" + roster + b"%d|" % signed_at
    return head + encode_names([owner]) + c_pk + s_pk


def survivors_statement(roster: bytes, signed_at: int, survivors: Sequence[str]) -> bytes:
    """What a client signs in the consistency check: the round's roster, the time and the
    survivor set it was told (every client that sent a masked input), in sorted order."""
    head = b"rengo-secagg|survivors|" + roster + b"%d|" % signed_at
    return head + encode_names(survivors)


def mask_sign(u: str, v: str) -> int:
    """+1 if ``u`` adds the mask it shares with ``v``, -1 if it subtracts it."""
    return 1 if u < v else -1


def wire_dtype(bits: int) -> np.dtype[np.unsignedinteger]:
    """uint32 for rings up to 2^32, else uint64: what a masked vector travels as."""
    return np.dtype(np.uint32) if bits <= 32 else np.dtype(np.uint64)


def ring_mask(bits: int) -> np.uint64:
    """``2^bits - 1``: reduces a uint64 modulo ``2^bits``."""
    return np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
