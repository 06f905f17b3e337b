"""Transfer learning is one of the vertical algorithms: found through its entry point, its
options generated from its config, importable without PyTorch, and its deployed
prediction-side facts (who is scored, who may hold labels) stated in its description."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rengo.core.errors import ConfigError
from rengo.core.options import option_specs
from rengo.ftl import FTL, TransferClassifier, TransferConfig, TransferReport
from rengo.vfl import VerticalEstimator, VerticalPlan, algorithms, get_algorithm


def test_ftl_is_registered_and_described() -> None:
    assert algorithms()["ftl"] is FTL is get_algorithm("ftl")
    assert FTL.labels_at == ("label_party", "feature_party")
    assert FTL.scored_by == "feature_party"
    assert not FTL.predict.aligned and FTL.predict.tables == ("feature_party",)
    assert FTL.output_of(TransferConfig()) == "probability"
    assert FTL.output_of(TransferConfig(objective="multiclass")) == "probabilities"
    assert FTL.key_holder(TransferConfig()) == "label_party"
    assert FTL.keys is not None and FTL.keys.make(TransferConfig(security="plaintext"), 0) is None
    assert VerticalEstimator.for_algorithm(FTL) is TransferClassifier
    names = {o.name for o in option_specs(TransferConfig)}
    assert {"security", "objective", "dim", "local_steps", "alignment_weight"} <= names


def test_a_plan_names_one_source_and_one_target() -> None:
    plan = VerticalPlan("bank", ("shop",), TransferConfig(), 1, algorithm="ftl")
    assert VerticalPlan.from_wire(plan.to_wire()) == plan
    with pytest.raises(ConfigError, match="security = 'trusted'; choose one of"):
        TransferClassifier(security="trusted")


def test_the_package_imports_and_registers_without_torch() -> None:
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from rengo.vfl import algorithms\n"
        "assert 'ftl' in algorithms()\n"
        "from rengo.ftl import TransferClassifier, TransferConfig\n"
        "TransferClassifier(epochs=2)\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_closing_line_says_which_loss_is_the_last_epochs_and_which_the_best() -> None:
    """Before, ``trained 3 epochs (loss 0.6000; best validation loss 0.5000 at epoch 2)``
    put the last epoch's training loss beside the best held-out one, which read as the kept
    model's loss though early stopping keeps the best epoch's encoders."""
    report = TransferReport(
        losses=[0.9, 0.7, 0.6], epochs_run=3, validation=[{"loss": v} for v in (0.8, 0.5, 0.55)]
    )
    assert FTL.describe(report) == (
        "trained 3 epochs (last epoch's training loss 0.6000; "
        "lowest validation loss 0.5000 after epoch 2)"
    )
    assert FTL.describe(TransferReport(losses=[0.9, 0.7], epochs_run=2)) == (
        "trained 2 epochs (last epoch's training loss 0.7000)"
    )
