"""A feature party's gradient of a batch, ``X_k[B]^T d``, must not determine the label
party's residuals ``d`` (``0.5 - y`` in the first epoch): with at least as many columns as
the batch has rows, a curious host solves it for ``d`` and reads the batch's labels."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.crypto import EncryptedArray, generate_paillier_keypair
from rengo.transport.channel import LocalBus, run_roles
from rengo.vfl.hetero_lr import roles
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.objective import SQUARED
from rengo.vfl.hetero_poisson import roles as poisson_roles
from rengo.vfl.hetero_poisson.config import HeteroPoissonConfig

KEYPAIR = generate_paillier_keypair(512, seed=5)


def _table(rows: int, guest: int, host: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x_guest, x_host = rng.normal(size=(rows, guest)), rng.normal(size=(rows, host))
    y = (x_guest[:, 0] + x_host[:, 0] + rng.normal(size=rows) > 0).astype(float)
    return x_guest, x_host, y


def _solves(xb: np.ndarray, gradient: np.ndarray, d: np.ndarray) -> bool:
    """The curious host's attack: least squares of ``X_k[B]^T d = g`` for ``d``."""
    found = np.linalg.lstsq(xb.T, gradient, rcond=None)[0]
    return bool(np.allclose(found, d, atol=1e-3))  # fixed-point rounding: ~1e-5


def test_the_attack_reads_a_batch_with_no_more_rows_than_the_hosts_columns() -> None:
    """Positive control: the check below can fail (5 rows, 10 columns: solved; 50 rows:
    not)."""
    rng = np.random.default_rng(0)
    for rows, solved in ((5, True), (10, True), (50, False)):
        xb, d = rng.normal(size=(rows, 10)), 0.5 - rng.integers(0, 2, rows)
        assert _solves(xb, xb.T @ d, d) is solved


def _curious_run(
    monkeypatch: pytest.MonkeyPatch, rows: int, batch_size: int, host_columns: int, **options: Any
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Train one epoch (guest of 3 columns, host1 of ``host_columns``) and return, for every
    batch the host had its gradient decrypted, what a curious host holds (its rows of the
    batch and the gradient sum) and the residuals it was sent, decrypted with the key.
    A run refused with a :class:`ConfigError` returns what was decrypted before."""
    x_guest, x_host, y = _table(rows, 3, host_columns)
    host_batches: list[np.ndarray] = []
    residuals: dict[int, EncryptedArray] = {}
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    order, expect, round_trip = roles.batch_order, roles.expect_encrypted, roles.masked_round_trip

    def recording_order(*args: Any, **kwargs: Any) -> list[np.ndarray]:
        batches = order(*args, **kwargs)
        if threading.current_thread().name == "role-host1":
            host_batches.extend(batches)
        return batches

    def receiving(value, public, shape, exponent, what):  # type: ignore[no-untyped-def]
        checked = expect(value, public, shape, exponent, what)
        if what == "d":
            residuals[threading.get_ident()] = checked
        return checked

    def decrypting(step, coordinator, values, pool):  # type: ignore[no-untyped-def]
        plain = round_trip(step, coordinator, values, pool)
        if step.name == "host1":
            d = residuals.pop(threading.get_ident()).decrypt(KEYPAIR[1])
            seen.append((x_host[host_batches[len(seen)]], plain["gradient"], d))
        return plain

    monkeypatch.setattr(roles, "batch_order", recording_order)
    monkeypatch.setattr(roles, "expect_encrypted", receiving)
    monkeypatch.setattr(roles, "masked_round_trip", decrypting)
    config = HeteroLRConfig(epochs=1, batch_size=batch_size, tol=0.0, **options)
    bus = LocalBus(["coordinator", "guest", "host1"])
    parties = {
        "coordinator": lambda c: roles.hetero_lr_coordinator(
            c, ["guest", "host1"], "guest", keypair=KEYPAIR
        ),
        "guest": lambda c: roles.hetero_lr_guest(c, x_guest, y, ["host1"], config, seed=3),
        "host1": lambda c: roles.hetero_lr_host(c, x_host, "guest"),
    }
    with contextlib.suppress(ConfigError):
        run_roles(bus, parties)
    return seen


@pytest.mark.parametrize(
    ("rows", "batch_size", "host_columns"),
    [
        (1005, 1000, 10),  # the epoch's last batch held 5 rows
        (60, 20, 24),  # a wide table: every batch has fewer rows than the host has columns
        (30, 64, 40),  # Newton-CG's full batch, fewer rows than columns
    ],
)
def test_no_hosts_gradient_of_any_batch_determines_the_label_partys_residuals(
    monkeypatch: pytest.MonkeyPatch, rows: int, batch_size: int, host_columns: int
) -> None:
    """Before, the 1,005-row table in batches of 1,000 left a last batch of 5 rows, and a
    host of 10 columns solved its gradient of that batch for the 5 residuals (the labels)
    every epoch; hosts wider than a batch solved every batch."""
    seen = _curious_run(monkeypatch, rows, batch_size, host_columns)
    solved = [b for b, (xb, gradient, d) in enumerate(seen) if _solves(xb, gradient, d)]
    assert solved == []


def test_a_host_that_could_solve_its_gradient_is_refused_before_anything_is_decrypted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError) as refused:
        _run_plainly(60, 20, 24)
    message = str(refused.value)
    assert "host1 has 24 columns" in message and "smallest batch of 20 rows" in message
    assert "batch_size above 24" in message
    assert _curious_run(monkeypatch, 60, 20, 24) == []


def test_the_coordinator_refuses_a_host_that_skips_its_own_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A curious host whose code skips the check at set-up: the coordinator sees its
    gradient's length in the first batch and refuses before decrypting it."""
    check = roles.require_no_residual_exposure

    def skipped_by_the_host(party: str, *args: Any) -> None:
        if threading.current_thread().name != f"role-{party}":
            check(party, *args)

    monkeypatch.setattr(roles, "require_no_residual_exposure", skipped_by_the_host)
    with pytest.raises(ConfigError, match="host1 has 24 columns"):
        _run_plainly(60, 20, 24)
    assert _curious_run(monkeypatch, 60, 20, 24) == []


def _run_plainly(rows: int, batch_size: int, host_columns: int) -> dict[str, Any]:
    """Hetero linear regression (the squared loss) in mini-batches (its "auto" optimizer is
    full-batch Newton-CG)."""
    x_guest, x_host, y = _table(rows, 3, host_columns)
    config = HeteroLRConfig(epochs=1, batch_size=batch_size, optimizer="adam")
    return run_roles(
        LocalBus(["coordinator", "guest", "host1"]),
        {
            "coordinator": lambda c: roles.hetero_lr_coordinator(
                c, ["guest", "host1"], "guest", keypair=KEYPAIR
            ),
            "guest": lambda c: roles.hetero_lr_guest(
                c, x_guest, y, ["host1"], config, seed=3, objective=SQUARED
            ),
            "host1": lambda c: roles.hetero_lr_host(c, x_host, "guest", objective=SQUARED),
        },
    )


def test_a_poisson_host_that_could_solve_its_gradient_is_refused() -> None:
    x_guest, x_host, _ = _table(60, 3, 24)
    counts = np.arange(60) % 4
    config = HeteroPoissonConfig(epochs=1, batch_size=20)
    with pytest.raises(ConfigError, match="host1 has 24 columns"):
        run_roles(
            LocalBus(["coordinator", "guest", "host1"]),
            {
                "coordinator": lambda c: roles.hetero_lr_coordinator(
                    c, ["guest", "host1"], "guest", keypair=KEYPAIR
                ),
                "guest": lambda c: poisson_roles.hetero_poisson_guest(
                    c, x_guest, counts, ["host1"], config, seed=3
                ),
                "host1": lambda c: poisson_roles.hetero_poisson_host(c, x_host, "guest"),
            },
        )


@pytest.mark.parametrize(
    ("columns", "rows", "batch_size", "exposed"),
    [
        (10, 1005, 1000, False),  # one whole batch of 1,005 rows
        (10, 2005, 1000, False),  # 1,000 and 1,005
        (10, 10, 64, True),  # every row in one batch, as many as the columns
        (9, 10, 64, False),
        (64, 1000, 64, True),
        (63, 1000, 64, False),
    ],
)
def test_residual_exposure_compares_the_columns_with_the_smallest_whole_batch(
    columns: int, rows: int, batch_size: int, exposed: bool
) -> None:
    from rengo.vfl.hetero_lr.exposure import residual_exposure

    assert (residual_exposure("bank", columns, rows, batch_size) is not None) is exposed


def test_a_table_with_no_more_rows_than_columns_is_told_that_no_batch_size_helps() -> None:
    from rengo.vfl.hetero_lr.exposure import residual_exposure

    message = residual_exposure("bank", 40, 30, 64)
    assert message is not None and "no batch_size helps" in message
    assert "fewer than 30 columns" in message
