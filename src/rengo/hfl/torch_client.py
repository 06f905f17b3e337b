"""PyTorch adapter: any ``torch.nn.Module`` plus DataLoaders becomes a rengo client.

    client = TorchClient(model, train_loader, test_loader, lr=0.05)

Parameters are the module's ``state_dict`` tensors in order (buffers included, so batch-norm
statistics travel too). The adapter applies FedProx's proximal term (``proximal_mu``) and
SCAFFOLD's correction (``scaffold_c``) when the strategy sends them, and seeds torch from the
round's ``seed`` so every executor reproduces the same model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("rengo.hfl.torch_client needs PyTorch: pip install 'rengo[torch]'") from exc

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.client import Client
from rengo.hfl.scaffold_client import ScaffoldCorrection

OptimizerFn = Callable[[Sequence[torch.nn.Parameter], float], torch.optim.Optimizer]


def get_parameters(model: nn.Module) -> Parameters:
    """The module's state as numpy arrays (copies), in ``state_dict`` order."""
    return [t.detach().cpu().numpy().copy() for t in model.state_dict().values()]


def set_parameters(model: nn.Module, parameters: Sequence[np.ndarray]) -> None:
    """Load numpy arrays into the module, in ``state_dict`` order (shapes must match)."""
    keys = list(model.state_dict().keys())
    if len(keys) != len(parameters):
        raise ValueError(f"model has {len(keys)} tensors, got {len(parameters)} arrays")
    state = {k: torch.from_numpy(np.asarray(p)) for k, p in zip(keys, parameters, strict=True)}
    model.load_state_dict(state, strict=True)


def seed_torch(seed: int) -> None:
    """Seed torch's CPU generator (what DataLoader shuffling and dropout draw from).

    Equivalent to ``torch.manual_seed`` on a CPU run, without its per-call cost of queueing
    seeds for every lazily initialised accelerator backend (~0.2 ms a call).
    """
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(seed)


def make_mlp(num_features: int, num_classes: int, hidden: Sequence[int] = (64, 64)) -> nn.Module:
    """A plain ReLU multi-layer perceptron (the demo's and the benchmark's model)."""
    layers: list[nn.Module] = []
    width = num_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _sgd(params: Sequence[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr)


class TorchClient(Client):
    """Trains ``model`` on ``train_loader`` for ``local_epochs`` per round.

    Config keys read: ``lr``, ``local_epochs``, ``proximal_mu``, ``scaffold_c``, ``seed``.
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: torch.utils.data.DataLoader,
        test_loader: torch.utils.data.DataLoader | None = None,
        *,
        lr: float = 0.05,
        local_epochs: int = 1,
        loss_fn: nn.Module | None = None,
        optimizer: OptimizerFn = _sgd,
    ) -> None:
        super().__init__()
        self.model = model
        self.train_loader = train_loader
        self.test_loader = test_loader
        self.lr = lr
        self.local_epochs = local_epochs
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()
        self.optimizer = optimizer

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        set_parameters(self.model, parameters)
        if "seed" in config:
            seed_torch(int(config["seed"]))  # type: ignore[arg-type]
        lr = float(config.get("lr", self.lr))  # type: ignore[arg-type]
        epochs = int(config.get("local_epochs", self.local_epochs))  # type: ignore[arg-type]
        mu = float(config.get("proximal_mu", 0.0))  # type: ignore[arg-type]
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        global_copy = [p.detach().clone() for p in trainable] if mu > 0 else []
        keys = list(self.model.state_dict().keys())
        scaffold = ScaffoldCorrection.from_config(config, self.state, parameters)
        corrections: list[torch.Tensor] = []
        if scaffold is not None:
            by_key = dict(zip(keys, zip(scaffold.c, scaffold.c_i, strict=True), strict=True))
            corrections = [
                torch.from_numpy((by_key[n][0] - by_key[n][1]).astype(np.float32)) for n in names
            ]
        opt = self.optimizer(trainable, lr)
        self.model.train()
        steps, total_loss, seen = 0, 0.0, 0
        for _ in range(epochs):
            for xb, yb in self.train_loader:
                opt.zero_grad(set_to_none=True)
                loss = self.loss_fn(self.model(xb), yb)
                if mu > 0:
                    prox = sum(
                        ((p - g) ** 2).sum() for p, g in zip(trainable, global_copy, strict=True)
                    )
                    loss = loss + 0.5 * mu * prox
                loss.backward()
                if corrections:
                    with torch.no_grad():
                        for p, corr in zip(trainable, corrections, strict=True):
                            if p.grad is not None:
                                p.grad.add_(corr)
                opt.step()
                steps += 1
                total_loss += float(loss.detach()) * len(yb)
                seen += len(yb)
        new = get_parameters(self.model)
        if scaffold is not None:
            new = new + scaffold.update(parameters, new, steps, lr, self.state)
        num_examples = len(self.train_loader.dataset)  # type: ignore[arg-type]
        return FitResult(new, num_examples, {"loss": total_loss / max(seen, 1)})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        loader = self.test_loader or self.train_loader
        set_parameters(self.model, parameters)
        loss, accuracy, n = evaluate_model(self.model, loader, self.loss_fn)
        return EvaluateResult(loss, n, {"accuracy": accuracy})


@torch.no_grad()
def evaluate_model(
    model: nn.Module, loader: torch.utils.data.DataLoader, loss_fn: nn.Module | None = None
) -> tuple[float, float, int]:
    """Mean loss, accuracy and example count of a classifier over ``loader``."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.eval()
    total, correct, n = 0.0, 0, 0
    for xb, yb in loader:
        out = model(xb)
        total += float(loss_fn(out, yb)) * len(yb)
        correct += int((out.argmax(dim=1) == yb).sum())
        n += len(yb)
    return total / max(n, 1), correct / max(n, 1), n
