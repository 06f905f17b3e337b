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
