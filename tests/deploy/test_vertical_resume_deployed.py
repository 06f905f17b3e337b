"""A deployed vertical run whose party process is killed mid-training is recorded
``interrupted``; the coordinator started again with ``--resume RUN`` and the parties with
their checkpoint folders continue after the last epoch every role completed, to the very
model an uninterrupted run trains; a completed run is still refused."""

from __future__ import annotations

import csv
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_processes import Processes
from test_secureboost_deployed import comparable
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

from rengo.tracking import RunStore
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.secureboost import HeteroSecureBoost

__all__ = ["certs", "tables"]  # fixtures shared with test_vertical_deployed

EPOCHS = 4
SETTINGS: dict[str, Any] = {"batch_size": 160, "learning_rate": 0.15, "l2": 0.01, "tol": 0.0}
PASSPHRASE = {"RENGO_CHECKPOINT_PASSPHRASE": "a passphrase kept apart"}


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200", **PASSPHRASE})
    yield procs
    procs.cleanup()


def start_parties(
    cli: Processes,
    address: str,
    tables: Any,
    certs: Path,
    folder: Path,
    names: tuple[str, ...] = (LABEL_PARTY, *HOSTS),
    rejoin_grace: float = 0,
) -> dict[str, Any]:
    parties = {}
    for name in names:
        label = ["--label", "y"] if name == LABEL_PARTY else []
        parties[name] = cli.start(
            "party",
            "--coordinator", address,
            "--name", name,
            "--csv", str(tables[name]["train"]),
            "--id-column", "id",
            *label,
            "--score-csv", str(tables[name]["score"]),
            "--predictions", str(folder / "scores.csv"),
            "--model", str(folder / f"{name}.json"),
            "--certs", str(certs),
            "--checkpoints", str(folder / f"{name}-checkpoints"),
            "--give-up-after", "20",
            "--rejoin-grace", str(rejoin_grace),  # 0: the operator resumes the run
        )  # fmt: skip
    return parties


def kill_after(parties: dict[str, Any], coordinator: Any, folder: Path, epoch: int) -> None:
    """SIGKILL the bank once its checkpoint of ``epoch`` is on disk (its machine dies)."""
    saved = folder / f"epoch-{epoch:06d}.npz"
    deadline = time.monotonic() + 90
    while not saved.exists():
        if time.monotonic() > deadline or parties["bank"].poll() is not None:
            coordinator.kill()
            for proc in parties.values():
                proc.kill()
            texts = [p.communicate()[0] for p in (coordinator, *parties.values())]
            raise AssertionError(
                f"the bank never completed epoch {epoch}:\n" + "\n---\n".join(texts)
            )
        time.sleep(0.02)
    parties["bank"].send_signal(signal.SIGKILL)


def only_run(store: Path) -> Any:
    with RunStore(store, read_only=True) as reader:
        deadline = time.monotonic() + 90
        while not reader.list_runs():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (run,) = reader.list_runs()
    return run


def interrupted_run(
    cli: Processes,
    tables: Any,
    certs: Path,
    tmp_path: Path,
    flags: list[str],
    epoch: int,
    restart: bool = False,
) -> Any:
    """A checkpointed run (the algorithm's ``flags``) whose bank is killed after ``epoch``
    (and with ``restart``, started again at once, as a supervisor would): every process
    ends and the store says ``interrupted``."""
    store = tmp_path / "runs.db"
    coordinator = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--parties", ",".join([*HOSTS, LABEL_PARTY]),
        "--label-party", LABEL_PARTY,
        *flags,
        "--seed", str(SEED),
        "--join-timeout", "60",
        "--rejoin-wait", "60" if restart else "1",  # the new process comes back in time
        "--rejoin-grace", "0",  # not taken back: interrupted, for --resume
        "--store", str(store),
        "--checkpoints", str(tmp_path / "coordinator-checkpoints"),
        "--no-progress",
    )  # fmt: skip
    port, _ = wait_for_port(coordinator)
    parties = start_parties(cli, f"127.0.0.1:{port}", tables, certs, tmp_path)
    run = only_run(store)
    kill_after(parties, coordinator, tmp_path / "bank-checkpoints" / run.run_id / "bank", epoch)
    if restart:  # a new process under the old name, none of the run's state in memory
        address = f"127.0.0.1:{port}"
        parties |= start_parties(cli, address, tables, certs, tmp_path, names=("bank",))
    assert coordinator.wait(90) != 0
    for name in (LABEL_PARTY, "telecom", *(["bank"] if restart else [])):
        assert parties[name].wait(90) != 0
    with RunStore(store, read_only=True) as reader:
        assert reader.get_run(run.run_id).status == "interrupted"
        if restart:
            warnings = [e.message for e in reader.events(run.run_id, level="warning")]
            assert any("bank aborted the run (restarted mid-run" in m for m in warnings)
    return run


def resumed_run(cli: Processes, tables: Any, certs: Path, tmp_path: Path, run_id: str) -> str:
    """Start everyone again, the coordinator with ``--resume``; its output once done."""
    again = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--store", str(tmp_path / "runs.db"),
        "--checkpoints", str(tmp_path / "coordinator-checkpoints"),
        "--resume", run_id,
        "--join-timeout", "60",
        "--no-progress",
    )  # fmt: skip
    port, early = wait_for_port(again)
    parties = start_parties(cli, f"127.0.0.1:{port}", tables, certs, tmp_path)
    for proc in parties.values():
        finish(proc)
    return finish(again, early)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("restart", [False, True], ids=["killed", "killed-and-restarted"])
def test_a_killed_party_and_a_resumed_run_end_with_the_uninterrupted_model(
    tables: Any, certs: Path, cli: Processes, tmp_path: Path, restart: bool
) -> None:
    """Killed, the bank's run is interrupted once the rejoin wait ends; killed and started
    again at once (a supervisor), its new process fails the run for every role, naming it
    (it held every role forever before): either way, resuming trains the same model."""
    store, checkpoints = tmp_path / "runs.db", tmp_path / "coordinator-checkpoints"
    lr_flags = [
        "--key-bits", "512",
        "--epochs", str(EPOCHS),
        "--batch-size", str(SETTINGS["batch_size"]),
        "--learning-rate", str(SETTINGS["learning_rate"]),
        "--l2", str(SETTINGS["l2"]),
        "--tol", "0",
        "--max-message-mb", "8",  # recorded, and read back by the resume (no flag there)
    ]  # fmt: skip
    run = interrupted_run(cli, tables, certs, tmp_path, lr_flags, epoch=1, restart=restart)
    with RunStore(store, read_only=True) as reader:
        assert reader.get_run(run.run_id).config["max_message_bytes"] == 8 * 1024**2
        warnings = [e.message for e in reader.events(run.run_id, level="warning")]
        assert any(f"--resume {run.run_id}" in m for m in warnings)
    coordinator_key = checkpoints / run.run_id / "coordinator" / "keys.sealed"
    assert b"rengo-paillier-private-key" not in coordinator_key.read_bytes()  # sealed

    # everyone starts again: the coordinator from its checkpoint alone
    summary = resumed_run(cli, tables, certs, tmp_path, run.run_id[:20])
    assert f"trained {EPOCHS} epochs" in summary

    data = {name: party_data(tables, name) for name in [LABEL_PARTY, *HOSTS]}
    model = HeteroLogisticRegression(key_bits=512, seed=SEED, epochs=EPOCHS, **SETTINGS)
    model.fit({n: d.table for n, d in data.items()}, LABEL_PARTY, data[LABEL_PARTY].labels)
    for name, weights in model.coefficients().items():
        saved = json.loads((tmp_path / f"{name}.json").read_text())
        np.testing.assert_array_equal(np.array(saved["weights"]), weights)
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["intercept"] == model.guest_model_.intercept
    assert card["losses"] == model.losses_

    with RunStore(store, read_only=True) as reader:
        done = reader.get_run(run.run_id)
        assert done.status == "completed" and done.summary is not None
        assert 1 <= done.summary["resumed_after_epoch"] < EPOCHS
        # every epoch in the record, those before the interruption and those after it
        assert [r.round for r in reader.rounds(run.run_id)] == list(range(1, EPOCHS + 1))
    refused = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--store", str(store),
        "--checkpoints", str(checkpoints),
        "--resume", run.run_id,
    )  # fmt: skip
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode != 0
    assert "it completed; only an interrupted run can be resumed" in out, out
    assert "Traceback" not in out


SBT: dict[str, Any] = {"n_trees": 4, "max_depth": 2, "key_bits": 512, "subsample": 0.9}


@pytest.mark.timeout(300)
def test_a_secureboost_run_whose_party_was_killed_resumes_to_the_uninterrupted_trees(
    tables: Any, certs: Path, cli: Processes, tmp_path: Path
) -> None:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SBT.items()]
    run = interrupted_run(cli, tables, certs, tmp_path, ["--algorithm=secureboost", *flags], 2)
    summary = resumed_run(cli, tables, certs, tmp_path, run.run_id)
    assert f"trained {SBT['n_trees']} trees" in summary

    data = {name: party_data(tables, name) for name in [LABEL_PARTY, *HOSTS]}
    model = HeteroSecureBoost(seed=SEED, **SBT)
    model.fit({n: d.table for n, d in data.items()}, LABEL_PARTY, data[LABEL_PARTY].labels)
    ids, scores = model.predict_raw({n: d.score_table for n, d in data.items()})
    with (tmp_path / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal([r["id"] for r in rows], ids)
    np.testing.assert_array_equal([float(r["score"]) for r in rows], scores)
    card = json.loads((tmp_path / "card.json").read_text())
    assert comparable(card["trees"]) == comparable(model.guest_model_.trees)
    for host in HOSTS:
        saved = json.loads((tmp_path / f"{host}.json").read_text())
        assert [s["threshold"] for s in saved["splits"]] == [
            s.threshold for s in model.host_models_[host].splits
        ]
    with RunStore(tmp_path / "runs.db", read_only=True) as reader:
        done = reader.get_run(run.run_id)
        assert done.status == "completed" and done.summary is not None
        assert 1 <= done.summary["resumed_after_epoch"] <= 2


@pytest.mark.timeout(60)
def test_a_passphrase_too_short_to_seal_with_is_refused_before_the_run_starts(
    certs: Path, tmp_path: Path
) -> None:
    """It was refused only once every party had joined and the key was first sealed (seen:
    RENGO_CHECKPOINT_PASSPHRASE=pw; three parties joined, then 'coordinator aborted the run
    (ConfigError)', the run recorded failed)."""
    from rengo.core.errors import ConfigError
    from rengo.deploy.vertical import serve_vertical_coordinator
    from rengo.transport.grpc_security import HubSecurity
    from rengo.vfl import HeteroLRConfig

    store_path = tmp_path / "runs.db"
    listened: list[str] = []
    with RunStore(store_path) as store, pytest.raises(ConfigError, match="at least 8 characters"):
        serve_vertical_coordinator(
            "127.0.0.1:0",
            HubSecurity.from_directory(certs),
            [LABEL_PARTY, *HOSTS],
            LABEL_PARTY,
            config=HeteroLRConfig(key_bits=512),
            join_timeout=3.0,
            store=store,
            on_listening=lambda hub: listened.append(hub.address),
            checkpoint_dir=tmp_path / "checkpoints",
            passphrase="pw",
        )
    assert not listened
    with RunStore(store_path) as store:
        assert store.list_runs() == []
