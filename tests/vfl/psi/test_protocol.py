"""ECDH-PSI roles and simulation: the join, what crosses the wire, and hostile peers."""

from __future__ import annotations

import hashlib
import string

import numpy as np
import pytest

from rengo.core.codec import decode
from rengo.core.envelope import envelope_from_bytes
from rengo.core.errors import ConfigError, DataError, PeerFailure, ProtocolError
from rengo.crypto.x25519 import BlindingPool, hash_to_points
from rengo.transport.channel import Channel, LocalBus, run_roles
from rengo.vfl.psi import (
    DOUBLE_BLINDED,
    FOLLOWER_BLINDED,
    HELLO,
    LEADER_BLINDED,
    RESULT,
    SCOPE,
    PSIAlignment,
    private_set_intersection,
    psi_follower,
    psi_leader,
    require_nonempty,
)


def random_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct 20-character IDs (long enough never to appear by chance inside a payload)."""
    letters = np.array(list(string.ascii_letters + string.digits))
    ids = {"".join(rng.choice(letters, 20)) for _ in range(n)}
    return sorted(ids)


def split_sets(rng: np.random.Generator, pool: list[str], sizes: list[int]) -> list[list[str]]:
    return [list(rng.choice(pool, size, replace=False)) for size in sizes]


def aligned(ids: list[str], rows: np.ndarray) -> list[str]:
    return [ids[i] for i in rows]


def test_two_party_join_equals_plaintext_join_with_rows_in_one_order() -> None:
    rng = np.random.default_rng(1)
    leader_ids, follower_ids = split_sets(rng, random_ids(rng, 400), [250, 180])
    result = private_set_intersection({"bank": leader_ids, "shop": follower_ids}, leader="bank")
    expected = set(leader_ids) & set(follower_ids)
    assert result.size == len(expected) > 0
    left = aligned(leader_ids, result.rows("bank"))
    assert left == aligned(follower_ids, result.rows("shop"))
    assert set(left) == expected
    assert result.alignments["bank"].peer_sizes == {"shop": 180}
    assert result.alignments["shop"].peer_sizes == {"bank": 250}


def test_three_party_join_is_the_intersection_of_all_in_one_order() -> None:
    rng = np.random.default_rng(2)
    sets = split_sets(rng, random_ids(rng, 300), [200, 220, 210])
    names = ["label", "f1", "f2"]
    result = private_set_intersection(dict(zip(names, sets, strict=True)), leader="label")
    expected = set(sets[0]) & set(sets[1]) & set(sets[2])
    rows = [aligned(ids, result.rows(name)) for name, ids in zip(names, sets, strict=True)]
    assert rows[0] == rows[1] == rows[2]
    assert set(rows[0]) == expected and result.size == len(expected) > 0
    assert all(result.alignments[name].size == len(expected) for name in names)


def test_int_numpy_and_bytes_ids_join_by_value() -> None:
    left = np.arange(0, 100, dtype=np.int64)
    right = [int(v) for v in range(50, 150)][::-1]
    result = private_set_intersection({"a": left, "b": right}, leader="a")
    assert [int(left[i]) for i in result.rows("a")] == [right[i] for i in result.rows("b")]
    assert result.size == 50
    raw = private_set_intersection({"a": [b"\x00\xff", b"x"], "b": [b"x", b"y"]}, leader="b")
    assert raw.size == 1 and list(raw.rows("a")) == [1] and list(raw.rows("b")) == [0]


def test_composed_and_decomposed_unicode_ids_match() -> None:
    result = private_set_intersection({"a": ["caf\u00e9", "tea"], "b": ["cafe\u0301"]}, leader="a")
    assert list(result.rows("a")) == [0] and list(result.rows("b")) == [0]


def test_transcript_holds_no_raw_id_and_no_plain_or_protocol_hash() -> None:
    rng = np.random.default_rng(3)
    sets = split_sets(rng, random_ids(rng, 120), [80, 70, 60])
    result = private_set_intersection(
        {"lead": sets[0], "x": sets[1], "y": sets[2]}, leader="lead", record=True
    )
    assert result.transcript
    hello = next(e for e in result.transcript if e.key == "psi/hello" and e.sender == "lead")
    context = decode(envelope_from_bytes(hello.payload).payload)["context"]
    forbidden: list[bytes] = []
    for raw in {v.encode() for ids in sets for v in ids}:
        forbidden += [
            raw,
            hashlib.sha256(raw).digest(),
            hashlib.sha512(raw).digest()[:32],
            hashlib.blake2b(raw, digest_size=32).digest(),
            hash_to_points([raw], context),
            hash_to_points([raw], context)[:31],  # the same point with its top bit set
        ]
    for entry in result.transcript:
        for value in forbidden:
            assert value not in entry.payload, f"{entry.key} from {entry.sender} leaks an ID"


def test_empty_intersection_is_size_zero_and_require_nonempty_raises() -> None:
    result = private_set_intersection({"a": ["1", "2"], "b": ["3", "4"]}, leader="a")
    assert result.size == 0
    assert result.rows("a").shape == (0,) and result.rows("b").shape == (0,)
    with pytest.raises(DataError, match="no IDs"):
        require_nonempty(result)
    with pytest.raises(DataError, match="empty intersection"):
        require_nonempty(result.alignments["b"])
    full = private_set_intersection({"a": ["1"], "b": ["1"]}, leader="a")
    assert require_nonempty(full) is full


def test_fresh_secrets_change_every_blinded_byte_but_not_the_join() -> None:
    ids = {"a": [f"id-{i:04d}" for i in range(50)], "b": [f"id-{i:04d}" for i in range(25, 90)]}
    first = private_set_intersection(ids, leader="a", seed=7, record=True)
    second = private_set_intersection(ids, leader="a", seed=7, record=True)
    for name in ids:
        np.testing.assert_array_equal(first.rows(name), second.rows(name))
    assert first.transcript is not None and second.transcript is not None
    for key in ("psi/follower-blinded", "psi/leader-blinded", "psi/double-blinded"):
        one = next(e.payload for e in first.transcript if e.key == key)
        two = next(e.payload for e in second.transcript if e.key == key)
        points_one = decode(envelope_from_bytes(one).payload)["points"]
        points_two = decode(envelope_from_bytes(two).payload)["points"]
        shared = {points_one[i : i + 32] for i in range(0, len(points_one), 32)} & {
            points_two[i : i + 32] for i in range(0, len(points_two), 32)
        }
        assert not shared


def test_seed_fixes_agreed_order_and_no_seed_shuffles_it() -> None:
    ids = {"a": [str(i) for i in range(200)], "b": [str(i) for i in range(200)]}
    rows = [private_set_intersection(ids, leader="a").rows("a") for _ in range(2)]
    assert sorted(rows[0]) == list(range(200))
    assert not np.array_equal(rows[0], rows[1])  # 1/200! chance to fail
    assert not np.array_equal(rows[0], np.arange(200))


def test_the_agreed_order_says_nothing_of_the_leaders_row_order() -> None:
    """The agreed order was a seeded shuffle of the leader's rows as they lay: a follower
    knowing the seed (a job's run seed, sent to every party) replayed it and read the rank
    of each shared customer in the label party's table - all their labels, were it sorted
    by label. Now the same ID set and seed give the same agreed order however the leader's
    rows lie, so the order tells a follower nothing it did not know."""
    rng = np.random.default_rng(3)
    pool = random_ids(rng, 300)
    leader, follower = split_sets(rng, pool, [200, 150])
    orders = []
    for _ in range(3):
        shuffled = list(rng.permutation(leader))
        result = private_set_intersection(
            {"card": shuffled, "bank": follower}, leader="card", seed=0
        )
        orders.append(aligned(follower, result.rows("bank")))
        assert aligned(shuffled, result.rows("card")) == orders[-1]
    assert orders[0] == orders[1] == orders[2] and len(orders[0]) > 50


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        (["a", "b", "a", "c", "c"], r"duplicates.*'a' at rows 0 and 2.*'c' at rows 3 and 4"),
        ([], "empty input"),
        (["1", 2], "mix kinds"),
        ([1.0, 2.0], "float ID"),
        (["x", float("nan")], "row 1"),
        ([1, None], "missing ID"),
    ],
)
def test_bad_ids_raise_data_error(ids: list[object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        private_set_intersection({"a": ids, "b": ["x", "y"]}, leader="a")
    with pytest.raises(DataError, match=match):
        private_set_intersection({"a": ["x", "y"], "b": ids}, leader="a")


def test_parties_with_different_id_kinds_raise_data_error() -> None:
    with pytest.raises(DataError, match="ID kinds differ"):
        private_set_intersection({"a": [1, 2], "b": ["1", "2"]}, leader="a")


def test_bad_configuration_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="leader"):
        private_set_intersection({"a": ["1"], "b": ["1"]}, leader="c")
    with pytest.raises(ConfigError, match="two parties"):
        private_set_intersection({"a": ["1"]}, leader="a")


def test_deployment_roles_with_worker_processes_match_serial_join() -> None:
    left = [f"user-{i}" for i in range(0, 300)]
    right = [f"user-{i}" for i in range(200, 420)]
    bus = LocalBus(["L", "F"])
    with BlindingPool(workers=2, min_parallel=1, chunk=37) as pool:
        pool.start()
        results = run_roles(
            bus,
            {
                "L": lambda ch: psi_leader(ch, left, ["F"], context="job-1", pool=pool),
                "F": lambda ch: psi_follower(ch, right, "L", pool=pool),
            },
        )
    assert aligned(left, results["L"].rows) == aligned(right, results["F"].rows)
    assert set(aligned(left, results["L"].rows)) == {f"user-{i}" for i in range(200, 300)}


LOW_ORDER = bytes(32) + b"\x01" + bytes(31)  # u = 0 and u = 1


def hostile_follower(blinded: bytes, size: int) -> object:
    """A follower that sends ``blinded`` as its blinded set and answers honestly-sized junk."""

    def role(channel: Channel) -> object:
        channel = channel.scope(SCOPE)
        channel.recv("L", HELLO)
        channel.send("L", HELLO, {"version": 1, "kind": "text", "size": size})
        channel.send("L", FOLLOWER_BLINDED, {"points": blinded})
        theirs = channel.recv("L", LEADER_BLINDED)["points"]
        channel.send("L", DOUBLE_BLINDED, {"points": theirs})
        return channel.recv("L", RESULT)

    return role


@pytest.mark.parametrize(
    ("blinded", "size", "match"),
    [
        (LOW_ORDER, 2, "low-order"),
        (hash_to_points([b"q"], b"c") * 2, 2, "repeated or equivalent"),
        (hash_to_points([b"q", b"r"], b"c"), 3, "expected 3 points"),
    ],
)
def test_leader_rejects_hostile_follower_points(blinded: bytes, size: int, match: str) -> None:
    bus = LocalBus(["L", "F"], timeout=20)
    roles = {
        "L": lambda ch: psi_leader(ch, ["a", "b", "c"], ["F"]),
        "F": hostile_follower(blinded, size),
    }
    with pytest.raises(ProtocolError, match=match):
        run_roles(bus, roles)


def test_follower_rejects_low_order_points_and_tells_the_leader() -> None:
    def hostile_leader(channel: Channel) -> object:
        channel = channel.scope(SCOPE)
        channel.send(
            "F", HELLO, {"version": 1, "kind": "text", "size": 2, "context": b"rengo-psi/v1/x"}
        )
        channel.recv("F", HELLO)
        channel.recv("F", FOLLOWER_BLINDED)
        channel.send("F", LEADER_BLINDED, {"points": LOW_ORDER})
        return channel.recv("F", DOUBLE_BLINDED)

    bus = LocalBus(["L", "F"], timeout=20)
    results: dict[str, object] = {}

    def follower(ch: Channel) -> PSIAlignment:
        return psi_follower(ch, ["a", "b"], "L")

    def leader(ch: Channel) -> object:
        try:
            return hostile_leader(ch)
        except PeerFailure as exc:  # the follower told us, instead of leaving us waiting
            results["L"] = exc
            raise

    with pytest.raises(ProtocolError, match="low-order"):
        run_roles(bus, {"L": leader, "F": follower})
    told = results["L"]
    assert isinstance(told, PeerFailure) and (told.role, told.reason) == ("F", "ProtocolError")


def test_follower_rejects_out_of_range_result_positions() -> None:
    def hostile_leader(channel: Channel) -> None:
        channel = channel.scope(SCOPE)
        channel.send(
            "F", HELLO, {"version": 1, "kind": "text", "size": 1, "context": b"rengo-psi/v1/x"}
        )
        channel.recv("F", HELLO)
        channel.recv("F", FOLLOWER_BLINDED)
        channel.send("F", LEADER_BLINDED, {"points": hash_to_points([b"z"], b"c")})
        channel.recv("F", DOUBLE_BLINDED)
        channel.send("F", RESULT, {"positions": np.array([5])})

    with pytest.raises(ProtocolError, match="invalid result positions"):
        run_roles(
            LocalBus(["L", "F"], timeout=20),
            {"L": hostile_leader, "F": lambda ch: psi_follower(ch, ["a"], "L")},
        )
