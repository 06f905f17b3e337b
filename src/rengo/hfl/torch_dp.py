"""Local DP-SGD for :class:`~rengo.hfl.torch_client.TorchClient`, through Opacus.

Abadi et al. 2016, "Deep Learning with Differential Privacy": every example's gradient is
clipped to ``max_grad_norm``, Gaussian noise of ``noise_multiplier * max_grad_norm`` is added
to each batch's sum, and batches are Poisson-sampled so that Opacus's accountant can bound
the client's epsilon(delta) over every step it ever took. The accountant's history lives in the
client's persisted state (``dp_sgd_history``), so the budget spans rounds and executors,
and, with ``TorchClient(dp_history=PATH)``, restarts of the client's process (the state lives
in memory: without a file a restarted party's epsilon starts again from zero); it is what the
client reports as the ``dp_epsilon`` fit metric.

The noise and the Poisson batches are drawn from generators seeded with operating-system
entropy (:func:`secret_generators`), not from torch's default generator, which
:class:`~rengo.hfl.torch_client.TorchClient` seeds with the round seed the coordinator sends:
the coordinator, the adversary local DP protects against, could otherwise draw every noise
vector again and subtract it (measured: two datasets one record apart gave models 0.056
apart under z = 50, where a fresh draw moves them by 33). ``LocalDP(seeded_noise=True)``
keeps the old draws, for reproducible tests only.

Gradient corrections from mods (FedProx's term, SCAFFOLD's control variate) are applied after
the noise: they depend only on the model and the global model, so they are post-processing and
cost no privacy.
"""

from __future__ import annotations

import re
import secrets
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from rengo.core.errors import ConfigError, MissingExtraError
from rengo.core.install_hint import install_hint
from rengo.hfl.dp_sgd_history import (
    Entry,
    longer_history,
    read_history,
    steps_in,
    with_steps,
    write_history,
)
from rengo.hfl.local_training import LocalTraining
from rengo.hfl.torch_loader import inputs_and_labels, on_device
from rengo.hfl.torch_loss import batch_loss_sum
from rengo.privacy import LocalDP, PrivacyBudgetExhausted

STATE_KEY = "dp_sgd_history"
"""Client-state key of Opacus's accountant history: ``[[noise, sample_rate, steps], ...]``."""


def require_opacus() -> Any:
    """The ``opacus`` module.

    Raises
    ------
    MissingExtraError
        Naming the ``opacus`` extra, when Opacus is not installed.
    """
    try:
        import opacus
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError(f"local DP-SGD needs Opacus: {install_hint('opacus')}") from exc
    return opacus


MOOT_NOTICES = (
    # Opacus, unless secure_mode (which needs torchcsprng): rengo seeds its own generators
    # with operating-system entropy instead (secret_generators)
    ("Secure RNG turned off", r"opacus\.privacy_engine"),
    # PyTorch, for Opacus's per-example hooks on a first layer: its inputs need no gradient
    (
        "Full backward hook is firing when gradients are computed with respect to module outputs",
        r"rengo\.hfl\.torch_dp",
    ),
)
"""The starts of the warnings a DP-SGD fit hides, and the modules they are raised from: its
user can do nothing about them."""


def _hide_moot_notices() -> None:
    """Put filters hiding :data:`MOOT_NOTICES` at the front of the process's warning filters,
    unless they are there already (once a process, or again after a caller's filter went in
    front). Not :func:`warnings.catch_warnings` around each fit: every change of the filters
    makes Python forget which warnings it has shown once, so each fit showed them again."""
    wanted = [
        ("ignore", re.compile(re.escape(text), re.I), UserWarning, re.compile(module), 0)
        for text, module in MOOT_NOTICES
    ]
    if warnings.filters[: len(wanted)] == wanted:
        return
    for text, module in reversed(MOOT_NOTICES):
        warnings.filterwarnings(
            "ignore", message=re.escape(text), category=UserWarning, module=module
        )


def private_epochs(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    loss_fn: torch.nn.Module,
    trained: Sequence[tuple[int, torch.nn.Parameter]],
    epochs: int,
    lr: float,
    dp: LocalDP,
    training: LocalTraining,
    state: dict[str, Any],
    apply_corrections: Callable[[LocalTraining, Sequence[tuple[int, torch.nn.Parameter]]], None],
    history_file: Path | None = None,
    device: torch.device | None = None,
) -> tuple[float, int, float]:
    """Train ``epochs`` epochs with DP-SGD; returns (summed loss, examples seen, epsilon).

    ``history_file`` keeps the accountant's history on disk (:mod:`rengo.hfl.dp_sgd_history`),
    so a client that restarts keeps its spent budget; without it the history lives in
    ``state`` only. Batches go to ``device`` (the model's; None leaves them as they come).

    Raises
    ------
    PrivacyBudgetExhausted
        If ``dp.target_epsilon`` is set and this round's steps would exceed it (the client
        is dropped from the round with that reason; its model is unchanged).
    ConfigError
        If ``history_file`` exists but holds no accountant history.
    """
    opacus = require_opacus()
    _hide_moot_notices()
    engine = opacus.PrivacyEngine(accountant=dp.accountant)
    held = [(float(z), float(q), int(n)) for z, q, n in state.get(STATE_KEY, [])]
    if history_file is not None:
        held = longer_history(read_history(history_file), held)
    history: list[Entry] = []
    for entry in held:  # merged as the accountant records steps (older files were not)
        history = with_steps(history, entry)
    engine.accountant.history = list(history)
    batches = max(len(loader), 1)
    planned = with_steps(history, (dp.noise_multiplier, 1.0 / batches, epochs * batches))
    if dp.accountant == "gdp" and len(planned) > 1:
        raise ConfigError(
            "LocalDP(accountant='gdp'): Opacus's GDP accountant composes only steps with one "
            "noise multiplier and sample rate, and this client's history has "
            f"{[(z, q) for z, q, _ in planned]}; use accountant = 'rdp' or 'prv'"
        )
    if dp.target_epsilon > 0:
        _check_budget(dp, history, planned)
    if history_file is not None:  # counted before any step runs (a crash keeps them counted)
        write_history(history_file, planned)
    noise, sampling = (None, None) if dp.seeded_noise else secret_generators(model)
    module, private_opt, private_loader = engine.make_private(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        noise_multiplier=dp.noise_multiplier,
        max_grad_norm=dp.max_grad_norm,
        poisson_sampling=dp.poisson_sampling,
        noise_generator=noise,
        # Opacus rescales per-example gradients by the loss's reduction: told "mean" for a
        # summing loss, it multiplied them by the batch size before clipping
        loss_reduction="sum" if getattr(loss_fn, "reduction", "mean") == "sum" else "mean",
    )
    sampler = private_loader.batch_sampler
    if sampling is not None and hasattr(sampler, "generator"):  # Opacus's Poisson sampler
        sampler.generator = sampling
    total_loss, seen = 0.0, 0
    try:
        module.train()
        for _ in range(epochs):
            for batch in private_loader:
                xb, yb = inputs_and_labels(batch)
                # A Poisson batch may be empty: it is still a step, of noise only, and the
                # accountant counts it (Opacus's own loop does both; skipping it reported
                # about (1-q)^n fewer steps, so a lower epsilon than the mechanism spent)
                empty = len(yb) == 0
                if training.batch_transforms and not empty:
                    xb, yb = training.transform_batch(xb, yb)
                xb, yb = on_device(xb, yb, device)
                private_opt.zero_grad(set_to_none=True)
                loss = loss_fn(module(xb), yb)
                loss.backward()
                if private_opt.pre_step():  # clip per example, noise, account
                    if training.corrections:
                        apply_corrections(training, trained)
                    private_opt.original_optimizer.step()
                    training.record_step(lr)
                if not empty:  # the mean loss of no examples is NaN
                    total_loss += batch_loss_sum(loss, len(yb), loss_fn)
                    seen += len(yb)
    finally:
        module._close()  # remove Opacus's hooks from the client's model
    state[STATE_KEY] = [[float(z), float(q), int(n)] for z, q, n in engine.accountant.history]
    if history_file is not None:
        write_history(history_file, [(z, q, n) for z, q, n in state[STATE_KEY]])
    return total_loss, seen, float(engine.accountant.get_epsilon(dp.delta))


def secret_generators(model: torch.nn.Module) -> tuple[torch.Generator, torch.Generator]:
    """Generators for DP-SGD's noise (on the model's device) and its Poisson batches (on the
    CPU, where Opacus's sampler draws), each seeded with 64 bits of operating-system entropy
    (Opacus's ``secure_mode`` would need ``torchcsprng``).

    Parameters
    ----------
    model
        The model being trained (its first parameter's device takes the noise generator).

    Returns
    -------
    tuple of torch.Generator
        The noise generator and the batch-sampling generator.
    """
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    noise = torch.Generator(device=device)
    noise.manual_seed(secrets.randbits(64))
    batches = torch.Generator()
    batches.manual_seed(secrets.randbits(64))
    return noise, batches


def _check_budget(dp: LocalDP, history: list[Entry], planned: list[Entry]) -> None:
    """Raise :class:`PrivacyBudgetExhausted` if ``planned`` (``history`` with this round's
    steps composed on, :func:`~rengo.hfl.dp_sgd_history.with_steps`) would take the client's
    epsilon past ``dp.target_epsilon``."""
    from opacus.accountants import create_accountant

    def epsilon(entries: list[Entry]) -> float:
        if not entries:
            return 0.0
        acc = create_accountant(dp.accountant)
        acc.history = list(entries)
        return float(acc.get_epsilon(dp.delta))

    spent = epsilon(history)
    following = epsilon(planned)
    if following > dp.target_epsilon:
        # Opacus merges a client's rounds into one entry: its steps say what was spent
        raise PrivacyBudgetExhausted(
            spent,
            following,
            dp.target_epsilon,
            len(history),
            spent_in=f"{steps_in(history)} DP-SGD steps",
        )
