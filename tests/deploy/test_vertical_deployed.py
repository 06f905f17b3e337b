"""Vertical FL deployed: the same PSI and hetero LR role functions as the simulator, between
OS processes over gRPC with mTLS, reproduce :class:`HeteroLogisticRegression` exactly."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_processes import Processes
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner
from vertical_cli import finish, run_processes, wait_for_port

from rengo.cli.main import app
from rengo.core.errors import AuthenticationError, ConfigError, DataError, ProtocolError
from rengo.data import file_sha256
from rengo.deploy.vertical import (
    VerticalPlan,
    run_vertical_party,
    serve_vertical_coordinator,
)
from rengo.deploy.vertical_data import PartyData, load_party_data
from rengo.jobs import build_vertical_job, load_job, run_vertical_job
from rengo.tracking import RunStore
from rengo.tracking.reliability import SHARED_BIN_MIN_ROWS
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import HeldOutRule, HeteroLogisticRegression, HeteroLRConfig
from rengo.vfl.hetero_lr.math import roc_auc

HERE = Path(__file__).parent
LABEL_PARTY = "card"
HOSTS = ["bank", "telecom"]
COLUMNS = {"card": range(0, 10), "bank": range(10, 20), "telecom": range(20, 30)}
SEED = 7
SETTINGS: dict[str, Any] = {"epochs": 2, "batch_size": 96, "learning_rate": 0.15, "l2": 0.01}
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=1.0)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("vfl-certs")
    init_certificates(directory, [LABEL_PARTY, *HOSTS, "intruder"])
    return directory


def write_csv(path: Path, ids: list[str], x: np.ndarray, y: np.ndarray | None) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", *(f"f{j}" for j in range(x.shape[1])), *(["y"] if y is not None else [])]
        )
        for k, row in enumerate(x):
            tail = [str(int(y[k]))] if y is not None else []
            writer.writerow([ids[k], *(repr(float(v)) for v in row), *tail])


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """breast_cancer split by columns into three parties' CSVs (training and scoring), each
    party missing different rows; IDs are strings in a different row order per party."""
    folder = tmp_path_factory.mktemp("vfl-data")
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    ids = np.array([f"cust-{i:04d}" for i in range(len(x))])
    held_out = rng.random(len(x)) < 0.2
    paths: dict[str, dict[str, Path]] = {}
    for name, cols in COLUMNS.items():
        keep = rng.random(len(x)) > 0.06  # each party lacks ~6% of the customers
        paths[name] = {}
        for part, rows in (("train", keep & ~held_out), ("score", keep & held_out)):
            order = rng.permutation(np.flatnonzero(rows))
            labels = y[order] if name == LABEL_PARTY else None
            path = folder / f"{name}-{part}.csv"
            write_csv(path, list(ids[order]), x[order][:, list(cols)], labels)
            paths[name][part] = path
    return paths


def party_data(tables: dict[str, dict[str, Path]], name: str) -> PartyData:
    return load_party_data(
        tables[name]["train"],
        "id",
        label="y" if name == LABEL_PARTY else None,
        score_csv=tables[name]["score"],
    )


@pytest.fixture(scope="module")
def simulated(tables: dict[str, dict[str, Path]]) -> dict[str, Any]:
    """The in-process simulator on the same files, seed and settings."""
    data = {name: party_data(tables, name) for name in [LABEL_PARTY, *HOSTS]}
    model = HeteroLogisticRegression(key_bits=512, seed=SEED, **SETTINGS)
    model.fit({n: d.table for n, d in data.items()}, LABEL_PARTY, data[LABEL_PARTY].labels)
    ids, scores = model.predict_scores({n: d.score_table for n, d in data.items()})  # type: ignore[misc]
    label_data = data[LABEL_PARTY]
    assert label_data.score_table is not None and label_data.score_labels is not None
    truth = dict(zip(label_data.score_table.ids, label_data.score_labels, strict=True))
    auc = roc_auc(np.array([truth[i] for i in ids]), scores)
    return {"model": model, "ids": ids, "scores": scores, "auc": auc}


@pytest.fixture
def cli() -> Iterator[Processes]:
    """``rengo vfl coordinator|party`` processes; kills what is left at the end."""
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


@pytest.mark.timeout(180)
def test_deployed_processes_reproduce_the_simulator_exactly(
    tables: dict[str, dict[str, Path]],
    certs: Path,
    simulated: dict[str, Any],
    cli: Processes,
    tmp_path: Path,
) -> None:
    store = tmp_path / "runs.db"
    coordinator = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--parties", ",".join([*HOSTS, LABEL_PARTY]),
        "--label-party", LABEL_PARTY,
        "--key-bits", "512",
        "--epochs", str(SETTINGS["epochs"]),
        "--batch-size", str(SETTINGS["batch_size"]),
        "--learning-rate", str(SETTINGS["learning_rate"]),
        "--l2", str(SETTINGS["l2"]),
        "--seed", str(SEED),
        "--join-timeout", "60",
        "--store", str(store),
    )  # fmt: skip
    port, early = wait_for_port(coordinator)
    address = f"127.0.0.1:{port}"

    # Refused while the real parties have not joined yet, without disturbing the run.
    empty = party_data(tables, "bank").table
    outsider = PartyCredentials.from_directory(certs, "intruder")
    with pytest.raises(AuthenticationError, match="unknown party 'intruder'"):
        run_vertical_party(address, "intruder", empty, outsider, backoff=FAST)
    borrowed = PartyCredentials.from_directory(certs, "telecom")
    with pytest.raises(AuthenticationError, match="certificate is for 'telecom'"):
        run_vertical_party(address, "bank", empty, borrowed, backoff=FAST)
    init_certificates(tmp_path / "rogue-ca", ["bank"])
    rogue = PartyCredentials.from_directory(tmp_path / "rogue-ca", "bank")
    forged = PartyCredentials(ca_cert=outsider.ca_cert, cert=rogue.cert, key=rogue.key)
    with pytest.raises(ConnectionError):  # the TLS handshake fails: no session, ever
        run_vertical_party(address, "bank", empty, forged, backoff=FAST)

    parties = {}
    for name in [LABEL_PARTY, *HOSTS]:
        label = ["--label", "y"] if name == LABEL_PARTY else []
        parties[name] = cli.start(
            "party",
            "--coordinator", address,
            "--name", name,
            "--csv", str(tables[name]["train"]),
            "--id-column", "id",
            *label,
            "--score-csv", str(tables[name]["score"]),
            "--predictions", str(tmp_path / "scores.csv"),
            "--model", str(tmp_path / f"{name}.json"),
            "--certs", str(certs),
        )  # fmt: skip
    outputs = {name: finish(proc) for name, proc in parties.items()}
    summary = finish(coordinator, early)

    model: HeteroLogisticRegression = simulated["model"]
    for name, weights in model.coefficients().items():
        saved = json.loads((tmp_path / f"{name}.json").read_text())
        np.testing.assert_array_equal(np.array(saved["weights"]), weights)
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["intercept"] == model.guest_model_.intercept
    assert card["losses"] == model.losses_

    with (tmp_path / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in rows], simulated["ids"])
    np.testing.assert_array_equal([float(r["score"]) for r in rows], simulated["scores"])
    assert f"AUC {simulated['auc']:.4f}" in outputs[LABEL_PARTY]
    assert simulated["auc"] > 0.9

    assert f"{SETTINGS['epochs']} epochs on {len(model.train_ids_)} common rows" in summary
    with RunStore(store) as runs:
        (run,) = runs.list_runs()
        assert (run.kind, run.status) == ("vfl-deployed", "completed")
        assert run.summary is not None and run.summary["common_rows"] == len(model.train_ids_)
        assert run.summary["scored_values"] == len(simulated["ids"])
        warnings = [e.message for e in runs.events(run.run_id, level="warning")]
        assert any("refused" in m and "intruder" in m for m in warnings)
        # each party's build, as its hello named it
        assert set(run.config["party_releases"]) == {LABEL_PARTY, *HOSTS}
        # each party's word on the table it trained on, kept with a run without checkpoints
        assert run.config["party_data_files"] == {
            name: {str(tables[name]["train"].resolve()): file_sha256(tables[name]["train"])}
            for name in [LABEL_PARTY, *HOSTS]
        }


class CoordinatorThread:
    """``serve_vertical_coordinator`` in a thread of the test process."""

    def __init__(self, certs: Path, **options: Any) -> None:
        self.ready = threading.Event()
        self.address = ""
        self.result: Any = None

        def listening(hub: Any) -> None:
            self.address = hub.address
            self.ready.set()

        def target() -> None:
            try:
                self.result = serve_vertical_coordinator(
                    "127.0.0.1:0",
                    HubSecurity.from_directory(certs),
                    [LABEL_PARTY, *HOSTS],
                    LABEL_PARTY,
                    config=HeteroLRConfig(epochs=1, batch_size=128, key_bits=512),
                    seed=SEED,
                    join_timeout=20.0,
                    heartbeat_interval=0.5,
                    on_listening=listening,
                    **options,
                )
            except BaseException as exc:
                self.result = exc
            self.ready.set()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        assert self.ready.wait(20)

    def outcome(self) -> Any:
        self.thread.join(30)
        assert not self.thread.is_alive(), "coordinator did not finish"
        return self.result


def run_party_thread(
    address: str, certs: Path, name: str, data: PartyData, results: dict[str, Any], **extra: Any
) -> threading.Thread:
    def target() -> None:
        try:
            results[name] = run_vertical_party(
                address,
                name,
                data.table,
                PartyCredentials.from_directory(certs, name),
                labels=extra.pop("labels", data.labels),
                score_table=data.score_table,
                heartbeat_interval=0.5,
                backoff=FAST,
                linger=5.0,
            )
        except BaseException as exc:
            results[name] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
def test_a_party_failing_aborts_every_role_instead_of_hanging(
    tables: dict[str, dict[str, Path]], certs: Path
) -> None:
    coordinator = CoordinatorThread(certs)
    results: dict[str, Any] = {}
    data = {name: party_data(tables, name) for name in [LABEL_PARTY, *HOSTS]}
    card_labels = data[LABEL_PARTY].labels
    assert card_labels is not None
    # telecom wrongly believes it holds labels: it refuses to run, and says so to the others.
    threads = [
        run_party_thread(coordinator.address, certs, LABEL_PARTY, data[LABEL_PARTY], results),
        run_party_thread(coordinator.address, certs, "bank", data["bank"], results),
        run_party_thread(
            coordinator.address,
            certs,
            "telecom",
            data["telecom"],
            results,
            labels=np.zeros(len(data["telecom"].table.ids)),
        ),
    ]
    for thread in threads:
        thread.join(30)
    assert isinstance(results["telecom"], ConfigError)
    failed = coordinator.outcome()
    assert isinstance(failed, ProtocolError) and "aborted the run" in str(failed)
    for name in [LABEL_PARTY, "bank"]:
        assert isinstance(results[name], ProtocolError), results[name]


@pytest.mark.timeout(90)
def test_a_party_that_comes_after_another_failed_the_run_is_told_why_not_left_retrying(
    tables: dict[str, dict[str, Path]], certs: Path
) -> None:
    """A telecom whose table could not be read ended the run at once, before the bank
    connected; the coordinator stopped serving, and the bank retried against no coordinator
    for 600 s ("cannot reach ... retrying"), never told the run had ended. The coordinator
    now keeps answering the parties that never joined for a while, telling each why."""
    from rengo.deploy.roles import run_role

    def unreadable(_: Any) -> None:
        raise ConfigError("telecom.csv cannot be read")

    coordinator = CoordinatorThread(certs)
    with pytest.raises(ConfigError):  # as `rengo vfl party` aborts a run it cannot join
        run_role(
            coordinator.address,
            "telecom",
            unreadable,
            PartyCredentials.from_directory(certs, "telecom"),
            linger=0.0,
            backoff=FAST,
        )
    for late in ("bank", LABEL_PARTY):
        with pytest.raises(ProtocolError) as told:
            run_vertical_party(
                coordinator.address,
                late,
                party_data(tables, late),
                PartyCredentials.from_directory(certs, late),
                heartbeat_interval=0.5,
                backoff=FAST,  # gives up after 1 s without a coordinator
            )
        assert "the coordinator ended the run" in str(told.value)
        assert "ended: telecom aborted the run (ConfigError)" in str(told.value)
    failed = coordinator.outcome()  # every party told: it stops at once
    assert isinstance(failed, ProtocolError) and "telecom aborted the run" in str(failed)


def test_plan_survives_the_wire_and_rejects_bad_ones() -> None:
    config = HeteroLRConfig(epochs=3, predict_mode="plain")
    plan = VerticalPlan("card", ("bank", "telecom"), config, 5, score=False)
    assert VerticalPlan.from_wire(plan.to_wire()) == plan
    assert plan.parties == ["card", "bank", "telecom"]
    with pytest.raises(ConfigError, match="distinct"):
        VerticalPlan("card", ("bank", "card"))
    with pytest.raises(ConfigError, match="reserved"):
        VerticalPlan("card", ("coordinator",))
    with pytest.raises(ProtocolError, match="malformed"):
        VerticalPlan.from_wire({**plan.to_wire(), "extra": 1})
    with pytest.raises(ConfigError, match="score and train must be True or False"):
        VerticalPlan("card", ("bank",), config, 5, "plain")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown vertical algorithm 'hetero_l'"):
        VerticalPlan.from_wire({**plan.to_wire(), "algorithm": "hetero_l"})


def test_a_plans_training_run_token_survives_the_wire_and_a_malformed_one_is_refused() -> None:
    """The token every party writes into its kept model file reaches each party as the
    coordinator drew it; a plan without one (a simulation) puts none on the wire."""
    plan = VerticalPlan("card", ("bank",), training_run="9" * 32)
    assert VerticalPlan.from_wire(plan.to_wire()).training_run == "9" * 32
    assert "training_run" not in VerticalPlan("card", ("bank",)).to_wire()
    with pytest.raises(ProtocolError, match="names a training run that is not a token"):
        VerticalPlan.from_wire({**plan.to_wire(), "training_run": 7})


def test_a_plans_held_out_rule_survives_the_wire_and_a_malformed_one_is_refused() -> None:
    """The coordinator's job's rule for the customers held out to score reaches each party
    as sent; a plan without one (no job) puts none on the wire."""
    plan = VerticalPlan("card", ("bank",), held_out=HeldOutRule(7, 0.25))
    assert VerticalPlan.from_wire(plan.to_wire()).held_out == HeldOutRule(7, 0.25)
    assert "held_out" not in VerticalPlan("card", ("bank",)).to_wire()
    for bad in ({"seed": "7", "test_size": 0.2}, {"seed": 7, "test_size": 1.5}, [7, 0.2]):
        with pytest.raises(ProtocolError, match="malformed held-out rule"):
            VerticalPlan.from_wire({**plan.to_wire(), "held_out": bad})


@pytest.mark.timeout(90)
def test_a_party_whose_job_holds_out_other_customers_is_refused_before_psi(
    tables: dict[str, dict[str, Path]], certs: Path
) -> None:
    """A telecom whose job file had another seed (or test_size) than the coordinator's held
    out other customers: the run trained on the rows both kept (1276 of 1580 on the FATE
    credit table) and scored 95 of 420, completed, with only a warning blaming how the IDs
    were written. It is refused now before PSI, naming both rules, and every role stops."""
    coordinator = CoordinatorThread(certs, held_out=HeldOutRule(SEED, 0.2))
    results: dict[str, Any] = {}
    rules = {LABEL_PARTY: HeldOutRule(SEED, 0.2), "bank": None, "telecom": HeldOutRule(8, 0.2)}

    def join(name: str) -> None:
        data = replace(party_data(tables, name), held_out=rules[name])
        try:
            results[name] = run_vertical_party(
                coordinator.address,
                name,
                data,
                PartyCredentials.from_directory(certs, name),
                heartbeat_interval=0.5,
                backoff=FAST,
                linger=5.0,
            )
        except BaseException as exc:
            results[name] = exc

    threads = [threading.Thread(target=join, args=(n,), daemon=True) for n in rules]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    refused = results["telecom"]
    assert isinstance(refused, ConfigError), refused
    assert "job.seed = 8, vfl.test_size = 0.2, the coordinator's by job.seed = 7" in str(refused)
    failed = coordinator.outcome()
    assert isinstance(failed, ProtocolError) and "telecom aborted the run" in str(failed)
    for name in (LABEL_PARTY, "bank"):  # a party given its rows (no job) is not checked
        assert isinstance(results[name], ProtocolError), results[name]


JOB = """
[job]
kind = "vfl"
name = "deployed-job"
seed = 7

[vfl]
label_party = "card"
label = "y"
key_bits = 512
epochs = 2
batch_size = 96
learning_rate = 0.15
l2 = 0.01

[vfl.parties]
card = "{card}"
bank = "{bank}"
telecom = "{telecom}"
"""


@pytest.fixture(scope="module")
def deployed_job(
    tables: dict[str, dict[str, Path]], certs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``rengo run`` of :data:`JOB` (recorded in its own store) and the same job file
    deployed once as ``rengo vfl coordinator --job`` and three ``rengo vfl party --job``
    processes (each writing its model, the label party its scores): both tests of the job
    read this one deployment instead of starting four processes each."""
    folder = tmp_path_factory.mktemp("deployed-job")
    job = folder / "job.toml"
    job.write_text(JOB.format(**{n: tables[n]["train"] for n in [LABEL_PARTY, *HOSTS]}))
    simulated = build_vertical_job(load_job(job))
    with RunStore(folder / "sim.db") as s:
        result = run_vertical_job(simulated, store=s, log=lambda _: None)
        simulated_run = s.list_runs(limit=1)[0]
    # the processes' own default store, as the autouse fixture gives a test's processes
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200", "RENGO_STORE": str(folder)})
    flags = ["--job", str(job), "--predictions", str(folder / "scores.csv")]
    try:
        summary, said = run_processes(
            procs,
            certs,
            ["--job", str(job), "--store", str(folder / "deployed.db")],
            {n: [*flags, "--model", str(folder / f"{n}.json")] for n in [LABEL_PARTY, *HOSTS]},
        )
    finally:
        procs.cleanup()
    yield {
        "folder": folder,
        "simulated": simulated,
        "result": result,
        "simulated_run": simulated_run,
        "summary": summary,
        "said": said,
    }


@pytest.mark.timeout(240)
def test_a_job_file_deployed_equals_rengo_run_of_the_same_file(
    deployed_job: dict[str, Any],
) -> None:
    """``rengo vfl coordinator --job`` and ``rengo vfl party --job`` processes give every
    party exactly the model and the label party exactly the scores ``rengo run`` computes."""
    folder: Path = deployed_job["folder"]
    simulated, result = deployed_job["simulated"], deployed_job["result"]
    card = simulated.model.predict_run_.parties[LABEL_PARTY]
    outputs, summary = deployed_job["said"], deployed_job["summary"]

    with (folder / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in rows], card.score_ids)
    np.testing.assert_array_equal([float(r["score"]) for r in rows], card.scores)
    for name, weights in simulated.model.coefficients().items():
        saved = json.loads((folder / f"{name}.json").read_text())
        np.testing.assert_array_equal(np.array(saved["weights"]), weights)
        assert saved["algorithm"] == "hetero_lr"
    assert f"AUC {result['auc']:.4f}" in outputs[LABEL_PARTY]
    assert f"trained 2 epochs on {result['common_customers']} common rows" in summary


@pytest.mark.timeout(120)
def test_a_party_that_stays_connected_but_never_answers_cannot_hold_the_run(
    tables: dict[str, dict[str, Path]], certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """telecom joins, keeps its heartbeats, and never sends its first encrypted ``u``: a
    party's wait ends after the message timeout, naming whom it waited for, and every role
    stops (before, a deployed party waited for ever: no timeout by default)."""
    import inspect
    import math
    import time

    import rengo.deploy.vertical as deployed
    from rengo.cli.vfl_deploy import vfl_party
    from rengo.core.errors import ChannelTimeout, PeerFailure
    from rengo.transport.channel import ScopeMixin

    default = inspect.signature(run_vertical_party).parameters["timeout"].default
    assert default == deployed.MESSAGE_TIMEOUT_S and math.isfinite(default)
    assert inspect.signature(vfl_party).parameters["message_timeout"].default == default

    release = threading.Event()

    class Silent(ScopeMixin):
        """telecom's channel: its first ``u`` is never sent."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.name = inner, inner.name

        def send(self, to: str, key: Any, value: Any) -> None:
            if str(key).endswith("/u"):
                release.wait(60)
                return
            self.inner.send(to, key, value)

        def recv(self, frm: str, key: Any, timeout: float | None = None) -> Any:
            return self.inner.recv(frm, key, timeout)

        def abort(self, exc: BaseException) -> None:
            self.inner.abort(exc)

    honest = deployed.vertical_party

    def party_role(channel: Any, *args: Any, **kwargs: Any) -> Any:
        return honest(Silent(channel) if channel.name == "telecom" else channel, *args, **kwargs)

    monkeypatch.setattr(deployed, "vertical_party", party_role)
    coordinator = CoordinatorThread(certs)
    results: dict[str, Any] = {}

    def target(name: str) -> None:
        try:
            results[name] = run_vertical_party(
                coordinator.address,
                name,
                party_data(tables, name),
                PartyCredentials.from_directory(certs, name),
                timeout=5.0,
                heartbeat_interval=0.5,
                backoff=FAST,
                linger=5.0,
            )
        except BaseException as exc:
            results[name] = exc

    started = time.monotonic()
    threads = [
        threading.Thread(target=target, args=(n,), daemon=True) for n in (LABEL_PARTY, "bank")
    ]
    threads.append(threading.Thread(target=target, args=("telecom",), daemon=True))
    for thread in threads:
        thread.start()
    try:
        for thread in threads[:2]:
            thread.join(60)
        failed = coordinator.outcome()
    finally:
        release.set()
    assert time.monotonic() - started < 60
    # the first role to give up ends the run: the label party, waiting for telecom's u, or
    # bank, waiting for the label party's reply to it (the same wait, one step removed;
    # both may give up at once)
    honest = [results[LABEL_PARTY], results["bank"]]
    waited = [e for e in honest if isinstance(e, ChannelTimeout)]
    assert waited and all(isinstance(e, (ChannelTimeout, PeerFailure)) for e in honest), results
    assert all(" waited for " in str(e) and "in vain" in str(e) for e in waited)
    assert isinstance(failed, PeerFailure) and "ChannelTimeout" in str(failed), failed


@pytest.mark.timeout(240)
def test_a_deployed_vertical_run_records_the_label_partys_evaluation_as_rengo_run_does(
    deployed_job: dict[str, Any],
) -> None:
    """The label party evaluates the held-out rows where the labels are and sends the
    coordinator aggregates only (row count, metrics, reliability bins): the coordinator's
    record then holds the Brier score, ECE and reliability table `rengo run` of the job
    records, and `rengo runs card` of the deployed run shows them. No label leaves it."""
    simulated = deployed_job["simulated_run"]
    store = deployed_job["folder"] / "deployed.db"
    with RunStore(store) as s:
        run = s.list_runs(limit=1)[0]
        rounds = s.round_metrics(run.run_id)
    assert run.kind == "vfl-deployed" and run.summary is not None
    assert simulated.summary is not None
    deployed_bins, simulated_bins = run.summary["reliability"], simulated.summary["reliability"]
    assert [b["rows"] for b in deployed_bins] == [b["rows"] for b in simulated_bins]
    shared = [b["rows"] >= SHARED_BIN_MIN_ROWS for b in simulated_bins]  # the rest: withheld
    for field in ("mean_probability", "observed_rate"):
        assert [b[field] for b, s in zip(deployed_bins, shared, strict=True) if s] == (
            pytest.approx([b[field] for b, s in zip(simulated_bins, shared, strict=True) if s])
        )
        assert all(b[field] is None for b, s in zip(deployed_bins, shared, strict=True) if not s)
    for metric in ("auc", "brier", "ece"):
        assert run.summary[metric] == pytest.approx(simulated.summary[metric])
        assert rounds[f"test_{metric}"][-1][1] == pytest.approx(simulated.summary[metric])
    assert run.summary["test_rows"] == simulated.summary["scored_customers"]
    assert run.summary["scored_rows"] == simulated.summary["scored_customers"]
    card = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["runs", "card", run.run_id, "--store", str(store)]
    )
    assert card.exit_code == 0, card.output
    assert "| test_ece |" in card.output and "| [0.90, 1.00] |" in card.output
    shared = simulated.summary["common_customers"]
    assert f"| shared rows (PSI intersection) | {shared} |" in card.output
    assert "| held-out share (test_size) | 0.2 |" in card.output  # from the plan's rule
    # what the coordinator recorded, said as such (not "a run recorded before runs kept them")
    assert "The plan's settings as the coordinator recorded them" in card.output
    assert "| key_bits | 512 |" in card.output
    # the models stay with the parties: no `rengo runs importance` to point at
    assert "runs importance" not in card.output
    assert "a deployed run's models stay with the parties" in card.output


def test_the_coordinator_records_no_malformed_or_misattributed_evaluation() -> None:
    """A report that is not aggregates of the rows it names is left out, with a warning;
    only the party that receives the predictions may send one."""
    from rengo.core.errors import ProtocolError
    from rengo.deploy.held_out_report import HeldOutReport, record_held_out
    from rengo.vfl.runner import _done_counts

    bins = [
        {"lower": 0.0, "upper": 0.5, "rows": 2, "mean_probability": 0.2, "observed_rate": 0.5},
        {"lower": 0.5, "upper": 1.0, "rows": 1, "mean_probability": 0.9, "observed_rate": 1.0},
    ]
    good = {"rows": 3, "metrics": {"auc": 0.9}, "reliability": bins}
    plan = VerticalPlan(LABEL_PARTY, tuple(HOSTS), HeteroLRConfig(**SETTINGS), SEED)
    assert HeldOutReport.from_wire(good, "card").reliability == bins
    warned: list[str] = []
    for bad in (
        {**good, "rows": 4},  # the bins hold 3 rows
        {**good, "metrics": {"auc": float("nan")}},
        {**good, "labels": [0, 1, 1]},  # anything beyond the aggregates
        {**good, "reliability": [{"rows": 3}]},
    ):
        summary: dict[str, Any] = {}
        assert record_held_out(None, None, plan, summary, bad, "card", warned.append) is None
        assert summary == {}
    assert len(warned) == 4 and all("card's held-out evaluation" in w for w in warned)
    # a report that is not a mapping is left out as well: the run it ends stands
    summary = {"auc": 0.5}
    assert record_held_out(None, None, plan, summary, [1, 2, 3], "card", warned.append) is None
    assert summary == {"auc": 0.5} and "is not rows, metrics and reliability" in warned[-1]
    counts = {"train_rows": 5, "scored_rows": 3}
    assert _done_counts({**counts, "held_out": good}, "card") == (counts, good)
    assert _done_counts({**counts, "held_out": [1, 2]}, "card") == (counts, [1, 2])
    with pytest.raises(ProtocolError, match="malformed 'done'"):
        _done_counts({**counts, "extra": 1}, "card")


class _DoneWith:
    """A party's channel whose ``done`` carries ``held_out`` (what a dishonest or broken
    party could send)."""

    def __init__(self, inner: Any, held_out: Any) -> None:
        self.inner, self.held_out = inner, held_out

    def scope(self, name: str) -> Any:
        scope = self.inner.scope(name)
        return _DoneWith(scope, self.held_out) if name == "run" else scope

    def send(self, to: str, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key == "done":
            value = {**value, "held_out": self.held_out}
        return self.inner.send(to, key, value, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.timeout(120)
def test_a_malformed_or_misattributed_evaluation_leaves_the_completed_run_completed(
    tables: dict[str, dict[str, Path]],
    certs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The label party sends a held-out evaluation that is not a mapping, a feature party
    one it cannot have made: both are left out, with a warning each, and the run every role
    completed is recorded completed, with its summary."""
    import rengo.deploy.vertical as deployed

    sent = {LABEL_PARTY: [1, 2, 3], "bank": {"rows": 0, "metrics": {}, "reliability": None}}
    honest = deployed.vertical_party

    def dishonest(channel: Any, *args: Any, **kwargs: Any) -> Any:
        if channel.name in sent:
            channel = _DoneWith(channel, sent[channel.name])
        return honest(channel, *args, **kwargs)

    monkeypatch.setattr(deployed, "vertical_party", dishonest)
    store = RunStore(tmp_path / "runs.db")
    coordinator = CoordinatorThread(certs, store=store)
    results: dict[str, Any] = {}
    threads = [
        run_party_thread(coordinator.address, certs, n, party_data(tables, n), results)
        for n in [LABEL_PARTY, *HOSTS]
    ]
    for thread in threads:
        thread.join(60)
    outcome = coordinator.outcome()
    assert not isinstance(outcome, BaseException), outcome
    assert not any(isinstance(r, BaseException) for r in results.values()), results
    run = store.list_runs(limit=1)[0]
    assert run.status == "completed" and run.summary is not None
    assert run.summary["scored_rows"] > 0 and "test_rows" not in run.summary
    warnings = [e.message for e in store.events(run.run_id) if e.level == "warning"]
    assert any("is not rows, metrics and reliability" in w for w in warnings), warnings
    assert any(w.startswith("bank sent a held-out evaluation") for w in warnings), warnings
    store.close()


@pytest.mark.parametrize(
    ("bins", "fault"),
    [
        (  # a negative bin and a huge one sum to the report's rows
            [
                {"lower": 0.0, "upper": 0.5, "rows": -5, "mean_probability": 0.2,
                 "observed_rate": 0.5},
                {"lower": 0.5, "upper": 1.0, "rows": 8, "mean_probability": 0.9,
                 "observed_rate": 1.0},
            ],
            "bin 0 has rows = -5",
        ),
        (
            [{"lower": 0.9, "upper": 0.1, "rows": 3, "mean_probability": 0.5,
              "observed_rate": 0.5}],
            "bin 0 has the range [0.9, 0.1]",
        ),
        (
            [{"lower": 0.0, "upper": 1.0, "rows": 3, "mean_probability": 7.0,
              "observed_rate": 0.5}],
            "bin 0 has mean_probability = 7.0, not a probability",
        ),
        (
            [{"lower": 0.0, "upper": 1.0, "rows": 3, "mean_probability": 0.5,
              "observed_rate": -3.0}],
            "bin 0 has observed_rate = -3.0",
        ),
        (
            [{"lower": 0.0, "upper": 1.0, "rows": 3.0, "mean_probability": 0.5,
              "observed_rate": 0.5}],
            "bin 0 has rows = 3.0, not a row count",
        ),
    ],
)  # fmt: skip
def test_bins_that_are_not_a_reliability_table_are_left_out(
    bins: list[dict[str, Any]], fault: str
) -> None:
    from rengo.deploy.held_out_report import HeldOutReport, record_held_out

    plan = VerticalPlan(LABEL_PARTY, tuple(HOSTS), HeteroLRConfig(**SETTINGS), SEED)
    sent = {"rows": 3, "metrics": {"auc": 0.5}, "reliability": bins}
    warned: list[str] = []
    summary: dict[str, Any] = {}
    assert record_held_out(None, None, plan, summary, sent, "card", warned.append) is None
    assert summary == {} and len(warned) == 1 and fault in warned[0], warned
    huge = {"rows": 2**70, "metrics": {}, "reliability": None}
    with pytest.raises(DataError, match="is not a row count"):
        HeldOutReport.from_wire(huge, "card")


@pytest.mark.timeout(120)
def test_the_label_party_evaluates_its_scored_rows_once_and_keeps_what_it_sent(
    tables: dict[str, dict[str, Path]],
    certs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The evaluation it sends the coordinator is the one its result carries (what
    `rengo vfl party` prints): made once, not again after the run."""
    import rengo.deploy.held_out_report as reports

    made: list[Any] = []
    honest = reports.evaluate_scored_rows

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(honest(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(reports, "evaluate_scored_rows", counted)
    store = RunStore(tmp_path / "runs.db")
    coordinator = CoordinatorThread(certs, store=store)
    results: dict[str, Any] = {}

    def party(name: str) -> None:  # its whole PartyData: the scored rows' labels included
        try:
            results[name] = run_vertical_party(
                coordinator.address,
                name,
                party_data(tables, name),
                PartyCredentials.from_directory(certs, name),
                heartbeat_interval=0.5,
                backoff=FAST,
                linger=5.0,
            )
        except BaseException as exc:
            results[name] = exc

    threads = [threading.Thread(target=party, args=(n,)) for n in [LABEL_PARTY, *HOSTS]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not isinstance(coordinator.outcome(), BaseException)
    label = results[LABEL_PARTY]
    assert not isinstance(label, BaseException), label
    assert len(made) == 1 and label.held_out is made[0]
    run = store.list_runs(limit=1)[0]
    assert run.summary is not None and run.summary["auc"] == label.held_out.metrics["auc"]
    assert all(results[h].held_out is None for h in HOSTS)
    store.close()


def test_a_label_party_cannot_overwrite_or_add_to_the_coordinators_own_figures() -> None:
    """Only the metrics the run's algorithm reports are recorded, never over a figure the
    coordinator recorded itself: a label party that names others has them left out, with a
    warning, and its genuine metrics still recorded."""
    from rengo.deploy.held_out_report import record_held_out
    from rengo.vfl import HeteroPoissonConfig

    plan = VerticalPlan(LABEL_PARTY, tuple(HOSTS), HeteroLRConfig(**SETTINGS), SEED)
    own = {"decrypted_values": 1234, "epochs_run": 10, "bytes_sent": 999}
    lies = {"decrypted_values": 0.0, "epochs_run": 99.0, "bytes_sent": 0.0, "reliability": 0.5}
    sent = {"rows": 3, "metrics": {"auc": 0.75, **lies, "rmse": 0.1}, "reliability": None}
    summary: dict[str, Any] = dict(own)
    warned: list[str] = []
    report = record_held_out(None, None, plan, summary, sent, "card", warned.append)
    assert report is not None and report.metrics == {"auc": 0.75}
    assert summary == {**own, "auc": 0.75, "test_rows": 3}
    assert len(warned) == 1
    assert "bytes_sent, decrypted_values, epochs_run, reliability, rmse" in warned[0]
    # a metric the coordinator's summary already holds is kept as the coordinator wrote it
    summary = {"auc": 0.5}
    record_held_out(None, None, plan, summary, sent, "card", warned.append)
    assert summary["auc"] == 0.5
    # an algorithm with its own metrics: only those
    poisson = VerticalPlan(
        LABEL_PARTY, tuple(HOSTS), HeteroPoissonConfig(epochs=1), SEED, algorithm="hetero_poisson"
    )
    values = {"poisson_deviance": 1.5, "rmse": 0.2, "mae": 0.1, "auc": 0.9}
    summary = {}
    sent = {"rows": 3, "metrics": values, "reliability": None}
    record_held_out(None, None, poisson, summary, sent, "card", warned.append)
    assert summary == {"poisson_deviance": 1.5, "rmse": 0.2, "mae": 0.1, "test_rows": 3}


def test_every_metric_an_honest_label_party_reports_is_one_the_coordinator_accepts() -> None:
    """The names the coordinator accepts are those :func:`evaluate` returns, each kind."""
    from rengo.jobs.vertical import OperatingTargets, evaluate, held_out_metric_names
    from rengo.vfl import get_algorithm

    truth = np.array([0, 1, 0, 1, 1, 0])
    probability = np.array([0.1, 0.8, 0.3, 0.7, 0.6, 0.4])
    targets = OperatingTargets(recall=0.5, precision=0.5)
    spec, config = get_algorithm("hetero_lr"), HeteroLRConfig()
    got = evaluate("probability", truth, probability, targets)
    assert "at_precision_recall" in got and set(got) <= held_out_metric_names(spec, config)
    proba = np.column_stack([1 - probability, probability])
    assert set(evaluate("probability", truth, proba)) <= held_out_metric_names(spec, config)


def test_what_the_label_party_sends_of_its_evaluation_holds_no_rows_label_or_score(
    tables: dict[str, dict[str, Path]], simulated: dict[str, Any]
) -> None:
    """The evaluation it sends with its `done` is aggregates: a row count, named metrics and
    ten bins of five numbers; no list as long as the scored rows, no ID; a bin of one row (or
    fewer than SHARED_BIN_MIN_ROWS) is sent with its row count alone, not that row's score
    and label as its mean prediction and observed rate."""
    from rengo.deploy.vertical import _held_out_evaluation

    data = party_data(tables, LABEL_PARTY)
    evaluation = _held_out_evaluation(data)
    assert evaluation is not None
    evaluate = evaluation.to_send
    plan = VerticalPlan(LABEL_PARTY, tuple(HOSTS), HeteroLRConfig(**SETTINGS), SEED)
    scores = np.array(simulated["scores"], dtype=np.float64)
    in_bin = np.flatnonzero((scores >= 0.3) & (scores < 0.4))
    alone = int(in_bin[0]) if len(in_bin) else 0
    scores[in_bin] = 0.05  # every row of [0.3, 0.4) elsewhere, but one:
    scores[alone] = 0.3456789
    sent = evaluate(plan, simulated["model"].guest_model_, simulated["ids"], scores)
    assert sent is not None and set(sent) == {"rows", "metrics", "reliability"}
    rows = len(simulated["ids"])
    assert sent["rows"] == rows
    assert len(sent["reliability"]) == 10 and all(len(b) == 5 for b in sent["reliability"])
    lonely = sent["reliability"][3]
    assert lonely["rows"] == 1 and lonely["mean_probability"] is None
    assert lonely["observed_rate"] is None
    for b in sent["reliability"]:
        assert b["rows"] >= SHARED_BIN_MIN_ROWS or b["mean_probability"] is None
    numbers = [v for b in sent["reliability"] for v in b.values() if v is not None]
    numbers += [*sent["metrics"].values(), sent["rows"]]
    assert 0.3456789 not in numbers
    assert len(numbers) < rows  # far fewer numbers than rows: no per-row values
    honest = evaluate(plan, simulated["model"].guest_model_, simulated["ids"], simulated["scores"])
    assert honest is not None and honest["metrics"]["auc"] == pytest.approx(simulated["auc"])
    assert _held_out_evaluation(party_data(tables, "bank")) is None  # no labels, nothing


@pytest.mark.timeout(180)
def test_a_label_party_that_keeps_its_evaluation_sends_the_coordinator_none(
    tables: dict[str, dict[str, Path]], certs: Path, cli: Processes, tmp_path: Path
) -> None:
    """`rengo vfl party --no-share-evaluation`: the label party still prints its metrics;
    the coordinator's record holds no held-out metric, row count or reliability table."""
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(**{n: tables[n]["train"] for n in [LABEL_PARTY, *HOSTS]}))
    store = tmp_path / "deployed.db"
    flags = ["--job", str(job), "--predictions", str(tmp_path / "scores.csv")]
    keeps = {LABEL_PARTY: ["--no-share-evaluation"]}
    _, said = run_processes(
        cli,
        certs,
        ["--job", str(job), "--store", str(store)],
        {name: [*flags, *keeps.get(name, [])] for name in [LABEL_PARTY, *HOSTS]},
    )
    assert "BRIER" in said[LABEL_PARTY] and "ECE" in said[LABEL_PARTY]
    with RunStore(store) as s:
        run = s.list_runs(limit=1)[0]
        rounds = s.round_metrics(run.run_id)
    assert run.status == "completed" and run.summary is not None
    assert not {"reliability", "test_rows", "auc", "brier", "ece"} & set(run.summary)
    assert not any(name.startswith("test_") for name in rounds)
