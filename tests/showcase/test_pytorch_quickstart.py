"""The PyTorch quickstart example runs on small settings: on the bundled digits when MNIST is
absent, on MNIST's test split when the shared data folder has it, recorded in the store."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("torch")

from rengo.core.errors import DataError
from rengo.data import shared_data_dir
from rengo.tracking import RunStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pytorch_quickstart" / "run.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pytorch_quickstart", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_falls_back_to_digits_and_learns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENGO_SHARED_DATA", str(tmp_path))  # no MNIST there
    store = tmp_path / "runs.db"
    args = ["--rounds", "3", "--clients", "3", "--samples", "900", "--store", str(store)]
    figures = _example().main(args)
    assert figures["dataset"] == "digits" and figures["accuracy"] > 0.3
    with RunStore(store) as s:
        run = s.get_run(figures["run_id"])
        assert run.status == "completed" and run.config["model"] == "SmallCNN"
        assert len(s.rounds(run.run_id)) == 3


def test_quickstart_on_mnist_when_the_shared_folder_has_it(tmp_path: Path) -> None:
    try:
        shared_data_dir("mnist_test")
    except DataError as missing:
        pytest.skip(f"MNIST test split not in the shared data folder: {missing}")
    args = ["--rounds", "4", "--clients", "4", "--samples", "2000", "--store", str(tmp_path)]
    figures = _example().main(args)
    assert figures["dataset"] == "mnist_test" and figures["accuracy"] > 0.25  # chance: 0.1


def test_the_quickstart_model_deploys_with_rengo_party_and_no_data_at_the_coordinator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README promised that the quickstart's client_fn serves a real deployment with
    `rengo party --app`, but its client_fn was a closure inside main() and `rengo
    coordinator` can only build the job's own mlp/logistic model from its own copy of the
    data: deployed.py serves the CNN from its initial parameters alone, and real `rengo
    party` processes train it."""
    import os
    import subprocess
    import sys
    import threading

    from rengo.transport.certs import init_certificates

    monkeypatch.setenv("RENGO_SHARED_DATA", str(tmp_path))  # the bundled digits: fast
    certs = tmp_path / "certs"
    names = ["client-0", "client-1"]
    init_certificates(certs, names)
    spec = importlib.util.spec_from_file_location("deployed", EXAMPLE.with_name("deployed.py"))
    assert spec is not None and spec.loader is not None
    deployed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deployed)
    port: list[int] = []
    listening = threading.Event()

    def on_listening(hub: object) -> None:
        port.append(hub.port)  # type: ignore[attr-defined]
        listening.set()

    store = tmp_path / "runs.db"
    args = ["--certs", str(certs), "--parties", ",".join(names), "--listen", "127.0.0.1:0"]
    args += ["--rounds", "2", "--store", str(store)]
    outcome: list[object] = []
    coordinator = threading.Thread(
        target=lambda: outcome.append(deployed.main(args, on_listening)), daemon=True
    )
    coordinator.start()
    assert listening.wait(60)
    command = [sys.executable, "-m", "rengo.cli.main", "party", "--certs", str(certs)]
    command += ["--coordinator", f"127.0.0.1:{port[0]}", "--app", "deployed:client_fn"]
    env = {**os.environ, "RENGO_SHARED_DATA": str(tmp_path)}
    parties = [
        subprocess.Popen(
            [*command, "--name", name],
            cwd=EXAMPLE.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in names
    ]
    try:
        coordinator.join(240)
        assert not coordinator.is_alive() and outcome, "the deployed run did not finish"
        for party in parties:
            output, _ = party.communicate(timeout=60)
            assert party.returncode == 0, output
    finally:
        for party in parties:
            if party.poll() is None:
                party.kill()
    history = outcome[0]
    with RunStore(store) as s:
        run = s.get_run(history.run_id)  # type: ignore[attr-defined]
        assert run.status == "completed" and run.kind == "hfl-deployed"
        assert [r.num_clients for r in s.rounds(run.run_id)] == [2, 2]
