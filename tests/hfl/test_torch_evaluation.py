"""What TorchClient's evaluation reports for models other than a multi-class classifier:
a single-logit binary classifier gets its real accuracy, a regression its loss and no
accuracy (never a made-up one)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rengo.hfl.torch_client import TorchClient, evaluate_model, get_parameters  # noqa: E402

X = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
TARGET = X @ torch.tensor([1.0, 2.0, -1.0, 0.5])


def _evaluated(model: nn.Module, labels: torch.Tensor, loss_fn: nn.Module) -> dict[str, float]:
    loader = DataLoader(TensorDataset(X, labels), batch_size=8)
    result = TorchClient(model, loader, loss_fn=loss_fn).evaluate(get_parameters(model), {})
    assert result.num_examples == len(X) and math.isfinite(result.loss)
    return dict(result.metrics)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("loss_fn", "squash", "shape"),
    [
        (nn.BCEWithLogitsLoss(), False, (-1, 1)),
        (nn.BCEWithLogitsLoss(), False, (-1,)),
        (nn.BCELoss(), True, (-1, 1)),
    ],
)
def test_a_single_logit_binary_classifiers_accuracy_is_its_share_of_right_signs(
    loss_fn: nn.Module, squash: bool, shape: tuple[int, ...]
) -> None:
    """Its (N, 1) logits were argmax-ed over one column (always class 0) and compared with
    (N, 1) labels by broadcasting into N x N: an 'accuracy' of 4.875."""
    torch.manual_seed(0)
    linear = nn.Linear(4, 1)
    layers: list[nn.Module] = [linear, nn.Sigmoid()] if squash else [linear]
    model = nn.Sequential(*layers, nn.Flatten(0) if shape == (-1,) else nn.Identity())
    labels = (TARGET > 0).float().reshape(shape)
    with torch.no_grad():
        expected = float(((linear(X).reshape(-1) > 0) == (TARGET > 0)).float().mean())
    assert _evaluated(model, labels, loss_fn)["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize("flat", [False, True])
def test_a_regression_reports_its_loss_and_no_accuracy(flat: bool) -> None:
    """A one-output regression got 'accuracy' 0.0, and one whose output is (N,) crashed
    federated evaluation with an IndexError from argmax(dim=1)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)) if flat else nn.Linear(4, 1)
    labels = TARGET if flat else TARGET.unsqueeze(1)
    assert _evaluated(model, labels, nn.MSELoss()) == {}


def test_evaluate_model_gives_nan_accuracy_where_outputs_are_not_class_scores() -> None:
    loader = DataLoader(TensorDataset(X, TARGET.unsqueeze(1)), batch_size=8)
    loss, accuracy, n = evaluate_model(nn.Linear(4, 1), loader, nn.MSELoss())
    assert math.isnan(accuracy) and math.isfinite(loss) and n == len(X)


def test_a_multiclass_classifiers_accuracy_is_unchanged() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    labels = (TARGET > 0).long() + (TARGET > 2).long()
    with torch.no_grad():
        expected = float((model(X).argmax(dim=1) == labels).float().mean())
    assert _evaluated(model, labels, nn.CrossEntropyLoss())["accuracy"] == pytest.approx(expected)


class _WithAuxiliary(nn.Module):
    """Returns (logits, auxiliary output), as many models do; only its loss reads both."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.linear(x)
        return logits, logits.pow(2).mean(dim=1)


class _MainAndAuxiliaryLoss(nn.Module):
    def forward(
        self, outputs: tuple[torch.Tensor, torch.Tensor], labels: torch.Tensor
    ) -> torch.Tensor:
        logits, auxiliary = outputs
        return nn.functional.cross_entropy(logits, labels) + 0.1 * auxiliary.mean()


def test_a_model_with_several_outputs_evaluates_with_its_own_loss() -> None:
    """Its tuple of outputs crashed evaluation: AttributeError, a tuple has no argmax."""
    torch.manual_seed(0)
    assert _evaluated(_WithAuxiliary(), (TARGET > 0).long(), _MainAndAuxiliaryLoss()) == {}


def _losses(loss_fn: nn.Module, lr: float, train: bool) -> tuple[float, float]:
    """The evaluation loss of a fixed model, and (``train``) the loss one epoch reports."""
    loader = DataLoader(TensorDataset(X, (TARGET > 0).long()), batch_size=8, shuffle=True)
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    client = TorchClient(model, loader, loss_fn=loss_fn)
    start = get_parameters(model)
    evaluated = client.evaluate(start, {}).loss
    if not train:
        return evaluated, float("nan")
    return evaluated, float(client.fit(start, {"seed": 0, "lr": lr}).metrics["loss"])


def test_a_summing_losss_reported_losses_are_means_over_examples() -> None:
    """Its fit and evaluation losses came out multiplied by the batch size (8x here)."""
    evaluated, trained = _losses(nn.CrossEntropyLoss(), 0.1, train=True)
    # full batches of 8: a sum's gradient is 8 means', so lr / 8 takes the same steps
    summed = _losses(nn.CrossEntropyLoss(reduction="sum"), 0.1 / 8, train=True)
    assert summed == pytest.approx((evaluated, trained), rel=1e-5)


def test_a_per_row_evaluation_losss_reported_loss_is_the_mean_over_examples() -> None:
    """A loss with reduction="none" crashed evaluation (8 losses are no float)."""
    evaluated, _ = _losses(nn.CrossEntropyLoss(), 0.1, train=False)
    per_row, _ = _losses(nn.CrossEntropyLoss(reduction="none"), 0.1, train=False)
    assert per_row == pytest.approx(evaluated, rel=1e-6)
