"""A notebook shows a cell's last value by its repr: ``history`` at the end of a cell
printed every round's client list and every weight of the final model (14,457 characters
for 5 rounds of 10 clients and a 64x10 softmax model; hundreds of clients a round made it
hundreds of thousands). It is now one line that says what the run was."""

from __future__ import annotations

import numpy as np

from rengo.hfl import FedAvg, History, LogisticRegressionClient, RoundRecord, simulate, softmax_init


def _client(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    return LogisticRegressionClient(rng.normal(size=(10, 8)), rng.integers(0, 3, 10), lr=0.1)


def test_a_history_s_repr_is_one_line_whatever_the_clients_and_model() -> None:
    history = simulate(_client, 200, FedAvg(), softmax_init(8, 3), rounds=3)
    text = repr(history)
    assert "\n" not in text and len(text) < 300, text
    assert "rounds=3 (1-3)" in text
    assert f"train_loss={history.last('train_loss'):.4g}" in text
    assert "parameters=2 arrays of 27 values" in text
    assert "'199'" not in text  # no client list


def test_a_history_s_repr_names_why_it_stopped_and_caps_the_metrics_named() -> None:
    metrics = {f"m{i:02d}": float(i) for i in range(40)}
    history = History([RoundRecord(4, ["a"], {}, metrics, 0.1)], [], "run-1", "budget spent")
    text = repr(history)
    assert "m00=0" in text and "m39" not in text and "(40 metrics)" in text
    assert "stopped='budget spent'" in text and "run_id='run-1'" in text
    assert repr(History()) == "History(no rounds, run_id=None)"


def test_a_history_s_repr_shows_a_text_metric_instead_of_failing() -> None:
    """A strategy may record text or a flag as a round metric; the repr names it as its
    repr (cut short), where formatting every metric as a number raised ValueError."""
    metrics = {"phase": "warm-up " * 10, "flag": True, "loss": 0.25}
    text = repr(History([RoundRecord(1, ["a"], {}, metrics, 0.1)], [], "run-2", None))
    assert "loss=0.25" in text and "flag=True" in text and "phase='warm-up warm-up" in text
    assert "warm-up " * 10 not in text
