"""A checkpointed deployed vertical run takes back a party whose link dropped: every role
rejoins and the run resumes itself from the checkpoints, to the model an uninterrupted run
trains; a party that does not come back within the grace, or comes back as another party or
with another table, ends the run ``interrupted``, naming it, every completed epoch kept."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_processes import Processes
from link_proxy import Proxy
from test_vertical_deployed import (
    HOSTS,
    LABEL_PARTY,
    SEED,
    certs,
    finish,
    party_data,
    tables,
    wait_for_port,
)
from test_vertical_resume_deployed import cli, kill_after, only_run, start_parties

from rengo.core.errors import AuthenticationError, DataError, PeerFailure, ProtocolError
from rengo.deploy.vertical import run_vertical_party, serve_vertical_coordinator
from rengo.deploy.vertical_data import PartyData
from rengo.tracking import RunStore
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import HeteroLogisticRegression, HeteroLRConfig
from rengo.vfl.common import PartyTable

__all__ = ["certs", "cli", "tables"]  # fixtures shared with the deployed vertical tests

# A run that takes its parties back ended `interrupted` in about 1 of 14 runs of the
# algorithms' file under load: one party's call, made while the old hub stopped, stayed
# blocked after its heartbeat watchdog cancelled it (the watchdog now closes the channel,
# see rengo.transport.grpc_party). As insurance, a failing case runs again, at most twice.
pytestmark = pytest.mark.flaky(reruns=2)

EPOCHS = 3
SETTINGS: dict[str, Any] = {"batch_size": 160, "learning_rate": 0.15, "l2": 0.01, "tol": 0.0}
PASSPHRASE = "a passphrase kept apart"
PATIENT = Backoff(initial=0.05, maximum=0.2, give_up_after=5.0)
NAMES = [LABEL_PARTY, *HOSTS]


class Deployed:
    """A checkpointed run of ``algorithm`` (default: hetero LR) served in a thread of the
    test process, its store and its parties' checkpoint folders under ``folder``; each
    party draws its own initial weights from ``own_seed`` (as the simulation does from the
    plan's seed, for algorithms whose parties draw them)."""

    def __init__(
        self,
        certs: Path,
        folder: Path,
        rejoin_grace: float,
        max_rejoins: int = 10,
        party_grace: float = 20.0,
        *,
        algorithm: str = "hetero_lr",
        config: Any = None,
        names: Sequence[str] = tuple(NAMES),
        label_party: str = LABEL_PARTY,
        seed: int = SEED,
        own_seed: int | None = None,
        selection: Any = None,
    ) -> None:
        self.certs, self.folder = certs, folder
        self.party_grace = party_grace
        self.own_seed = own_seed
        if config is None:
            config = HeteroLRConfig(key_bits=512, epochs=EPOCHS, **SETTINGS)
        self.store = RunStore(folder / "runs.db")
        self.result: Any = None
        self.results: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []
        listening = threading.Event()
        addresses: list[str] = []

        def on_listening(hub: Any) -> None:
            addresses.append(hub.address)
            listening.set()

        def serve() -> Any:
            return serve_vertical_coordinator(
                "127.0.0.1:0",
                HubSecurity.from_directory(certs),
                names,
                label_party,
                algorithm=algorithm,
                config=config,
                seed=seed,
                join_timeout=30.0,
                rejoin_wait=1.0,
                rejoin_grace=rejoin_grace,
                max_rejoins=max_rejoins,
                heartbeat_interval=0.5,
                store=self.store,
                on_listening=on_listening,
                checkpoint_dir=folder / "coordinator",
                passphrase=PASSPHRASE,
                selection=selection,
            )

        self._coordinator = self._start(lambda: setattr(self, "result", _outcome(serve)))
        assert listening.wait(30), "the hub did not listen"
        self.address = addresses[0]

    def _start(self, fn: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=fn, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def party(
        self,
        name: str,
        data: PartyData,
        address: str | None = None,
        credentials: str | None = None,
        key: str | None = None,
    ) -> threading.Thread:
        """``name`` joins (through ``address``, with ``credentials``' certificate); its
        result or error lands in ``results[key or name]``."""

        def join() -> Any:
            return run_vertical_party(
                address or self.address,
                name,
                data.table,
                PartyCredentials.from_directory(self.certs, credentials or name),
                labels=data.labels,
                score_table=data.score_table,
                heartbeat_interval=0.5,
                backoff=PATIENT,
                linger=5.0,
                connect_timeout=30.0,
                checkpoint_dir=self.folder / name,
                rejoin_grace=self.party_grace,
                own_seed=self.own_seed,
            )

        return self._start(lambda: self.results.__setitem__(key or name, _outcome(join)))

    def checkpoint(self, name: str, epoch: int) -> Path:
        (run,) = self.store.list_runs()
        return self.folder / name / run.run_id / name / f"epoch-{epoch:06d}.npz"

    def wait_for(self, path_of: Callable[[], Path]) -> None:
        deadline = time.monotonic() + 90
        while not self.store.list_runs() or not path_of().exists():
            assert time.monotonic() < deadline, f"never written: {path_of()}"
            time.sleep(0.02)

    def finish(self) -> Any:
        for thread in self._threads:
            thread.join(120)
            assert not thread.is_alive(), "a role did not finish"
        return self.result


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except BaseException as exc:
        return exc


@pytest.fixture
def deployed(certs: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployed]:
    run = Deployed(certs, tmp_path, rejoin_grace=request.param)
    yield run
    run.store.close()


@pytest.fixture
def data(tables: Any) -> dict[str, PartyData]:
    return {name: party_data(tables, name) for name in NAMES}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("deployed", [20.0], indirect=True)
def test_a_party_whose_link_drops_mid_training_rejoins_and_the_run_trains_the_same_model(
    deployed: Deployed, data: dict[str, PartyData]
) -> None:
    """The bank's link is cut once its first epoch is checkpointed: every role rejoins by
    itself, the run resumes after the last epoch every role completed, and it ends
    ``completed`` with the uninterrupted run's model (the run was recorded ``interrupted``
    and every process ended, for the operator to start again with --resume)."""
    proxy = Proxy(deployed.address)
    for name in NAMES:
        deployed.party(name, data[name], proxy.address if name == "bank" else None)
    deployed.wait_for(lambda: deployed.checkpoint("bank", 1))
    proxy.cut()
    proxy.restore()  # the link comes back at once: what was in flight is lost all the same
    report = deployed.finish()
    proxy.close()

    assert not isinstance(report, BaseException), report
    model = HeteroLogisticRegression(key_bits=512, seed=SEED, epochs=EPOCHS, **SETTINGS)
    model.fit({n: d.table for n, d in data.items()}, LABEL_PARTY, data[LABEL_PARTY].labels)
    for name, weights in model.coefficients().items():
        np.testing.assert_array_equal(deployed.results[name].model.weights, weights)
    assert deployed.results[LABEL_PARTY].model.intercept == model.guest_model_.intercept
    ids, scores = model.predict_scores({n: d.score_table for n, d in data.items()})  # type: ignore[misc]
    np.testing.assert_array_equal(deployed.results[LABEL_PARTY].score_ids, ids)
    np.testing.assert_array_equal(deployed.results[LABEL_PARTY].scores, scores)

    run = deployed.store.get_run(report.run_id)
    assert run.status == "completed" and run.summary is not None
    assert run.summary["rejoins"] == 1
    assert 1 <= run.summary["resumed_after_epoch"] < EPOCHS
    assert [r.round for r in deployed.store.rounds(run.run_id)] == list(range(1, EPOCHS + 1))
    said = [e.message for e in deployed.store.events(run.run_id)]
    assert any("the run stopped" in m and "bank" in m for m in said), said
    assert any("every party rejoined" in m for m in said), said
    # completed, the run is never resumed: the coordinator's sealed key and epochs are gone
    kept = deployed.folder / "coordinator" / run.run_id / "coordinator"
    assert sorted(p.name for p in kept.iterdir()) == ["plan.json"]


@pytest.mark.timeout(180)
def test_a_link_that_drops_again_past_max_rejoins_interrupts_the_run(
    certs: Path, tmp_path: Path, data: dict[str, PartyData]
) -> None:
    """With ``max_rejoins=1`` the bank's link is cut, the run takes every party back, and
    the link is cut again: the run is not resumed a second time but recorded
    ``interrupted``, saying it took its parties back the most times it may (a link that
    kept dropping made the run resume for ever)."""
    deployed = Deployed(certs, tmp_path, rejoin_grace=20.0, max_rejoins=1, party_grace=3.0)
    try:
        proxy = Proxy(deployed.address)
        for name in NAMES:
            deployed.party(name, data[name], proxy.address if name == "bank" else None)
        deployed.wait_for(lambda: deployed.checkpoint("bank", 1))
        proxy.cut()
        proxy.restore()
        (run,) = deployed.store.list_runs()
        deadline = time.monotonic() + 90
        while not any(
            "every party rejoined" in e.message for e in deployed.store.events(run.run_id)
        ):
            assert time.monotonic() < deadline, "the parties never rejoined"
            time.sleep(0.02)
        proxy.cut()
        proxy.restore()
        failure = deployed.finish()
        proxy.close()

        assert isinstance(failure, PeerFailure) and failure.role == "bank", failure
        done = deployed.store.get_run(run.run_id)
        assert done.status == "interrupted" and done.summary is not None
        assert done.summary["rejoins"] == 1
        warnings = [e.message for e in deployed.store.events(run.run_id, level="warning")]
        assert any("the most it may (max_rejoins=1)" in m for m in warnings), warnings
        assert deployed.checkpoint("bank", 1).exists()  # every completed epoch kept
    finally:
        deployed.store.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("deployed", [0.0], indirect=True)
@pytest.mark.parametrize("link_back", ["at once", "after the run ended"])
def test_a_party_whose_link_dropped_is_told_the_run_ended_when_its_coordinator_takes_none_back(
    deployed: Deployed, data: dict[str, PartyData], link_back: str
) -> None:
    """A coordinator without a ``rejoin_grace`` ends the run ``interrupted`` when the bank's
    link drops. Every party keeps joining again for its own grace (60 s here) after a
    dropped link, so each must be told the run ended, naming the bank: those still connected
    by the goodbye they wait for, the bank, whose link is back only after the run ended, when
    it comes back to the coordinator, which keeps answering for a while. Before, they tried
    for their whole grace against no coordinator and then raised their own stop."""
    deployed.party_grace = 60.0
    proxy = Proxy(deployed.address)
    for name in NAMES:
        deployed.party(name, data[name], proxy.address if name == "bank" else None)
    deployed.wait_for(lambda: deployed.checkpoint("bank", 1))
    proxy.cut()
    if link_back == "after the run ended":  # the others were told: the hub is closing
        deadline = time.monotonic() + 90
        while not {LABEL_PARTY, "telecom"} <= deployed.results.keys():
            assert time.monotonic() < deadline, "the others were never told"
            time.sleep(0.02)
    proxy.restore()
    failure = deployed.finish()
    proxy.close()

    assert isinstance(failure, PeerFailure) and failure.role == "bank", failure
    (run,) = deployed.store.list_runs()
    assert run.status == "interrupted"
    for name in NAMES:  # the bank too: told when it came back
        told = deployed.results[name]
        assert isinstance(told, ProtocolError) and "ended" in str(told), (name, told)
        assert "bank" in str(told), (name, told)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("deployed", [3.0], indirect=True)
def test_a_party_that_does_not_come_back_within_the_grace_interrupts_the_run_naming_it(
    deployed: Deployed, data: dict[str, PartyData]
) -> None:
    proxy = Proxy(deployed.address)
    for name in NAMES:
        deployed.party(name, data[name], proxy.address if name == "bank" else None)
    deployed.wait_for(lambda: deployed.checkpoint("bank", 1))
    proxy.cut()  # and never restored
    failure = deployed.finish()
    proxy.close()

    assert isinstance(failure, PeerFailure) and failure.role == "bank", failure
    assert "did not rejoin within 3s" in str(failure)
    (run,) = deployed.store.list_runs()
    assert run.status == "interrupted"
    warnings = [e.message for e in deployed.store.events(run.run_id, level="warning")]
    assert any("did not rejoin within 3s" in m and "bank" in m for m in warnings), warnings
    for name in (LABEL_PARTY, "telecom"):  # rejoined, then told the run ended
        told = deployed.results[name]
        assert isinstance(told, ProtocolError) and "bank" in str(told), told
    assert deployed.checkpoint("bank", 1).exists()  # every completed epoch kept


@pytest.mark.timeout(180)
@pytest.mark.parametrize("deployed", [30.0], indirect=True)
def test_a_party_that_comes_back_as_another_or_with_another_table_is_refused(
    deployed: Deployed, data: dict[str, PartyData]
) -> None:
    """The bank's link is cut for good; the telecom's certificate then claims the bank's
    name (refused by the hub), and the bank comes back with a changed table (refused by its
    checkpoint before it reports an epoch): the run ends ``interrupted``, naming the bank,
    every completed epoch kept."""
    proxy = Proxy(deployed.address)
    for name in NAMES:
        deployed.party(name, data[name], proxy.address if name == "bank" else None)
    deployed.wait_for(lambda: deployed.checkpoint("bank", 1))
    proxy.cut()
    deployed.party("bank", data["bank"], credentials="telecom", key="impostor").join(60)
    assert isinstance(deployed.results["impostor"], AuthenticationError)
    bank = data["bank"]
    assert bank.table is not None
    changed = PartyTable(bank.table.ids, bank.table.features * 2.0)
    deployed.party("bank", PartyData(changed, None, bank.score_table), key="changed")
    failure = deployed.finish()
    proxy.close()

    assert isinstance(deployed.results["changed"], DataError)
    assert "training table changed" in str(deployed.results["changed"])
    assert isinstance(failure, PeerFailure), failure
    # the kind peers are told is the error's class: since 34b82350 the DataError subclass
    # that says which settings chose the table's rows
    assert (failure.role, failure.reason) == ("bank", "ChangedTable")
    (run,) = deployed.store.list_runs()
    assert run.status == "interrupted"
    assert deployed.checkpoint("bank", 1).exists()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("class_weight", ["none", "balanced"])
def test_a_party_process_killed_and_started_again_rejoins_and_the_run_completes(
    tables: Any,
    certs: Path,
    cli: Processes,
    tmp_path: Path,
    data: dict[str, PartyData],
    class_weight: str,
) -> None:
    """``rengo vfl coordinator`` / ``rengo vfl party`` processes: the bank's process is
    killed once its first epoch is checkpointed and started again with its folder, as a
    supervisor would; the run takes it back and completes with the uninterrupted model (it
    was recorded ``interrupted``, every process ended, for the operator's --resume). With
    ``--class-weight balanced`` (breast_cancer's classes are 37% / 63%) the rejoined run
    trains the weighted model, not the unweighted one."""
    store = tmp_path / "runs.db"
    coordinator = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--parties", ",".join(NAMES),
        "--label-party", LABEL_PARTY,
        "--key-bits", "512",
        "--epochs", str(EPOCHS),
        *(f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()),
        "--seed", str(SEED),
        "--join-timeout", "60",
        "--rejoin-wait", "60",
        "--rejoin-grace", "60",
        "--store", str(store),
        "--checkpoints", str(tmp_path / "coordinator-checkpoints"),
        "--class-weight", class_weight,
        "--no-progress",
    )  # fmt: skip
    port, early = wait_for_port(coordinator)
    address = f"127.0.0.1:{port}"
    parties = start_parties(cli, address, tables, certs, tmp_path, rejoin_grace=60)
    run = only_run(store)
    kill_after(parties, coordinator, tmp_path / "bank-checkpoints" / run.run_id / "bank", 1)
    parties |= start_parties(cli, address, tables, certs, tmp_path, ("bank",), rejoin_grace=60)
    for proc in parties.values():
        finish(proc)
    summary = finish(coordinator, early)
    assert f"trained {EPOCHS} epochs" in summary

    def trained(weighting: str) -> HeteroLogisticRegression:
        model = HeteroLogisticRegression(
            key_bits=512, seed=SEED, epochs=EPOCHS, class_weight=weighting, **SETTINGS
        )
        model.fit({n: d.table for n, d in data.items()}, LABEL_PARTY, data[LABEL_PARTY].labels)
        return model

    model = trained(class_weight)
    for name, weights in model.coefficients().items():
        saved = json.loads((tmp_path / f"{name}.json").read_text())
        np.testing.assert_array_equal(np.array(saved["weights"]), weights)
    if class_weight != "none":  # the weighting changes the model: the check above can tell
        unweighted = trained("none").coefficients()
        assert not np.allclose(unweighted["bank"], model.coefficients()["bank"])
    with RunStore(store, read_only=True) as reader:
        done = reader.get_run(run.run_id)
        assert done.status == "completed" and done.summary is not None
        assert done.summary["rejoins"] == 1
        warnings = [e.message for e in reader.events(run.run_id, level="warning")]
        assert any("bank aborted the run (restarted mid-run" in m for m in warnings), warnings


@pytest.mark.timeout(240)
def test_parties_join_their_coordinator_restarted_with_resume_by_themselves(
    tables: Any, certs: Path, cli: Processes, tmp_path: Path, data: dict[str, PartyData]
) -> None:
    """The coordinator's process is killed mid-training and started again with --resume on
    its address: the party processes, still reconnecting, were refused by it as holding the
    stopped coordinator's run state and stopped, to be started again by hand; with their
    checkpoint folders they now join the resumed run by themselves."""
    store, checkpoints = tmp_path / "runs.db", tmp_path / "coordinator-checkpoints"
    common = [
        "--certs", str(certs),
        "--store", str(store),
        "--checkpoints", str(checkpoints),
        "--join-timeout", "60",
        "--no-progress",
    ]  # fmt: skip
    first = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--parties", ",".join(NAMES),
        "--label-party", LABEL_PARTY,
        "--key-bits", "512",
        "--epochs", str(EPOCHS),
        *(f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()),
        "--seed", str(SEED),
        *common,
    )  # fmt: skip
    port, _ = wait_for_port(first)
    parties = start_parties(cli, f"127.0.0.1:{port}", tables, certs, tmp_path, rejoin_grace=60)
    run = only_run(store)
    saved = tmp_path / "bank-checkpoints" / run.run_id / "bank" / "epoch-000001.npz"
    deadline = time.monotonic() + 90
    while not saved.exists():
        assert time.monotonic() < deadline and first.poll() is None, "no epoch completed"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    again = cli.start(
        "coordinator", "--listen", f"127.0.0.1:{port}", "--resume", run.run_id, *common
    )
    for proc in parties.values():
        finish(proc)
    assert f"trained {EPOCHS} epochs" in finish(again)

    model = HeteroLogisticRegression(key_bits=512, seed=SEED, epochs=EPOCHS, **SETTINGS)
    model.fit({n: d.table for n, d in data.items()}, LABEL_PARTY, data[LABEL_PARTY].labels)
    for name, weights in model.coefficients().items():
        saved_model = json.loads((tmp_path / f"{name}.json").read_text())
        np.testing.assert_array_equal(np.array(saved_model["weights"]), weights)
    with RunStore(store, read_only=True) as reader:
        assert reader.get_run(run.run_id).status == "completed"
