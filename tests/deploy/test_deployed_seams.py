"""Deployed over gRPC (mTLS on loopback), parties in threads of this process: a strategy's
client mods reach parties that were never told the strategy, a multi-stage round workflow
routes its stages to the party's mod, and personal state stays with each party between
rounds; all end where simulation ends."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from digits_app import PARTIES, SEED, initial_parameters, shards

from rengo.core.messages import FitResult
from rengo.deploy import run_party, serve_coordinator
from rengo.hfl import (
    Ditto,
    FedAvg,
    FedRep,
    History,
    LogisticRegressionClient,
    QFedAvg,
    QFFLMod,
    Scaffold,
    Strategy,
    simulate,
)
from rengo.privacy import PrivacyBudgetExhausted
from rengo.tracking import RunStore
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

sys.path.append(str(Path(__file__).parents[1] / "hfl"))  # after tests/deploy: its conftest
from cohorts import Asks
from pairwise_masking import PairMaskWorkflow

NAMES = PARTIES[:3]
ROUNDS = 2


def client_fn(cid: str) -> LogisticRegressionClient:
    X, y = shards()[cid]
    return LogisticRegressionClient(X, y, lr=0.2, local_epochs=1, batch_size=32)


def deployed(certs: Path, strategy: Strategy, workflow: Any = None) -> list[np.ndarray]:
    return deployed_history(certs, strategy, workflow).parameters


def deployed_history(
    certs: Path,
    strategy: Strategy,
    workflow: Any = None,
    names: list[str] = NAMES,
    party_mods: dict[str, list[Any]] | None = None,
    store: Any = None,
    observers: tuple[Any, ...] = (),
    **options: Any,
) -> History:
    """Run ``strategy`` over gRPC with a party thread per name (with its ``party_mods``: a
    party that lies), recorded in ``store`` if given (``options``: more of
    ``serve_coordinator``'s); every round must be free of failures unless some party lies."""
    ready, result = threading.Event(), {}

    def listening(hub: Any) -> None:
        result["address"] = f"127.0.0.1:{hub.port}"
        ready.set()

    def coordinator() -> None:
        try:
            result["history"] = serve_coordinator(
                strategy, initial_parameters(), ROUNDS, "127.0.0.1:0",
                HubSecurity.from_directory(certs), parties=names, join_timeout=30.0,
                round_timeout=20.0, seed=SEED, heartbeat_interval=0.5, on_listening=listening,
                workflow=workflow, store=store, observers=observers, **options,
            )  # fmt: skip
        except BaseException as exc:
            result["error"] = exc
            ready.set()

    serving = threading.Thread(target=coordinator, daemon=True)
    serving.start()
    assert ready.wait(30) and "error" not in result, result.get("error")
    backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=30.0)
    parties = [
        threading.Thread(
            target=run_party,
            args=(result["address"], name, client_fn, PartyCredentials.from_directory(certs, name)),
            kwargs={
                "heartbeat_interval": 0.5,
                "backoff": backoff,
                "mods": (party_mods or {}).get(name, []),
            },
            daemon=True,
        )
        for name in names
    ]
    for party in parties:
        party.start()
    for party in parties:
        party.join(60)
    serving.join(30)
    assert not any(t.is_alive() for t in [*parties, serving]), "the run did not finish"
    if "error" in result:
        raise result["error"]
    history: History = result["history"]
    assert party_mods or all(not r.failures for r in history.rounds)
    return history


def simulated(strategy: Strategy, workflow: Any = None) -> list[np.ndarray]:
    return simulate(
        client_fn, NAMES, strategy, initial_parameters(), ROUNDS, seed=SEED, workflow=workflow
    ).parameters


@pytest.mark.timeout(90)
@pytest.mark.parametrize("strategy", [Scaffold, QFedAvg])
def test_a_strategys_client_half_reaches_parties_that_only_serve_a_client(
    certs: Path, strategy: type
) -> None:
    """SCAFFOLD's control variates and q-FedAvg's loss-scaled replies come from mods the
    parties install on the coordinator's request."""
    got = deployed(certs, strategy(min_fit_clients=3))
    want = simulated(strategy(min_fit_clients=3))
    plain = simulated(FedAvg(min_fit_clients=3))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    assert any(not np.allclose(g, p) for g, p in zip(got, plain, strict=True))


@pytest.mark.timeout(90)
def test_a_two_stage_workflow_runs_over_grpc(certs: Path) -> None:
    got = deployed(certs, FedAvg(min_fit_clients=3), PairMaskWorkflow())
    want = simulated(FedAvg(min_fit_clients=3), PairMaskWorkflow())
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", [FedRep, Ditto])
def test_personal_state_stays_with_deployed_parties(certs: Path, strategy: type) -> None:
    """Personalisation deployed: each party keeps its personal head or model in its own
    process between rounds, and every round's per-client evaluation (of the personal
    models) equals the simulation's."""
    got = deployed_history(certs, strategy(min_fit_clients=3))
    want = simulate(
        client_fn, NAMES, strategy(min_fit_clients=3), initial_parameters(), ROUNDS, seed=SEED
    )
    for g, w in zip(got.parameters, want.parameters, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    for g_round, w_round in zip(got.rounds, want.rounds, strict=True):
        assert g_round.metrics["eval_accuracy"] == pytest.approx(w_round.metrics["eval_accuracy"])


@pytest.mark.timeout(120)
def test_secagg_plus_runs_over_grpc_and_ends_where_simulation_ends(certs: Path) -> None:
    from rengo.hfl import SecAggPlus

    got = deployed(certs, FedAvg(min_fit_clients=3), SecAggPlus(quantisation_bits=20))
    want = simulated(FedAvg(min_fit_clients=3), SecAggPlus(quantisation_bits=20))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)  # masks cancel exactly; same quantised inputs


@pytest.mark.timeout(120)
def test_secagg_plus_with_an_int8_model_runs_over_grpc_and_ends_where_simulation_ends(
    certs: Path,
) -> None:
    """The model travels int8 under secure aggregation: the parties decode it, mask their
    update against it, and the deployed run ends on the simulation's model exactly."""
    from rengo.hfl import SecAggPlus

    got = deployed(certs, FedAvg(min_fit_clients=3), SecAggPlus(quantisation_bits=20, model="int8"))
    want = simulated(FedAvg(min_fit_clients=3), SecAggPlus(quantisation_bits=20, model="int8"))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.timeout(120)
def test_signed_secagg_runs_over_grpc_with_the_parties_mtls_certificates(certs: Path) -> None:
    """The parties sign with their mTLS certificates (installed by run_party) and the
    coordinator checks them against its ca.pem; the sum is the unsigned simulation's."""
    from rengo.hfl import SecAggPlus

    workflow = SecAggPlus(quantisation_bits=20, signed=True)
    got = deployed(certs, FedAvg(min_fit_clients=3), workflow)
    want = simulated(FedAvg(min_fit_clients=3), SecAggPlus(quantisation_bits=20))
    assert workflow.last.signed and workflow.ca == (certs / "ca.pem").read_bytes()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def _assert_ends_where_a_simulation_without_it_ends(
    history: History, names: list[str], gone: str
) -> None:
    """The deployed run's model is, bit for bit, an unsigned simulation's in which ``gone``
    fails every call."""
    from test_secagg_misdealing import Gone

    from rengo.hfl import SecAggPlus

    want = simulate(
        client_fn, names, FedAvg(min_fit_clients=3), initial_parameters(), ROUNDS, seed=SEED,
        workflow=SecAggPlus(quantisation_bits=20), client_mods=[Gone(gone)],
    ).parameters  # fmt: skip
    for g, w in zip(history.parameters, want, strict=True):
        np.testing.assert_array_equal(g, w)


class LyingQFFL(QFFLMod):
    """q-FedAvg's client half, installed by the party itself in place of the one the
    coordinator asks for, replying ``h_k = -1e6``: with it, the honest parties' ``sum h``
    would turn negative and the step would run away."""

    def __call__(self, call: Any, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if isinstance(reply, FitResult):
            return FitResult([*reply.parameters[:-1], np.asarray(-1e6)], reply.num_examples)
        return reply


@pytest.mark.timeout(120)
def test_a_deployed_party_lying_about_its_qfedavg_h_fails_alone_and_the_run_is_true(
    certs: Path, tmp_path: Path
) -> None:
    """The coordinator refuses a reply whose ``h_k`` is not a finite number > 0 as that
    party's failure (Strategy.result_problem); every round goes on over the others, ends
    where a run of the others alone ends, and the run is recorded completed."""
    from rengo.tracking import RunStore

    liar = NAMES[2]
    with RunStore(tmp_path / "runs.db") as store:
        history = deployed_history(
            certs, QFedAvg(min_fit_clients=2), party_mods={liar: [LyingQFFL()]}, store=store
        )
        (run,) = store.list_runs()
        assert run.status == "completed"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 2]
    for record in history.rounds:
        assert set(record.failures) == {liar}
        assert "q-FedAvg's h_k is a finite number > 0" in record.failures[liar]
    want = simulate(
        client_fn, NAMES[:2], QFedAvg(min_fit_clients=2), initial_parameters(), ROUNDS,
        seed=SEED,
    ).parameters  # fmt: skip
    for g, w in zip(history.parameters, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.timeout(120)
def test_a_deployed_signed_party_that_deals_wrong_shares_is_excluded_and_the_run_goes_on(
    certs: Path,
) -> None:
    """An authenticated party that lies (its seed shares do not rebuild its seed) cannot
    stop the federation: it is named, excluded from the run, its round starts again over
    the others, and the run ends where a run without it ends."""
    from test_secagg_misdealing import Misdeal

    from rengo.crypto.signatures import SigningIdentity
    from rengo.hfl import SecAggPlus

    names = PARTIES[:4]
    creds = PartyCredentials.from_directory(certs, "p1")
    assert creds.cert and creds.key and creds.ca_cert
    liar = Misdeal(
        "p1", identities={"p1": SigningIdentity.from_pem(creds.cert, creds.key, creds.ca_cert)}
    )
    workflow = SecAggPlus(quantisation_bits=20, signed=True)
    history = deployed_history(
        certs, FedAvg(min_fit_clients=3), workflow, names, party_mods={"p1": [liar]}
    )
    first, second = history.rounds
    assert "self-mask seed that do not rebuild it" in first.failures["p1"]
    assert set(first.failures) == {"p1"} and "p1" not in second.clients
    assert not second.failures and workflow.last.signed
    _assert_ends_where_a_simulation_without_it_ends(history, names, "p1")


@pytest.mark.timeout(120)
def test_a_deployed_party_that_seals_garbage_is_named_by_its_neighbours_and_excluded(
    certs: Path, tmp_path: Path
) -> None:
    """An authenticated party that seals garbage for every neighbour used to make them all
    refuse the round; now they complain over gRPC, the coordinator convicts it from their
    revealed secrets, and the run ends where a run without it ends - recorded completed,
    with the exclusion among its events and in its checkpoint."""
    from test_secagg_complaints import Deviant

    from rengo.core.codec import decode
    from rengo.hfl import SecAggPlus
    from rengo.tracking import RunStore

    names = PARTIES[:4]
    workflow = SecAggPlus(quantisation_bits=20)  # complete graph
    with RunStore(tmp_path / "runs.db") as store:
        history = deployed_history(
            certs, FedAvg(min_fit_clients=3), workflow, names,
            party_mods={"p1": [Deviant(garbler="p1")]}, store=store,
        )  # fmt: skip
        (run,) = store.list_runs()
        assert run.status == "completed"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 2]
        warnings = [e.message for e in store.events(run.run_id, level="warning")]
        assert any("client p1 is excluded from the rest of the run" in w for w in warnings)
        latest = store.latest_checkpoint(run.run_id)
        assert latest is not None and "p1" in decode(bytearray(latest[1]))["excluded"]
    first, second = history.rounds
    assert "the shares it sealed for" in first.failures["p1"]
    assert set(first.failures) == {"p1"} and "p1" not in second.clients
    assert not second.failures
    _assert_ends_where_a_simulation_without_it_ends(history, names, "p1")


@pytest.mark.timeout(120)
def test_a_deployed_signed_party_that_seals_garbage_is_refused_and_excluded(
    certs: Path,
) -> None:
    """Signed: the neighbours reveal nothing; they refuse the start naming the sealer, and
    the coordinator convicts it on t refusals and starts again without it."""
    from test_secagg_complaints import Deviant

    from rengo.crypto.signatures import SigningIdentity
    from rengo.hfl import SecAggPlus

    names = PARTIES[:4]
    creds = PartyCredentials.from_directory(certs, "p1")
    assert creds.cert and creds.key and creds.ca_cert
    identity = SigningIdentity.from_pem(creds.cert, creds.key, creds.ca_cert)
    workflow = SecAggPlus(quantisation_bits=20, signed=True)
    history = deployed_history(
        certs, FedAvg(min_fit_clients=3), workflow, names,
        party_mods={"p1": [Deviant(garbler="p1", identities={"p1": identity})]},
    )  # fmt: skip
    first, second = history.rounds
    assert "holders could not use" in first.failures["p1"]
    assert set(first.failures) == {"p1"} and "p1" not in second.clients
    assert not second.failures and workflow.last.signed
    _assert_ends_where_a_simulation_without_it_ends(history, names, "p1")


def test_signed_secagg_on_a_hub_without_client_certificates_is_a_config_error() -> None:
    from rengo.core.errors import ConfigError
    from rengo.hfl import SecAggPlus

    with pytest.raises(ConfigError, match="this hub authenticates by insecure"):
        serve_coordinator(
            FedAvg(), initial_parameters(), 1, "127.0.0.1:0", HubSecurity(insecure=True),
            workflow=SecAggPlus(signed=True),
        )  # fmt: skip


def test_a_strategy_secagg_cannot_run_is_refused_before_the_hub_starts_or_a_run_is_recorded(
    tmp_path: Path,
) -> None:
    from rengo.core.errors import ConfigError
    from rengo.hfl import FedMedian, SecAggPlus
    from rengo.tracking import RunStore

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(ConfigError, match="releases only the sum"):
            serve_coordinator(
                FedMedian(), initial_parameters(), 1, "127.0.0.1:0", HubSecurity(insecure=True),
                workflow=SecAggPlus(), store=store, join_timeout=1.0,
            )  # fmt: skip
        assert store.list_runs() == []


class SpentBudget:
    """A party's client whose own privacy budget is spent after round 1 (what a
    ``TorchClient(dp=LocalDP(target_epsilon=...))`` raises), or that says so falsely."""

    def __call__(self, call: Any, call_next: Any) -> Any:
        if call.key == "fit" and int(call.config["server_round"]) > 1:
            raise PrivacyBudgetExhausted(4.5, 5.75, 5.0, 1)
        return call_next(call)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("secagg", [False, True], ids=["plain", "secagg"])
def test_a_deployed_party_whose_local_budget_is_spent_ends_the_run_cleanly(
    certs: Path, tmp_path: Path, secagg: bool
) -> None:
    # under secure aggregation the party declines at the masked input: too few inputs fail
    # before unmasking (ShortRound), and the run stops as cleanly as without it
    from rengo.hfl import SecAggMod, SecAggPlus
    from rengo.tracking import RunStore

    store = RunStore(tmp_path / "runs.db")
    history = deployed_history(
        certs,
        FedAvg(min_fit_clients=3),
        SecAggPlus(quantisation_bits=20) if secagg else None,
        # under secure aggregation the party trains inside the secagg mod's masked-input
        # stage: installed after it, the budget check sees that fit call (as a client's own)
        party_mods={NAMES[2]: [SecAggMod(), SpentBudget()] if secagg else [SpentBudget()]},
        store=store,
    )
    assert len(history.rounds) == 1
    assert history.stopped is not None and f"({NAMES[2]}) is spent" in history.stopped
    assert history.run_id is not None
    assert store.get_run(history.run_id).status == "completed"
    events = [e.message for e in store.events(history.run_id)]
    assert any(f"client {NAMES[2]} is excluded" in m and "budget is spent" in m for m in events)
    assert any("round 2 cannot be completed" in m for m in events)
    assert store.latest_checkpoint(history.run_id) is not None


@pytest.mark.timeout(120)
def test_a_deployed_secagg_round_short_of_a_spent_party_unmasks_nothing_and_runs_again(
    certs: Path, tmp_path: Path
) -> None:
    """Five parties over gRPC and mTLS; in round 2 p2 declines inside the masked-input stage
    (its local budget is spent), so two masked inputs arrive for min_fit_clients=3. Nothing is
    unmasked: the round runs again over p0, p1, p3, and the run ends where a simulation that
    asks those cohorts from the start ends (masks cancel exactly)."""
    from rengo.hfl import SecAggMod, SecAggPlus
    from rengo.tracking import RunStore

    store = RunStore(tmp_path / "runs.db")
    workflow = SecAggPlus(quantisation_bits=20)
    unmasked_when_abandoned: list[bool] = []

    class Watch:
        def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
            unmasked_when_abandoned.append(workflow.last.unmasked)

        def on_round_end(self, server_round: int, old: Any, new: Any, metrics: Any) -> None:
            pass

    history = deployed_history(
        certs,
        Asks(
            ["p0", "p1", "p2"], ["p0", "p1", "p3"], "p2", min_fit_clients=3, min_available_clients=3
        ),
        workflow,
        names=PARTIES,
        party_mods={"p2": [SecAggMod(), SpentBudget()]},
        store=store,
        observers=(Watch(),),
    )
    assert [sorted(r.clients) for r in history.rounds] == [["p0", "p1", "p2"], ["p0", "p1", "p3"]]
    assert history.stopped is None and unmasked_when_abandoned == [False]
    assert history.run_id is not None and store.get_run(history.run_id).status == "completed"
    events = [e.message for e in store.events(history.run_id)]
    assert any("round 2 is run again without client(s) p2" in m for m in events), events

    class ByRound(FedAvg):
        def configure_fit(
            self, server_round: int, parameters: Any, client_ids: Any, rng: np.random.Generator
        ) -> Any:
            asked = ["p0", "p1", "p2"] if server_round == 1 else ["p0", "p1", "p3"]
            return super().configure_fit(server_round, parameters, asked, rng)

    want = simulate(
        client_fn, PARTIES, ByRound(min_fit_clients=3), initial_parameters(), ROUNDS, seed=SEED,
        workflow=SecAggPlus(quantisation_bits=20),
    )  # fmt: skip
    for g, w in zip(history.parameters, want.parameters, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.timeout(90)
def test_a_recorded_deployed_run_holds_its_latest_rounds_and_the_store_every_round(
    certs: Path,
) -> None:
    with RunStore(":memory:") as store:
        history = deployed_history(
            certs, FedAvg(min_fit_clients=2), store=store, rounds_in_memory=1
        )
        assert [r.server_round for r in history.rounds] == [ROUNDS]
        assert history.earlier_rounds == ROUNDS - 1
        assert history.run_id is not None
        assert [r.round for r in store.rounds(history.run_id)] == list(range(1, ROUNDS + 1))
