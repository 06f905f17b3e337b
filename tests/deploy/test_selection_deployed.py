"""Selection by IV in a deployed vertical run: the ``rengo vfl coordinator`` / ``rengo vfl
party`` processes run the IV protocol over their gRPC links after PSI, each party drops its
own unselected columns, the coordinator's run store records every column's IV and whether
it was kept exactly as the simulated run of the same job and seed does (``rengo runs
show``), a party whose link drops during the selection step is taken back as during
training, and over the deployed links no label reaches a feature party and no feature-party
value reaches the label party or the coordinator."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib
from child_processes import Processes
from iv_job_tables import job_text, tables
from link_proxy import Proxy
from rich.console import Console
from test_vertical_deployed import HOSTS, LABEL_PARTY, SEED, certs, party_data
from test_vertical_deployed import tables as cancer_tables
from test_vertical_rejoin_deployed import EPOCHS, NAMES, SETTINGS, Deployed
from vertical_cli import finish, run_processes, wait_for_port

from rengo.jobs import build_vertical_job, parse_job, run_vertical_job
from rengo.tracking import RunStore
from rengo.tracking.tables import run_detail
from rengo.transport.certs import init_certificates
from rengo.transport.channel import Channel, Key, ScopeMixin
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.hetero_binning import selection_step
from rengo.vfl.selection_settings import SelectionSettings

__all__ = ["cancer_tables", "certs"]  # fixtures shared with the deployed vertical tests

IV_PARTIES = ["bank", "telco"]


@pytest.fixture(scope="module")
def iv_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("iv-certs")
    init_certificates(directory, IV_PARTIES)
    return directory


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


def _columns(record: dict[str, Any]) -> list[tuple[str, str, float, bool]]:
    return [(c["party"], c["name"], c["iv"], c["kept"]) for c in record["columns"]]


@pytest.mark.timeout(240)
def test_a_deployed_job_with_selection_keeps_and_records_what_the_simulation_does(
    tmp_path: Path, iv_certs: Path, cli: Processes
) -> None:
    """Before, both commands refused a job with [vfl.selection]. Two columns are named with
    brackets: before, the coordinator's line raised MarkupError for ``bank_noise[/]`` once the
    run was recorded, and ``late[usd]`` printed as ``late`` at the party."""
    tables(tmp_path)
    for name, old, new in (
        ("bank", "bank_noise", "bank_noise[/]"),
        ("telco", "late_payments", "late[usd]"),
    ):
        table = tmp_path / f"{name}.csv"
        table.write_text(table.read_text().replace(old, new, 1))
    job = tmp_path / "job.toml"
    job.write_text(job_text(tmp_path, "min_iv = 0.3"))
    simulated_store = tmp_path / "simulated.db"
    built = build_vertical_job(parse_job(tomllib.loads(job.read_text())))
    with RunStore(simulated_store) as store:
        simulated = run_vertical_job(built, store, log=lambda _m: None)
        expected = store.get_run(simulated["run_id"]).summary["iv_selection"]

    deployed_store = tmp_path / "deployed.db"
    said, parties = run_processes(
        cli,
        iv_certs,
        ["--job", str(job), "--store", str(deployed_store)],
        {
            name: ["--job", str(job), "--model", str(tmp_path / f"{name}.json"),
                   "--predictions", str(tmp_path / "scores.csv")]
            for name in IV_PARTIES
        },
    )  # fmt: skip
    assert "common rows" in said and "selection by IV kept 2 of 5 columns" in said, said
    # each party says which of its columns it kept; the run's events say what was dropped
    assert "telco: selection by IV kept 1 of its 3 columns: late[usd]" in parties["telco"]
    with RunStore(deployed_store, read_only=True) as store:
        (run,) = store.list_runs()
        record = run.summary["iv_selection"]
        shown = Console(width=200, record=True)
        shown.print(run_detail(store, run.run_id))
    assert _columns(record) == _columns(expected)
    assert {(p, n) for p, n, _, kept in _columns(record) if kept} == {
        ("bank", "income"),
        ("telco", "late[usd]"),
    }
    assert record["min_bin_rows"] == expected["min_bin_rows"] == 5
    text = shown.export_text()
    assert "selection by IV kept 2 of 5 columns; dropped bank:bank_noise[/]," in said
    assert "selection by IV kept 2 of 5 columns; dropped bank:bank_noise[/]," in text
    assert "late[usd]" in text and "bank_noise[/]" in text  # rengo runs show's table
    assert "selection by IV (min_iv = 0.3" in text and "min_bin_rows = 5 (default)" in text
    assert "telco_noise" in text and "dropped" in text
    # each party trained on its kept column only, and its kept model names that column (a
    # later scoring-only run reads it alone from the new rows), with the simulation's weights
    weights = built.model.coefficients()
    for name, column in (("bank", "income"), ("telco", "late[usd]")):
        saved = json.loads((tmp_path / f"{name}.json").read_text())
        assert saved["features"] == [column] and len(saved["mean"]) == 1
        np.testing.assert_allclose(saved["weights"], weights[name], rtol=1e-9)


@pytest.mark.timeout(300)
def test_a_party_process_killed_in_the_selection_step_and_started_again_completes_the_run(
    tmp_path: Path, iv_certs: Path, cli: Processes
) -> None:
    """As a party killed during training: ``rengo vfl party`` killed (SIGKILL) while it is in
    the selection step, started again with its checkpoint folder, rejoins; the run runs the
    step again and completes, recording what the simulation of the job records."""
    tables(tmp_path)
    job = tmp_path / "job.toml"
    job.write_text(job_text(tmp_path, "min_iv = 0.3"))
    built = build_vertical_job(parse_job(tomllib.loads(job.read_text())))
    with RunStore(tmp_path / "simulated.db") as store:
        simulated = run_vertical_job(built, store, log=lambda _m: None)
        expected = store.get_run(simulated["run_id"]).summary["iv_selection"]
    store_path = tmp_path / "deployed.db"
    passphrase = {"RENGO_CHECKPOINT_PASSPHRASE": "a passphrase kept apart"}
    coordinator = cli.start(
        "coordinator", "--listen", "127.0.0.1:0", "--certs", str(iv_certs),
        "--job", str(job), "--store", str(store_path), "--join-timeout", "60",
        "--rejoin-wait", "60", "--rejoin-grace", "60", "--no-progress",
        "--checkpoints", str(tmp_path / "coordinator"), env=passphrase,
    )  # fmt: skip
    port, early = wait_for_port(coordinator)

    def party(name: str, **env: str) -> Any:
        return cli.start(
            "party", "--coordinator", f"127.0.0.1:{port}", "--name", name,
            "--certs", str(iv_certs), "--job", str(job), "--no-progress",
            "--checkpoints", str(tmp_path / name), "--rejoin-grace", "60",
            "--give-up-after", "20", "--model", str(tmp_path / f"{name}.json"),
            "--predictions", str(tmp_path / "scores.csv"), env=env,
        )  # fmt: skip

    marker = tmp_path / "telco-in-selection"
    bank, telco = party("bank"), party("telco", PAUSE_IN_SELECTION=str(marker))
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline and telco.poll() is None, "never in the step"
        time.sleep(0.05)
    telco.send_signal(signal.SIGKILL)
    telco.wait(30)
    telco = party("telco")
    for proc in (bank, telco):
        finish(proc)
    finish(coordinator, early)
    with RunStore(store_path, read_only=True) as store:
        (run,) = store.list_runs()
        said = [e.message for e in store.events(run.run_id)]
    assert run.status == "completed" and run.summary["rejoins"] == 1, said
    assert _columns(run.summary["iv_selection"]) == _columns(expected)
    saved = json.loads((tmp_path / "telco.json").read_text())
    assert saved["features"] == ["late_payments"]


class Recording(ScopeMixin):
    """A role's channel that keeps every value it receives (over the deployed links)."""

    def __init__(self, inner: Channel, received: list[tuple[str, str, Any]]) -> None:
        self._inner, self.received, self.name = inner, received, inner.name

    def send(self, to: str, key: Key, value: Any) -> None:
        self._inner.send(to, key, value)

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        value = self._inner.recv(frm, key, timeout)
        self.received.append((frm, str(key), value))
        return value

    def abort(self, exc: BaseException) -> None:
        self._inner.abort(exc)


def _leaves(value: Any) -> list[np.ndarray]:
    """Every numeric array and number in ``value`` (nested lists, dicts and arrays), numbers
    wider than a float holds exactly (ciphertexts) left out."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return [value.astype(float).ravel()]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 2**53:
        return [np.array([float(value)])]
    return []


def _numbers(value: Any) -> np.ndarray:
    leaves = _leaves(value)
    return np.concatenate(leaves) if leaves else np.empty(0)


@pytest.mark.timeout(240)
def test_a_link_cut_during_the_selection_step_is_taken_back_and_nothing_private_crossed(
    certs: Path, cancer_tables: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bank's link is cut while it waits in the selection step: the checkpointed run
    takes every party back as it does during training, runs the selection again, and ends
    ``completed`` with the uninterrupted simulation's kept columns and model. What each party
    received in the step over gRPC holds no label (feature parties) and no feature-party
    value (label party), and the selection record the coordinator stored holds no
    feature-party value (what the coordinator received is not recorded here)."""
    data = {name: party_data(cancer_tables, name) for name in NAMES}
    rule = SelectionSettings(min_iv=0.5)
    in_step, cut = threading.Event(), threading.Event()
    received: dict[str, list[tuple[str, str, Any]]] = {name: [] for name in NAMES}
    at_host, at_guest = selection_step.select_at_feature_party, selection_step.select_at_label_party

    def host(phase: Channel, run: Channel, *args: Any) -> Any:
        if phase.name == "bank" and not in_step.is_set():
            in_step.set()
            assert cut.wait(60), "the link was never cut"
        log = received[phase.name]
        return at_host(Recording(phase, log), Recording(run, log), *args)

    def guest(phase: Channel, run: Channel, *args: Any) -> Any:
        log = received[phase.name]
        return at_guest(Recording(phase, log), Recording(run, log), *args)

    monkeypatch.setattr(selection_step, "select_at_feature_party", host)
    monkeypatch.setattr(selection_step, "select_at_label_party", guest)
    deployed = Deployed(certs, tmp_path, rejoin_grace=20.0, selection=rule)
    try:
        proxy = Proxy(deployed.address)
        for name in NAMES:
            deployed.party(name, data[name], proxy.address if name == "bank" else None)
        assert in_step.wait(90), "the bank never reached the selection step"
        proxy.cut()
        proxy.restore()
        cut.set()
        report = deployed.finish()
        proxy.close()
        assert not isinstance(report, BaseException), report
        run = deployed.store.get_run(report.run_id)
    finally:
        deployed.store.close()
    assert run.status == "completed" and run.summary["rejoins"] == 1

    model = HeteroLogisticRegression(key_bits=512, seed=SEED, epochs=EPOCHS, **SETTINGS)
    tables_ = {n: d.table for n, d in data.items()}
    model.fit(tables_, LABEL_PARTY, data[LABEL_PARTY].labels, selection=rule)
    assert model.selection_ is not None and model.kept_columns_ is not None
    assert _columns(run.summary["iv_selection"]) == _columns(model.selection_)
    for name, weights in model.coefficients().items():
        assert deployed.results[name].kept_columns == model.kept_columns_[name]
        np.testing.assert_array_equal(deployed.results[name].model.weights, weights)
    assert 0 < sum(len(c) for c in model.kept_columns_.values()) < 30  # some dropped

    rows = run.summary["common_rows"]
    for name in HOSTS:  # the feature parties: no plain vector of a label per row
        got = received[name]
        assert got and all(frm == LABEL_PARTY for frm, _, _ in got)
        for _, _, value in got:
            for leaf in _leaves(value):
                assert not (len(leaf) == rows and np.isin(leaf, (0.0, 1.0)).all())
    host_values = np.concatenate([np.asarray(data[h].table.features).ravel() for h in HOSTS])
    host_values = host_values[host_values % 1 != 0]  # counts are whole numbers
    assert received[LABEL_PARTY] and all(frm in HOSTS for frm, _, _ in received[LABEL_PARTY])
    from_hosts = _numbers([v for _, _, v in received[LABEL_PARTY]])
    assert not np.isin(from_hosts, host_values).any()  # per-bin counts, no host value
    assert not np.isin(_numbers(run.summary["iv_selection"]), host_values).any()


@pytest.mark.timeout(120)
def test_a_scoring_only_coordinator_run_of_a_job_with_selection_does_not_select_again(
    tmp_path: Path,
) -> None:
    """Before, ``rengo vfl coordinator --job JOB --no-train`` of a job with [vfl.selection]
    stopped at once ("selection by IV drops columns before training: train too"); the kept
    models already name their kept columns, so the run starts, listens for its parties and
    its plan carries no selection."""
    from typer.testing import CliRunner

    from rengo.cli.main import app

    tables(tmp_path)
    job = tmp_path / "job.toml"
    job.write_text(job_text(tmp_path, "min_iv = 0.3"))
    args = ["vfl", "coordinator", "--job", str(job), "--no-train", "--insecure", "--listen"]
    args += ["127.0.0.1:0", "--join-timeout", "0.5", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "runs.db")])
    said = " ".join(result.output.split())
    assert "train too" not in said and "listening on" in said, said
    with RunStore(tmp_path / "runs.db", read_only=True) as store:
        (run,) = store.list_runs()
    assert run.config["train"] is False and "selection" not in run.config
