"""``[contribution] entities``: a job file maps clients to the legal entity they belong to,
and an entity's clients are valued and paid as one participant. A hospital that joined
twice on a copy of its data (a Sybil; training noise keeps the copy's update from being
bit-identical, so it is not merged as identical) took 30.5 % of the pool instead of its
own 18.7 %, and a job file had no way to say who is whom (only Python's
``ContributionTracker(entity_of=...)`` had)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rengo.cli.rewards import rewards_app
from rengo.core.errors import ConfigError
from rengo.core.parameters import Parameters, copy_parameters
from rengo.hfl import simulate
from rengo.jobs import build_hfl_job, contribution_tracker, parse_job
from rengo.jobs.contribution import check_entities
from rengo.tracking import RunStore, record_contributions
from rengo.valuation import validation_score

JOB = {
    "job": {"seed": 3, "rounds": 2},
    "data": {"dataset": "breast_cancer", "test_size": 0.3},
    "partition": {"num_clients": 4},
    "model": {"type": "logistic"},
    "contribution": {
        "method": "mr",
        "entities": {"client-0": "hospital-a", "client-3": "hospital-a"},
    },
}


class _RoundMoves:
    """Keeps each round's starting and resulting global model."""

    def __init__(self) -> None:
        self.rounds: list[tuple[Parameters, Parameters]] = []

    def on_fit_result(self, *args: object) -> None:
        pass

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: object
    ) -> None:
        self.rounds.append((copy_parameters(old), copy_parameters(new)))


def test_an_entity_s_clients_are_valued_as_one_participant() -> None:
    spec = parse_job(JOB)
    assert spec.contribution is not None
    job = build_hfl_job(spec)
    check_entities(spec.contribution, job.client_ids)
    tracker = contribution_tracker(spec.contribution, job.evaluate, 3, 4)
    moves = _RoundMoves()
    simulate(
        job.client_fn,
        job.client_ids,
        job.strategy,
        job.initial_parameters,
        2,
        seed=3,
        observers=[tracker, moves],
    )
    report = tracker.report()
    assert report.players == ("client-1", "client-2", "hospital-a")
    score = validation_score(job.evaluate, spec.contribution.metric)
    assert len(report.rounds) == len(moves.rounds) == 2
    for r, (old, new) in zip(report.rounds, moves.rounds, strict=True):
        assert set(r.values) == {"client-1", "client-2", "hospital-a"}
        # exact per round (mr, FedAvg): the entity's value and the others' add up to the
        # round's score change, as the game of three players requires (efficiency)
        assert sum(r.values.values()) == pytest.approx(score(new) - score(old), abs=1e-9)


@pytest.mark.parametrize(
    ("entities", "match"),
    [
        ({"clinet-3": "hospital-a"}, r"names \['clinet-3'\], not clients of this run"),
        ({"client-0": "client-1"}, "names the entity 'client-1' like a client outside it"),
        # a takeover: client-1 is listed, but under another entity, so the ledger would
        # pay client-0's value under the name client-1
        (
            {"client-0": "client-1", "client-1": "hospital-b"},
            r"entity 'client-1' like a client outside it \(client 'client-1' itself is "
            r"listed under the entity 'hospital-b'\)",
        ),
        # a swap: each is paid the other's value
        (
            {"client-0": "client-1", "client-1": "client-0"},
            "names the entity 'client-0' like a client outside it",
        ),
    ],
)
def test_entities_that_do_not_fit_the_run_are_refused_naming_them(
    entities: dict[str, str], match: str
) -> None:
    spec = parse_job({**JOB, "contribution": {"method": "gtg", "entities": entities}})
    assert spec.contribution is not None
    with pytest.raises(ConfigError, match=match):
        check_entities(spec.contribution, [f"client-{i}" for i in range(4)], "job.toml: ")


def test_an_entity_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="entities"):
        parse_job({**JOB, "contribution": {"entities": {"client-0": 3}}})


def test_an_entity_may_keep_the_name_of_a_client_it_contains() -> None:
    spec = parse_job(
        {**JOB, "contribution": {"entities": {"client-0": "client-0", "client-3": "client-0"}}}
    )
    assert spec.contribution is not None
    check_entities(spec.contribution, [f"client-{i}" for i in range(4)])


def _sites(hospitals: int) -> dict[str, object]:
    """A method "mr" job of two sites per hospital (client-2k and client-2k+1 ->
    hospital-k), every site sampled each round."""
    entities = {f"client-{i}": f"hospital-{i // 2}" for i in range(2 * hospitals)}
    return {
        **JOB,
        "partition": {"num_clients": 2 * hospitals},
        "contribution": {"method": "mr", "entities": entities},
    }


def test_mr_s_limit_counts_participants_not_sites() -> None:
    # 24 sites of 12 hospitals: 12 participants a round, within mr's limit of 12 (it was
    # refused before the run as "rounds take up to 24")
    spec = parse_job(_sites(12))
    assert spec.contribution is not None
    job = build_hfl_job(spec)
    tracker = contribution_tracker(spec.contribution, job.evaluate, 3, 24, job.client_ids)
    assert tracker.method == "mr"


def test_mr_refuses_more_participants_than_it_values_naming_them() -> None:
    spec = parse_job(_sites(13))
    assert spec.contribution is not None
    job = build_hfl_job(spec)
    with pytest.raises(ConfigError, match=r"up to 13 participants \(26 clients"):
        contribution_tracker(spec.contribution, job.evaluate, 3, 26, job.client_ids)


def test_a_run_with_entities_pays_each_entity_once_and_the_whole_pool(tmp_path: Path) -> None:
    spec = parse_job(JOB)
    assert spec.contribution is not None
    job = build_hfl_job(spec)
    tracker = contribution_tracker(spec.contribution, job.evaluate, 3, 4, job.client_ids)
    simulate(
        job.client_fn,
        job.client_ids,
        job.strategy,
        job.initial_parameters,
        2,
        seed=3,
        observers=[tracker],
    )
    store = tmp_path / "runs.db"
    with RunStore(store) as runs:
        run = runs.start_run("hfl", {}, name="hospitals")
        runs.finish_run(run, "completed")
        record_contributions(runs, run, tracker.report())
    app = typer.Typer()
    app.add_typer(rewards_app, name="rewards")
    runner = CliRunner(env={"COLUMNS": "200"})
    paid = runner.invoke(app, ["rewards", "pay", run, "--budget", "1000.00", "--store", str(store)])
    assert paid.exit_code == 0, paid.output
    ledger = tmp_path / "ledger.csv"
    exported = runner.invoke(
        app, ["rewards", "export", run, "--csv", str(ledger), "--store", str(store)]
    )
    assert exported.exit_code == 0, exported.output
    with ledger.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # one line per participant: the entity is paid once, its clients are not payees
    assert sorted(r["participant"] for r in rows) == ["client-1", "client-2", "hospital-a"]
    cents = sum(round(float(r["amount"]) * 100) for r in rows)
    assert cents == 100000
