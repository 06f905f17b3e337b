"""A central-DP run's record names everything an officer needs to recompute its epsilon with
dp-accounting alone and get the recorded number: the dp-accounting release it was computed
with and, for PLD, the grid step (dp-accounting's default step can give a lower epsilon)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from rengo.hfl import DifferentialPrivacy, FedAvg, LogisticRegressionClient, simulate, softmax_init
from rengo.privacy import CentralDP
from rengo.tracking import RunStore
from rengo.tracking.run_card import model_card

dp_accounting = pytest.importorskip("dp_accounting")


def _card_rows(card: str) -> dict[str, str]:
    return dict(
        tuple(cell.strip() for cell in line.strip("|").split(" | ", 1))  # type: ignore[misc]
        for line in card.splitlines()
        if line.startswith("| central DP: ") or line.startswith("| differential privacy spent")
    )


def test_a_pld_runs_card_names_the_release_and_grid_step_its_epsilon_is_rechecked_on(
    tmp_path: Path,
) -> None:
    from rengo.privacy.epsilon_text import epsilon_shown

    rng = np.random.default_rng(0)
    data = {str(i): (rng.normal(size=(8, 3)), rng.integers(0, 2, 8)) for i in range(20)}
    dp = CentralDP(noise_multiplier=0.9, sampling_rate=0.5, delta=1e-3)  # PLD, the default
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: LogisticRegressionClient(*data[cid], lr=0.1), list(data),
            DifferentialPrivacy(FedAvg(), dp), softmax_init(3, 2), 3, store=store,
        )  # fmt: skip
        assert history.run_id is not None
        run = store.get_run(history.run_id)
        card = model_card(store, history.run_id)
    release = metadata.version("dp-accounting")
    assert run.config["dp_accounting"] == release
    row = _card_rows(card)["central DP: accountant"]
    assert row.startswith(f"PLD (privacy loss distributions, Google's dp-accounting {release})")
    step = float(row.split("grid step of ")[1].split()[0])
    # the officer's recomputation, from the card alone
    event = dp_accounting.PoissonSampledDpEvent(0.5, dp_accounting.GaussianDpEvent(0.9))
    accountant = dp_accounting.pld.PLDAccountant(value_discretization_interval=step)
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, 3))
    epsilon = accountant.get_epsilon(1e-3)
    recorded = history.last("dp_epsilon")
    assert epsilon == pytest.approx(recorded, rel=1e-9)
    spent = _card_rows(card)["differential privacy spent"]
    assert spent == f"epsilon {epsilon_shown(epsilon)} at delta 0.001 after 3 rounds"


def test_the_pld_grid_step_gives_dp_accountings_accountant_rengos_epsilon() -> None:
    from rengo.privacy import epsilon_after, pld_grid_step

    for rounds, z, q in ((1, 1.1, 1.0), (40, 0.7, 0.2), (300, 1.3, 0.05)):
        step = pld_grid_step(rounds, z, 1e-5, q)
        assert step is not None and step >= 1e-4
        event = dp_accounting.GaussianDpEvent(z)
        if q < 1:
            event = dp_accounting.PoissonSampledDpEvent(q, event)
        accountant = dp_accounting.pld.PLDAccountant(value_discretization_interval=step)
        accountant.compose(dp_accounting.SelfComposedDpEvent(event, rounds))
        expected = epsilon_after(rounds, z, 1e-5, q, "pld")
        assert accountant.get_epsilon(1e-5) == pytest.approx(expected, rel=1e-9)
    assert pld_grid_step(5, 0.01, 1e-5) is None  # beyond PLD's range: RDP's epsilon


def test_an_adaptive_runs_epsilon_is_rebuilt_from_the_cards_recheck_row_alone(
    tmp_path: Path,
) -> None:
    """The card's recheck row names the dp_accounting event and the row each of its numbers
    is: under adaptive clipping z is the round's multiplier, not the update sum's (larger)
    one, which gives another epsilon."""
    rng = np.random.default_rng(1)
    data = {str(i): (rng.normal(size=(8, 3)), rng.integers(0, 2, 8)) for i in range(40)}
    dp = CentralDP(
        noise_multiplier=1.1, sampling_rate=0.5, delta=1e-3, clip_norm=1.0,
        adaptive_clipping=True, clipped_count_stddev=2.0,
    )  # fmt: skip
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: LogisticRegressionClient(*data[cid], lr=0.1), list(data),
            DifferentialPrivacy(FedAvg(min_fit_clients=2), dp), softmax_init(3, 2), 4,
            store=store,
        )  # fmt: skip
        assert history.run_id is not None
        rows = _card_rows(model_card(store, history.run_id))
    recheck = rows["central DP: recheck"]
    event_text = recheck.split("compose ")[1].split(", get_epsilon")[0]
    z_row = recheck.split("z the '")[1].split("' row")[0]
    values = {
        "q": float(rows["central DP: client sampling"].split("q = ")[1].split()[0]),
        "z": float(rows[f"central DP: {z_row}"]),
        "k": int(rows["central DP: rounds accounted"].split()[0]),
    }
    step = float(rows["central DP: accountant"].split("grid step of ")[1].split()[0])
    names = {
        n: getattr(dp_accounting, n)
        for n in ("SelfComposedDpEvent", "PoissonSampledDpEvent", "GaussianDpEvent")
    }
    accountant = dp_accounting.pld.PLDAccountant(value_discretization_interval=step)
    accountant.compose(eval(event_text, names, values))  # the card's own words, as written
    delta = float(rows["central DP: delta"])
    assert accountant.get_epsilon(delta) == pytest.approx(history.last("dp_epsilon"), rel=1e-9)
    update_z = float(rows["central DP: update noise multiplier"].split()[0].rstrip(":"))
    assert update_z > values["z"]  # the row the recipe does not mean
