"""PyTorch adapter: any ``torch.nn.Module`` plus DataLoaders becomes a rengo client.

    from rengo.hfl import TorchClient
    client = TorchClient(model, train_loader, test_loader, lr=0.05, device="auto")

Parameters are the module's ``state_dict`` tensors in order (buffers included, so batch-norm
statistics travel too), as numpy arrays on the wire wherever the model trains. The adapter
trains through :class:`~rengo.hfl.local_training.LocalTraining`: it applies the gradient
corrections client mods install (FedProx's proximal term, SCAFFOLD's correction...) after
every backward pass, leaves frozen arrays out of the optimiser, passes each batch through the
mods' batch transforms, and seeds torch (and the loader's own generator, if it has one) from
the round's ``seed`` so every executor reproduces the same model (on the CPU; GPU kernels
need not be bitwise deterministic).

``device`` places the model and each batch: ``"cpu"``, ``"cuda"`` / ``"cuda:1"``, ``"mps"``
(Apple silicon), or ``"auto"`` (CUDA, else MPS, else CPU); None leaves the model where the
caller put it. :func:`resolve_device` checks that the device exists here and says what to do
when it does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, MissingExtraError
from rengo.core.install_hint import install_hint

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        f"rengo.hfl.torch_client needs PyTorch: {install_hint('torch')}"
    ) from exc

from rengo.core.messages import Config, EvaluateResult, FitResult, Metrics
from rengo.core.parameters import Parameters
from rengo.hfl.client import Client
from rengo.hfl.local_training import LocalTraining
from rengo.hfl.torch_loader import (
    batch_device,
    check_private_loader,
    inputs_and_labels,
    loader_rows,
    on_device,
)
from rengo.hfl.torch_loss import batch_loss_sum
from rengo.privacy import LocalDP
from rengo.privacy.config import check_delta

OptimizerFn = Callable[[Sequence[torch.nn.Parameter], float], torch.optim.Optimizer]
"""``optimizer(params, lr) -> torch.optim.Optimizer``, called at each fit."""
DEVICE_NAMES = ("cpu", "cuda", "mps", "auto")
"""Device names ``device=`` accepts (``cuda:N`` names one GPU)."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device | None) -> torch.device | None:
    """The :class:`torch.device` to train on, checked against this machine.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` (CUDA if PyTorch sees a
        GPU, else MPS, else CPU), a :class:`torch.device`, or None (leave the model where it
        is).

    Returns
    -------
    torch.device or None
        The device (None for None).

    Raises
    ------
    ConfigError
        For an unknown name, or a device this machine's PyTorch cannot use (naming why:
        a CPU-only build, no such GPU index, no MPS).
    """
    if device is None:
        return None
    if isinstance(device, torch.device):
        chosen = device
    else:
        name = str(device).strip().lower()
        if name == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            return torch.device("mps") if _mps_available() else torch.device("cpu")
        try:
            chosen = torch.device(name)
        except (RuntimeError, ValueError):
            raise ConfigError(
                f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto"
            ) from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise ConfigError(
                f"device {str(chosen)!r}: this PyTorch sees no CUDA GPU ({build}); use "
                "device 'cpu', or 'auto' to take a GPU only where there is one"
            )
        count = torch.cuda.device_count()
        if chosen.index is not None and chosen.index >= count:
            raise ConfigError(f"device {str(chosen)!r}: this machine has {count} CUDA GPU(s)")
    elif chosen.type == "mps" and not _mps_available():
        raise ConfigError(
            "device 'mps': Apple's Metal backend is not available here; use 'cpu' or 'auto'"
        )
    elif chosen.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {str(chosen)!r}: rengo trains on cpu, cuda or mps")
    return chosen


def get_parameters(model: nn.Module) -> Parameters:
    """The module's state as numpy arrays (copies on the CPU), in ``state_dict`` order.

    Parameters
    ----------
    model
        Any module, on any device.

    Returns
    -------
    list of numpy.ndarray
        One array per ``state_dict`` entry (parameters and buffers). Floating-point dtypes
        numpy lacks (``bfloat16``, the ``float8`` types) travel as float32, which holds
        them exactly; :func:`set_parameters` casts them back into the module's dtype.

    Raises
    ------
    TypeError
        For a tensor of another dtype numpy cannot hold, naming it.
    """
    return [_as_array(key, t.detach().cpu()) for key, t in model.state_dict().items()]


def _as_array(key: str, tensor: torch.Tensor) -> np.ndarray:
    """A copy of ``tensor`` (on the CPU) as a numpy array (see :func:`get_parameters`)."""
    try:
        return tensor.numpy().copy()
    except TypeError:
        if tensor.is_floating_point():
            return tensor.float().numpy()
        raise TypeError(
            f"state_dict entry {key!r} is a {tensor.dtype} tensor, which numpy cannot hold; "
            "keep it out of the state_dict or register it in a dtype numpy has"
        ) from None


def set_parameters(model: nn.Module, parameters: Sequence[np.ndarray]) -> None:
    """Load numpy arrays into the module, in ``state_dict`` order, onto the device its
    tensors are on.

    Parameters
    ----------
    model
        The module to load into.
    parameters
        One array per ``state_dict`` entry, shapes matching.

    Raises
    ------
    ValueError
        If the count or a shape does not match.
    """
    keys = list(model.state_dict().keys())
    if len(keys) != len(parameters):
        raise ValueError(f"model has {len(keys)} tensors, got {len(parameters)} arrays")
    state = {k: torch.from_numpy(np.asarray(p)) for k, p in zip(keys, parameters, strict=True)}
    model.load_state_dict(state, strict=True)


def seed_torch(seed: int, accelerator: bool = False) -> None:
    """Seed torch's CPU generator (what DataLoader shuffling and dropout draw from), and the
    GPUs' when ``accelerator`` or once CUDA is in use.

    Equivalent to ``torch.manual_seed`` on a CPU run, without its per-call cost of queueing
    seeds for every lazily initialised accelerator backend (~0.2 ms a call).

    Parameters
    ----------
    seed
        The seed.
    accelerator
        Also seed CUDA (lazily, before its first use) and MPS.
    """
    torch.default_generator.manual_seed(seed)
    if accelerator or torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        torch.cuda.manual_seed_all(seed)
    if accelerator and _mps_available():
        torch.mps.manual_seed(seed)


def seed_loader(loader: Any, seed: int) -> None:
    """Seed the generators a DataLoader carries of its own (PyTorch's reproducibility guide
    gives loaders one: ``DataLoader(..., generator=g)``): :func:`seed_torch` does not reach
    them, so a loader built ahead of the rounds kept advancing its own shuffle, a process
    executor's workers each their own copy, and the same seed gave another model each run.

    Parameters
    ----------
    loader
        The DataLoader; its ``generator`` and its samplers' are seeded when set.
    seed
        The seed.
    """
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = (
        getattr(loader, "generator", None),
        getattr(getattr(loader, "sampler", None), "generator", None),
        getattr(getattr(batch_sampler, "sampler", None), "generator", None),
    )
    for generator in {id(g): g for g in candidates if isinstance(g, torch.Generator)}.values():
        generator.manual_seed(seed)


def make_mlp(num_features: int, num_classes: int, hidden: Sequence[int] = (64, 64)) -> nn.Module:
    """A plain ReLU multi-layer perceptron (the demo's and the benchmark's model).

    Parameters
    ----------
    num_features, num_classes
        Input width and number of output logits.
    hidden
        Widths of the hidden layers.

    Returns
    -------
    torch.nn.Module
        ``Sequential(Linear, ReLU, ..., Linear)``.
    """
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

    Config keys read: ``lr``, ``local_epochs``, ``seed`` (a fit's and an evaluation's: it seeds
    torch and the loader, so a shuffled loader draws the same batches on every executor).

    Parameters
    ----------
    model
        The module to train; its ``state_dict`` order is the parameter order on the wire.
    train_loader, test_loader
        Local data; evaluation uses ``train_loader`` when ``test_loader`` is None. Batches
        are ``(inputs, labels)`` and are moved to ``device``. The client's example count
        (its FedAvg weight) is the rows ``train_loader``'s sampler draws from (a
        ``SubsetRandomSampler``'s indices), else its dataset's length, else (an
        ``IterableDataset``) the rows an epoch reads.
    lr, local_epochs
        Defaults for the round config's ``lr`` and ``local_epochs``.
    loss_fn
        The training and evaluation loss (cross-entropy by default); whatever its
        ``reduction``, the losses the client reports are means over examples.
    evaluation_loss_fn
        The loss :meth:`evaluate` reports instead, when it differs from the one trained on
        (a class-weighted training loss evaluated unweighted, as the numpy clients do).
    optimizer
        ``optimizer(params, lr)`` builds the optimiser for each fit call (SGD by default).
    dp
        Local DP-SGD settings (:class:`~rengo.privacy.LocalDP`, via Opacus): per-example
        clipping and noise in every step; the client's epsilon so far is the ``dp_epsilon``
        fit metric, at the ``dp_delta`` one. None trains without DP.
    dp_history
        A file where the client keeps its DP-SGD accountant history, so that its spent budget
        (``dp.target_epsilon``) survives a restart of its process; without it the history
        lives in the client's state, in memory, and a restarted party starts from zero.
    device
        Where to train: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` (see
        :func:`resolve_device`), or None to leave the model where it is (batches then go
        to the device of the model's parameters: a model moved to a GPU beforehand trains
        there).

    Raises
    ------
    ConfigError
        For a device this machine cannot use, a ``dp.delta`` not below one over the
        training rows, or (with ``dp``) a ``train_loader`` restricted by a sampler, which
        DP-SGD's Poisson batches would not keep to.
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: torch.utils.data.DataLoader[Any],
        test_loader: torch.utils.data.DataLoader[Any] | None = None,
        *,
        lr: float = 0.05,
        local_epochs: int = 1,
        loss_fn: nn.Module | None = None,
        optimizer: OptimizerFn = _sgd,
        dp: LocalDP | None = None,
        device: str | torch.device | None = None,
        dp_history: str | Path | None = None,
        evaluation_loss_fn: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.device = resolve_device(device)
        self.model = model if self.device is None else model.to(self.device)
        self.train_loader = train_loader
        self.test_loader = test_loader
        self.lr = lr
        self.local_epochs = local_epochs
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()
        self.evaluation_loss_fn = evaluation_loss_fn or self.loss_fn
        self.optimizer = optimizer
        if dp is not None:
            check_private_loader(train_loader, dp)
            rows = loader_rows(train_loader)
            if rows is not None:  # a plain pass over a dataset: it has a length
                check_delta(dp, rows)
        self.dp = dp
        self.dp_history = Path(dp_history) if dp_history is not None else None

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """Train for the configured epochs; returns the module's new ``state_dict`` arrays.

        When a mod asks (``local_training.measure_initial_loss``), the mean loss over
        ``train_loader`` at ``parameters`` is measured first, in evaluation mode.
        """
        set_parameters(self.model, parameters)
        device = batch_device(self.model, self.device)
        training = self.local_training
        if training.measure_initial_loss:
            if self.dp is not None:
                raise ConfigError(
                    "a mod asked for this client's loss at the model it received (q-FedAvg "
                    "weights each update by it), which DP-SGD's accounting does not cover: "
                    "run q-FedAvg without local DP"
                )
            # before the seed: the pass may draw from the loader's generator, which the seed
            # then resets, so training takes the same batches as without it
            training.initial_loss, _, _ = evaluate_model(
                self.model, self.train_loader, self.loss_fn, device
            )
        self._seed(config, device, self.train_loader)
        lr = float(config.get("lr", self.lr))  # type: ignore[arg-type]
        epochs = int(config.get("local_epochs", self.local_epochs))  # type: ignore[arg-type]
        index = {key: i for i, key in enumerate(self.model.state_dict().keys())}
        trained = [
            (index[name], p)
            for name, p in self.model.named_parameters()
            if p.requires_grad and index[name] not in training.frozen
        ]
        opt = self.optimizer([p for _, p in trained], lr)
        rows = loader_rows(self.train_loader)  # None for a stream: the rows an epoch read
        if self.dp is not None:
            from rengo.hfl.torch_dp import private_epochs

            total_loss, seen, epsilon = private_epochs(
                self.model, self.train_loader, opt, self.loss_fn, trained, epochs, lr, self.dp,
                training, self.state, _apply_corrections, self.dp_history, device,
            )  # fmt: skip
            metrics: Metrics = {
                "loss": total_loss / max(seen, 1),
                "dp_epsilon": epsilon,
                "dp_delta": self.dp.delta,  # an epsilon means nothing without it
            }
            num_examples = rows if rows is not None else seen // max(epochs, 1)
            return FitResult(get_parameters(self.model), num_examples, metrics)
        self.model.train()
        total_loss, seen = 0.0, 0
        for _ in range(epochs):
            for batch in self.train_loader:
                xb, yb = inputs_and_labels(batch)
                if training.batch_transforms:
                    xb, yb = training.transform_batch(xb, yb)
                xb, yb = on_device(xb, yb, device)
                opt.zero_grad(set_to_none=True)
                loss = self.loss_fn(self.model(xb), yb)
                loss.backward()
                if training.corrections:
                    _apply_corrections(training, trained)
                opt.step()
                training.record_step(lr)
                total_loss += batch_loss_sum(loss, len(yb), self.loss_fn)
                seen += len(yb)
        num_examples = rows if rows is not None else seen // max(epochs, 1)
        return FitResult(
            get_parameters(self.model), num_examples, {"loss": total_loss / max(seen, 1)}
        )

    @staticmethod
    def _seed(config: Config, device: torch.device | None, loader: Any) -> None:
        """Seed torch and ``loader``'s own generator from the round's ``seed``, when the
        config has one (every executor then draws the same batches)."""
        if "seed" in config:
            accelerated = device is not None and device.type != "cpu"
            seed_torch(int(config["seed"]), accelerated)  # type: ignore[arg-type]
            seed_loader(loader, int(config["seed"]))  # type: ignore[arg-type]

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Loss and accuracy on ``test_loader`` (``train_loader`` when there is none); no
        accuracy where the model's outputs are not class scores (:func:`evaluate_model`)."""
        loader = self.test_loader or self.train_loader
        set_parameters(self.model, parameters)
        device = batch_device(self.model, self.device)
        self._seed(config, device, loader)  # a shuffled loader's batch order, hence the loss
        loss, accuracy, n = evaluate_model(self.model, loader, self.evaluation_loss_fn, device)
        metrics: Metrics = {} if np.isnan(accuracy) else {"accuracy": accuracy}
        return EvaluateResult(loss, n, metrics)


@torch.no_grad()
def _apply_corrections(
    training: LocalTraining, trained: Sequence[tuple[int, torch.nn.Parameter]]
) -> None:
    """Replace each gradient by its corrected value (computed in numpy, in float64 where the
    corrections hold float64 arrays, and stored back in the gradient's dtype)."""
    for i, p in trained:
        if p.grad is None:
            continue
        value = p.detach().cpu().numpy()
        grad = p.grad.detach().cpu().numpy()
        corrected = training.correct(i, value, grad)
        p.grad.copy_(torch.from_numpy(np.asarray(corrected, dtype=grad.dtype)))


def _correct(outputs: Any, labels: torch.Tensor, loss_fn: Any) -> int | None:
    """Correct predictions in one batch, or None where accuracy is not defined for it.

    Class logits ``(N, C)`` with ``C >= 2`` are scored by argmax against integer labels
    ``(N,)``; one logit (or probability) per row under ``BCEWithLogitsLoss`` (``BCELoss``)
    by the sign of the logit (a probability above 0.5) against 0/1 labels of any shape with
    ``N`` elements. Anything else (regression, soft labels, several outputs, outputs that
    are not one tensor) has no accuracy.
    """
    if not isinstance(outputs, torch.Tensor):  # a tuple or dict only the user's loss reads
        return None
    if outputs.dim() == 2 and outputs.shape[1] >= 2:
        if labels.dim() == 1 and not labels.is_floating_point():
            return int((outputs.argmax(dim=1) == labels).sum())
        return None
    threshold = {nn.BCEWithLogitsLoss: 0.0, nn.BCELoss: 0.5}.get(type(loss_fn))
    rows = len(labels)
    if threshold is None or outputs.numel() != rows or labels.numel() != rows:
        return None
    predicted = outputs.reshape(-1) > threshold
    return int((predicted == (labels.reshape(-1) > 0.5)).sum())


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    loader: torch.utils.data.DataLoader[Any],
    loss_fn: nn.Module | None = None,
    device: torch.device | None = None,
) -> tuple[float, float, int]:
    """Mean loss, accuracy and example count of a model over ``loader``.

    Parameters
    ----------
    model
        A classifier returning one logit per class (or, with ``BCEWithLogitsLoss`` /
        ``BCELoss``, one logit / probability per row), or any other model (a regression).
    loader
        ``(inputs, labels)`` batches.
    loss_fn
        The loss (cross-entropy by default).
    device
        Where the model is; batches are moved there (None: leave them as they come).

    Returns
    -------
    tuple of (float, float, int)
        Mean loss, accuracy (NaN where the outputs are not class scores that labels can be
        compared with: a regression's, soft labels) and the number of examples.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.eval()
    total, correct, n = 0.0, 0, 0
    scored = True
    for batch in loader:
        xb, yb = on_device(*inputs_and_labels(batch), device)
        out = model(xb)
        total += batch_loss_sum(loss_fn(out, yb), len(yb), loss_fn)
        right = _correct(out, yb, loss_fn) if scored else None
        scored = right is not None
        correct += right or 0
        n += len(yb)
    accuracy = correct / max(n, 1) if scored else float("nan")
    return total / max(n, 1), accuracy, n
