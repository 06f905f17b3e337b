"""Hash-to-point and X25519 blinding: commutativity on curve and twist, low-order rejection."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.crypto.x25519 import (
    BlindingPool,
    exchange_chunk,
    hash_to_points,
    new_secret,
    split_points,
)

P = 2**255 - 19
A = 486662
ORDER_8 = [
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
]
LOW_ORDER_U = [0, 1, *ORDER_8, P - 1, P, P + 1]


def on_curve(point: bytes) -> bool:
    """Whether u is the x-coordinate of a point of Curve25519 (else: of its twist)."""
    u = int.from_bytes(point, "little") % P
    rhs = (u * u * u + A * u * u + u) % P
    return rhs == 0 or pow(rhs, (P - 1) // 2, P) == 1


def blind(secret: bytes, points: bytes) -> bytes:
    out, bad = exchange_chunk(secret, points)
    assert bad == []
    return out


def test_blinding_commutes_for_points_on_curve_and_twist() -> None:
    points = hash_to_points([str(i).encode() for i in range(64)], b"ctx")
    kinds = {on_curve(p) for p in split_points(points)}
    assert kinds == {True, False}  # both groups are exercised
    a, b = new_secret(), new_secret()
    assert blind(a, blind(b, points)) == blind(b, blind(a, points))
    assert blind(a, points) != blind(b, points)


def test_hash_is_domain_separated_by_context_and_clears_top_bit() -> None:
    ids = [f"id{i}".encode() for i in range(200)]
    one, two = hash_to_points(ids, b"run-1"), hash_to_points(ids, b"run-2")
    assert len(one) == 32 * 200
    assert not set(split_points(one)) & set(split_points(two))
    assert all(p[31] < 0x80 for p in split_points(one))
    assert hash_to_points(ids, b"run-1") == one


def test_every_low_order_point_is_reported_not_returned() -> None:
    points = b"".join(u.to_bytes(32, "little") for u in LOW_ORDER_U)
    out, bad = exchange_chunk(new_secret(), points)
    assert bad == list(range(len(LOW_ORDER_U)))
    assert out == bytes(len(points))


@pytest.mark.parametrize("workers", [1, 2])
def test_pool_matches_serial_and_reports_bad_indices_across_chunks(workers: int) -> None:
    points = bytearray(hash_to_points([str(i).encode() for i in range(23)], b"c"))
    points[17 * 32 : 18 * 32] = (1).to_bytes(32, "little")
    secret = new_secret()
    with BlindingPool(workers=workers, min_parallel=1, chunk=5) as pool:
        out, bad = pool.exponentiate(secret, bytes(points))
    serial_out, serial_bad = exchange_chunk(secret, bytes(points))
    assert out == serial_out and bad == serial_bad == [17]


def test_pool_with_spawned_workers_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    # 'spawn' is the only start method on Windows and the default on macOS
    import rengo.crypto.x25519 as x25519

    monkeypatch.setattr(x25519, "_start_method", lambda: "spawn")
    points = hash_to_points([f"Müller-{i}".encode() for i in range(23)], b"c")
    secret = new_secret()
    with BlindingPool(workers=2, min_parallel=1, chunk=5) as pool:
        out, bad = pool.exponentiate(secret, points)
        assert pool.workers == 2  # the spawned workers started (else it fell back to one core)
    assert (out, bad) == exchange_chunk(secret, points)


def test_pool_rejects_ragged_input() -> None:
    with BlindingPool(workers=1) as pool, pytest.raises(ValueError, match="multiple of 32"):
        pool.exponentiate(new_secret(), b"\x01" * 33)


def test_points_split_back_into_32_byte_values() -> None:
    data = np.arange(96, dtype=np.uint8).tobytes()
    assert split_points(data) == [data[:32], data[32:64], data[64:]]
