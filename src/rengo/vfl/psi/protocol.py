"""ECDH private set intersection (PSI) to align rows across vertical-FL parties.

The commutative-blinding protocol of Meadows (1986) and Huberman, Franklin & Hogg (1999),
with X25519 as the blinding (see :mod:`rengo.crypto.x25519` for why it commutes). One
*leader* (the label party) runs a two-party session with each *follower* (feature party),
with fresh secrets ``a`` (per follower) and ``b``:

1. leader -> follower: hello (protocol version, fresh random session id + context, ID kind,
   set size). follower -> leader: hello (ID kind, set size).
2. follower -> leader: ``B = shuffle(H(y)^b)``; leader -> follower: ``A = shuffle(H(x)^a)``.
3. follower -> leader: ``A^b`` in the order received. The leader compares ``A^b = H(x)^ab``
   with ``B^a = H(y)^ab`` and learns, for each of its IDs, the position in ``B`` that matches.
4. Once every session is done the leader intersects, shuffles the common rows into one agreed
   order, and sends each follower the positions into its own ``B`` in that order; the
   follower undoes its secret shuffle to get its row indices.

What each party learns (semi-honest model): every party learns the set sizes of the parties it
talks to and the size of the intersection of *all* parties, plus its own rows of it in the
agreed order. A follower learns nothing else: it never sees ``B^a``, so it cannot tell which
of its IDs the leader holds. The leader additionally learns, for each follower, which of its
own IDs that follower holds (the pairwise intersection; with one follower that is the
intersection itself). No party ever sees an ID, or an unblinded hash of one, that it did not
hold. Every value sent is shuffled with a fresh CSPRNG permutation, so message order says
nothing about input order; the agreed order is a shuffle of the shared IDs sorted by value,
so it says nothing of any party's row order either, even to a party that knows ``seed``
(which only makes the shuffle reproducible). Secrets never come from ``seed``.

A malicious party can always add IDs it does not hold (true of any PSI); beyond that, every
received value is checked: sizes as announced, no low-order points, no repeated points. A
role that fails announces it on its channel (only the error's kind leaves the party), so
every peer stops at once instead of waiting. Messages sit in the channel's ``"psi"`` scope.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.crypto.x25519 import (
    POINT_BYTES,
    BlindingPool,
    hash_to_points,
    new_secret,
)
from rengo.transport.channel import Channel, LocalBus, TranscriptEntry, run_roles
from rengo.vfl.psi.ids import ID_KINDS, NormalisedIds, normalise_ids

PROTOCOL_VERSION = 1
_SESSION_BYTES = 16
_CONTEXT_PREFIX = b"rengo-psi/v1/"

SCOPE = "psi"  # every key below sits in this scope of the role's channel
HELLO = "hello"  # both ways: version, kind, size (+ context from the leader)
FOLLOWER_BLINDED = "follower-blinded"  # follower -> leader: H(y)^b, shuffled
LEADER_BLINDED = "leader-blinded"  # leader -> follower: H(x)^a, shuffled
DOUBLE_BLINDED = "double-blinded"  # follower -> leader: H(x)^ab, same order
RESULT = "result"  # leader -> follower: positions into B, agreed order


@dataclass(frozen=True)
class PSIAlignment:
    """One party's outcome: its own row indices of the intersection, in the order every party
    agreed on (row ``k`` of every party holds the same ID), and the set sizes it learned."""

    party: str
    rows: np.ndarray
    peer_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of IDs every party holds."""
        return len(self.rows)


@dataclass(frozen=True)
class PSIResult:
    """Every party's :class:`PSIAlignment` from a simulated run, plus what crossed the bus."""

    leader: str
    alignments: dict[str, PSIAlignment]
    bytes_sent: dict[str, int]
    transcript: list[TranscriptEntry] | None = None

    @property
    def size(self) -> int:
        """Number of IDs every party holds."""
        return self.alignments[self.leader].size

    def rows(self, party: str) -> np.ndarray:
        """Row indices into ``party``'s ID list, in the agreed order."""
        return self.alignments[party].rows


Outcome = TypeVar("Outcome", PSIResult, PSIAlignment)


def require_nonempty(result: Outcome, among: str = "") -> Outcome:
    """Return ``result`` unchanged, or raise :class:`DataError` when the intersection is empty
    (for callers that cannot go on without shared rows, e.g. vertical training); ``among``
    names the rows matched when a run matches several sets (``"their rows to score"``)."""
    if result.size == 0:
        where = f" among {among}" if among else ""
        raise DataError(
            f"the parties share no IDs{where} (empty intersection): check that every party "
            "uses the same ID column and formatting (IDs are matched exactly after NFC "
            "normalisation)"
        )
    return result


def private_set_intersection(
    party_ids: Mapping[str, Sequence[Any] | np.ndarray],
    leader: str,
    seed: int | None = None,
    record: bool = False,
    *,
    context: bytes | str = b"",
    workers: int | None = None,
    timeout: float = 600.0,
) -> PSIResult:
    """Run the PSI roles of every party on an in-process :class:`LocalBus` and gather results.

    ``party_ids`` maps each party name to its IDs (see :mod:`rengo.vfl.psi.ids` for accepted
    types); ``leader`` is the label party. ``record=True`` keeps the bus transcript (every
    payload as it crossed the bus) in the result. ``workers`` caps the processes used for the
    exponentiations (default: all cores), shared by all roles.
    """
    if leader not in party_ids:
        raise ConfigError(f"leader {leader!r} is not one of the parties {sorted(party_ids)}")
    if len(party_ids) < 2:
        raise ConfigError("private set intersection needs at least two parties")
    followers = [name for name in party_ids if name != leader]
    bus = LocalBus([leader, *followers], record=record, timeout=timeout)
    with BlindingPool(workers) as pool:
        if max(len(ids) for ids in party_ids.values()) >= pool.min_parallel:
            pool.start()  # fork the workers now, while this process has no role threads yet

        def lead(channel: Channel) -> PSIAlignment:
            return psi_leader(
                channel, party_ids[leader], followers, context=context, seed=seed, pool=pool
            )

        def follow(name: str) -> Any:
            return lambda channel: psi_follower(channel, party_ids[name], leader, pool=pool)

        roles = {leader: lead, **{name: follow(name) for name in followers}}
        alignments = run_roles(bus, roles)
    return PSIResult(
        leader=leader,
        alignments={name: alignments[name] for name in party_ids},
        bytes_sent=dict(bus.bytes_sent),
        transcript=list(bus.transcript) if record else None,
    )


@contextmanager
def _session(channel: Channel, pool: BlindingPool | None) -> Iterator[BlindingPool]:
    """One role's PSI session: the blinding pool (a private one if none is given, closed at
    the end) and, if the role fails, the failure announced on the channel so that every peer
    fails fast instead of timing out (only the error's kind leaves: messages may name IDs)."""
    blinding = BlindingPool() if pool is None else pool
    try:
        yield blinding
    except Exception as exc:
        channel.abort(exc)
        raise
    finally:
        if pool is None:
            blinding.close()


def psi_leader(
    channel: Channel,
    ids: Sequence[Any] | np.ndarray,
    peers: Iterable[str],
    *,
    context: bytes | str = b"",
    seed: int | None = None,
    pool: BlindingPool | None = None,
    timeout: float | None = None,
) -> PSIAlignment:
    """The leader's role: a PSI session with each of ``peers``, then the agreed order.

    ``context`` (e.g. a job id) is mixed into the ID hash along with a fresh random session id;
    ``seed`` only fixes the agreed order (see the module docstring). ``pool`` runs the
    exponentiations (a private one is made and closed if not given).
    """
    followers = list(peers)
    if not followers or len(set(followers)) != len(followers) or channel.name in followers:
        raise ConfigError(f"peers must be distinct names other than the leader's: {followers}")
    context_bytes = context.encode("utf-8") if isinstance(context, str) else bytes(context)
    with _session(channel, pool) as blinding:
        return _lead(channel.scope(SCOPE), ids, followers, context_bytes, seed, blinding, timeout)


def _lead(
    channel: Channel,
    ids: Sequence[Any] | np.ndarray,
    followers: list[str],
    context: bytes,
    seed: int | None,
    pool: BlindingPool,
    timeout: float | None,
) -> PSIAlignment:
    mine = normalise_ids(ids, channel.name)
    full_context = _CONTEXT_PREFIX + os.urandom(_SESSION_BYTES) + context
    hello = {
        "version": PROTOCOL_VERSION,
        "kind": mine.kind,
        "size": len(mine),
        "context": full_context,
    }
    for peer in followers:
        channel.send(peer, HELLO, hello)
    sizes = {
        peer: _check_hello(channel.recv(peer, HELLO, timeout), peer, mine) for peer in followers
    }

    points = hash_to_points(mine.values, full_context)
    sessions: dict[str, tuple[bytes, np.ndarray]] = {}
    for peer in followers:
        secret, order = new_secret(), _secure_permutation(len(mine))
        blinded = _exponentiate(pool, secret, _permute(points, order), "own hashed IDs")
        channel.send(peer, LEADER_BLINDED, {"points": blinded})
        sessions[peer] = (secret, order)

    matches: dict[str, np.ndarray] = {}
    for peer in followers:
        secret, order = sessions[peer]
        theirs = _points(channel.recv(peer, FOLLOWER_BLINDED, timeout), sizes[peer], peer)
        theirs_double = _sorted_points(_exponentiate(pool, secret, theirs, f"points from {peer}"))
        del theirs  # held only while blinded again
        if _repeats(theirs_double[0]):
            raise ProtocolError(f"{peer} sent repeated or equivalent points")
        mine_double = _point_strings(
            _points(channel.recv(peer, DOUBLE_BLINDED, timeout), len(mine), peer)
        )
        if _repeats(np.sort(mine_double)):
            raise ProtocolError(f"{peer} sent repeated double-blinded points")
        found = _positions_among(mine_double, *theirs_double)
        del theirs_double, mine_double
        match = np.empty(len(mine), dtype=np.int64)
        match[order] = found
        matches[peer] = match

    held_by_all = np.ones(len(mine), dtype=bool)
    for match in matches.values():
        held_by_all &= match >= 0
    # the agreed order is a shuffle of the shared IDs sorted by value, never of this
    # party's rows as they lie: then a follower that knows ``seed`` (a job's run seed, which
    # every party receives) learns only what it knows already, not the leader's row order
    # (a table sorted by label gave every shared customer's label away)
    shared = np.array(sorted(np.flatnonzero(held_by_all), key=mine.values.__getitem__))
    rng = np.random.default_rng(seed) if seed is not None else _secure_generator()
    rows = shared[rng.permutation(len(shared))].astype(np.int64)
    for peer in followers:
        channel.send(peer, RESULT, {"positions": matches[peer][rows]})
    return PSIAlignment(channel.name, rows, sizes)


def psi_follower(
    channel: Channel,
    ids: Sequence[Any] | np.ndarray,
    leader: str,
    *,
    pool: BlindingPool | None = None,
    timeout: float | None = None,
) -> PSIAlignment:
    """A feature party's role: one PSI session with ``leader``; returns this party's rows of the
    intersection of all parties, in the agreed order."""
    with _session(channel, pool) as blinding:
        return _follow(channel.scope(SCOPE), ids, leader, blinding, timeout)


def _follow(
    channel: Channel,
    ids: Sequence[Any] | np.ndarray,
    leader: str,
    pool: BlindingPool,
    timeout: float | None,
) -> PSIAlignment:
    hello = _message(channel.recv(leader, HELLO, timeout), leader)
    mine = normalise_ids(ids, channel.name)
    channel.send(leader, HELLO, {"version": PROTOCOL_VERSION, "kind": mine.kind, "size": len(mine)})
    leader_size = _check_hello(hello, leader, mine)
    context = hello.get("context")
    if not isinstance(context, bytes) or not context.startswith(_CONTEXT_PREFIX):
        raise ProtocolError(f"{leader} sent no valid PSI context")

    secret, order = new_secret(), _secure_permutation(len(mine))
    points = _permute(hash_to_points(mine.values, context), order)
    channel.send(
        leader, FOLLOWER_BLINDED, {"points": _exponentiate(pool, secret, points, "own hashed IDs")}
    )

    theirs = _points(channel.recv(leader, LEADER_BLINDED, timeout), leader_size, leader)
    channel.send(
        leader,
        DOUBLE_BLINDED,
        {"points": _exponentiate(pool, secret, theirs, f"points from {leader}")},
    )

    result = _message(channel.recv(leader, RESULT, timeout), leader)
    positions = result.get("positions")
    if (
        not isinstance(positions, np.ndarray)
        or positions.ndim != 1
        or positions.dtype.kind not in "iu"
        or len(positions) > min(len(mine), leader_size)
        or (len(positions) and (positions.min() < 0 or positions.max() >= len(mine)))
        or len(np.unique(positions)) != len(positions)
    ):
        raise ProtocolError(f"{leader} sent invalid result positions")
    return PSIAlignment(channel.name, order[positions.astype(np.int64)], {leader: leader_size})


def _message(value: Any, peer: str) -> dict[str, Any]:
    """A received protocol message as a dict."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{peer} sent a {type(value).__name__}, expected a PSI message")
    return value


def _check_hello(value: Any, peer: str, mine: NormalisedIds) -> int:
    """Validate a peer's hello and return its set size; kinds that differ raise DataError."""
    hello = _message(value, peer)
    if hello.get("version") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"{peer} speaks PSI version {hello.get('version')!r}, we speak {PROTOCOL_VERSION}"
        )
    kind, size = hello.get("kind"), hello.get("size")
    if kind not in ID_KINDS or not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ProtocolError(f"{peer} sent a malformed PSI hello")
    if kind != mine.kind:
        raise DataError(
            f"ID kinds differ: {peer} has {kind} IDs, we have {mine.kind} IDs; they would never "
            "match: convert the IDs to one type (str is safest) on every party"
        )
    return size


def _points(value: Any, count: int, peer: str) -> bytes:
    """The ``points`` of a received message, checked to hold exactly ``count`` points."""
    points = _message(value, peer).get("points")
    if not isinstance(points, bytes) or len(points) != count * POINT_BYTES:
        raise ProtocolError(f"{peer} sent {_describe(points)}, expected {count} points")
    return points


def _describe(points: Any) -> str:
    if isinstance(points, bytes):
        return f"{len(points)} bytes"
    return f"a {type(points).__name__}"


def _exponentiate(pool: BlindingPool, secret: bytes, points: bytes, what: str) -> bytes:
    """Blind ``points`` with ``secret``; low-order inputs raise ProtocolError."""
    blinded, bad = pool.exponentiate(secret, points)
    if bad:
        raise ProtocolError(f"{len(bad)} low-order (invalid) curve points among {what}")
    return blinded


def _point_strings(points: bytes) -> np.ndarray:
    """Concatenated 32-byte points as an array of fixed-width byte strings (no copy).

    Matching on these instead of a list of ``bytes`` and a dict of them holds 32 bytes a
    point rather than about 180 (a bytes object, its list slot, a dict entry and an int);
    two different points never compare equal (numpy's trailing-NUL padding cannot make two
    strings of one width equal).
    """
    return np.frombuffer(points, dtype=f"S{POINT_BYTES}")


def _sorted_points(points: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated points sorted as byte strings, and each one's position in ``points``."""
    values = _point_strings(points)
    order = np.argsort(values, kind="stable")
    return values[order], order


def _repeats(sorted_points: np.ndarray) -> bool:
    """Whether sorted points hold any point twice."""
    return bool(len(sorted_points) > 1 and (sorted_points[1:] == sorted_points[:-1]).any())


def _positions_among(
    points: np.ndarray, sorted_points: np.ndarray, order: np.ndarray
) -> np.ndarray:
    """For each of ``points``, its position among the points that sort to ``sorted_points``
    (their positions ``order``), or -1 where it is not one of them."""
    if not len(sorted_points):
        return np.full(len(points), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_points, points), len(sorted_points) - 1)
    return np.where(sorted_points[at] == points, order[at], -1).astype(np.int64)


def _permute(points: bytes, order: np.ndarray) -> bytes:
    """Reorder concatenated 32-byte points: output ``k`` is input ``order[k]``."""
    return bytes(np.frombuffer(points, dtype=np.uint8).reshape(-1, POINT_BYTES)[order].tobytes())


def _secure_generator() -> np.random.Generator:
    """A generator keyed from the OS CSPRNG (for shuffles that hide order from peers)."""
    return np.random.Generator(np.random.Philox(key=secrets.randbits(128)))


def _secure_permutation(n: int) -> np.ndarray:
    return _secure_generator().permutation(n).astype(np.int64)
