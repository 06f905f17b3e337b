"""How sampled contribution values were approximated is recorded with them: a GTG or TMC
run's truncation settings reach the report, the run store, and every place a treasurer
reads or pays the values (`rewards show`, `rewards pay`'s ledger lines, `runs show`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.parameters import Parameters
from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init
from rengo.hfl.numpy_client import softmax_loss_grad
from rengo.tracking import RunStore
from rengo.tracking.contrib_records import record_contributions, recorded_valuation
from rengo.valuation import ContributionTracker, GTGConfig

runner = CliRunner(env={"COLUMNS": "400"})
RNG = np.random.default_rng(3)
X = RNG.normal(size=(240, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def _score(parameters: Parameters) -> float:
    loss, _ = softmax_loss_grad(list(parameters[:2]), X[200:], Y[200:], l2=0.0)
    return -loss


def _valued_run(store: RunStore, tracker: ContributionTracker) -> str:
    def client_fn(cid: str) -> LogisticRegressionClient:
        k = int(cid)
        return LogisticRegressionClient(X[k * 50 : (k + 1) * 50], Y[k * 50 : (k + 1) * 50])

    simulate(client_fn, 4, FedAvg(), softmax_init(4, 2), rounds=2, observers=[tracker])
    run_id = store.start_run("hfl", {}, name="valued")
    record_contributions(store, run_id, tracker.report())
    store.finish_run(run_id, "completed", store.get_run(run_id).summary)
    return run_id


def test_the_truncation_settings_of_gtg_and_tmc_are_recorded_and_shown_to_the_payer(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    gtg = GTGConfig(within_round_eps=0.02, between_round_eps=0.004, tail_probability=0.3)
    with RunStore(db) as store:
        gtg_run = _valued_run(store, ContributionTracker(_score, "gtg", gtg=gtg))
        tmc_run = _valued_run(store, ContributionTracker(_score, "tmc", tmc_truncation=0.07))
        assert recorded_valuation(store, gtg_run, "gtg")["approximation"] == {  # type: ignore[index]
            "within_round_eps": 0.02,
            "between_round_eps": 0.004,
            "tail_probability": 0.3,
        }
        assert recorded_valuation(store, tmc_run, "tmc")["approximation"] == {  # type: ignore[index]
            "truncation": 0.07,
            "tail_probability": 0.2,
        }
    gtg_words = ("within_round_eps=0.02", "between_round_eps=0.004", "tail_probability=0.3")
    for run_id, words in ((gtg_run, gtg_words), (tmc_run, ("truncation=0.07",))):
        shown = runner.invoke(app, ["rewards", "show", run_id, "--store", str(db)])
        assert shown.exit_code == 0, shown.output
        assert all(w in shown.output for w in words), shown.output
        paid = runner.invoke(app, ["rewards", "pay", run_id, "--budget", "10", "--store", str(db)])
        assert paid.exit_code == 0, paid.output
        with RunStore(db) as store:
            reasons = [e.reason for e in store.ledger(run_id)]
        assert reasons and all(all(w in r for w in words) for r in reasons), reasons
        card = runner.invoke(app, ["runs", "show", run_id, "--store", str(db)])
        assert card.exit_code == 0, card.output
        text = " ".join(card.output.split())
        caption = text[text.index("valued: ") :]
        assert all(w in caption for w in words), text
