"""Personalised FL: strategies whose clients keep part of the model, or a model of their own.

When clients' distributions, sizes and label sets differ, one global model serves the
average client and fails many others. These strategies aggregate like FedAvg but ask for a
client mod that personalises each client (the personal part never leaves it), and evaluate
every client on its own data by default (``fraction_evaluate = 1``), so the run store keeps
each client's accuracy:

* :class:`FedPer` (Arivazhagan et al. 2019): personal head, shared body;
* :class:`FedRep` (Collins et al. 2021): personal head trained first, then the shared body;
* :class:`FedBN` (Li et al. 2021): batch-norm arrays stay local (feature shift);
* :class:`Ditto` (Li et al. 2021): a personal model pulled towards the global one;
* :class:`FedAvgFineTune`: FedAvg, each client evaluated after fine-tuning locally.

Which arrays are personal is ``personal_arrays``: comma-separated positions in the
parameter list (``state_dict`` order for torch), negative from the end (``"-2,-1"`` is the
last linear layer's weight and bias; :func:`rengo.hfl.torch_layers.batch_norm_arrays` lists
a torch model's batch-norm positions).

Contribution accounting (``[contribution]``, a :class:`rengo.valuation.ContributionTracker`)
values the coordinator's global model on its held-out set. Under these strategies that is not
the model any client uses: its personal arrays are the initial ones and never train (FedPer,
FedRep, FedBN), or each client uses a personal or fine-tuned model instead (Ditto,
FedAvgFineTune). The values then measure each client's effect on the shared model, not on
the personalised models or the clients' own accuracy (the per-client evaluation metrics
show those); :func:`personalised_valuation_caveat` says so, and ``simulate`` with
observers, and a job's contribution tracker, warn with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rengo.core.messages import Config, EvaluateIns
from rengo.core.parameters import Parameters
from rengo.hfl.mods.ditto import EPOCHS_KEY as DITTO_EPOCHS_KEY
from rengo.hfl.mods.ditto import LAMBDA_KEY, DittoMod
from rengo.hfl.mods.fedrep import BODY_EPOCHS_KEY, HEAD_EPOCHS_KEY, FedRepMod
from rengo.hfl.mods.finetune import EPOCHS_KEY as FINETUNE_EPOCHS_KEY
from rengo.hfl.mods.finetune import LR_KEY, SEED_KEY, FineTuneMod
from rengo.hfl.mods.local_layers import PERSONAL_KEY, LocalLayersMod, parse_indices
from rengo.hfl.strategy.base import wrapped_strategies
from rengo.hfl.strategy.fedavg import FedAvg
from rengo.hfl.strategy.registry import register_strategy


@dataclass
class _PersonalEvaluation(FedAvg):
    """FedAvg that evaluates every client by default (per-client metrics)."""

    fraction_evaluate: float = 1.0
    min_evaluate_clients: int = 1

    def global_model_note(self) -> str:
        """How the coordinator's global model differs from what the clients use."""
        return (
            f"{type(self).__name__} personalises each client's model, so the coordinator's "
            "global model is not what the clients use"
        )


@register_strategy
@dataclass
class FedPer(_PersonalEvaluation):
    """FedAvg with personal layers that never leave the clients (Arivazhagan et al. 2019).

    Parameters
    ----------
    personal_arrays
        The personal arrays' positions, e.g. ``"-2,-1"`` (the head).
    """

    personal_arrays: str = "-2,-1"

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_indices(self.personal_arrays, "personal_arrays")

    def fit_config(self, server_round: int) -> Config:
        """The round config plus ``personal_arrays``."""
        return {**super().fit_config(server_round), PERSONAL_KEY: self.personal_arrays}

    def configure_evaluate(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, EvaluateIns]]:
        """Every sampled client evaluates with its own personal arrays."""
        out = super().configure_evaluate(server_round, parameters, client_ids, rng)
        for _, ins in out:
            ins.config[PERSONAL_KEY] = self.personal_arrays
        return out

    def client_mods(self) -> tuple[str, ...]:
        """The clients keep their personal arrays (:class:`LocalLayersMod`)."""
        return (*super().client_mods(), LocalLayersMod.name)

    def global_model_note(self) -> str:
        """The personal arrays of the coordinator's model are the initial ones."""
        return (
            f"{type(self).__name__} keeps arrays {self.personal_arrays} (personal_arrays) on "
            "each client, so the coordinator's copy of them is the initial one and never trains"
        )


@register_strategy
@dataclass
class FedBN(FedPer):
    """FedAvg whose batch-norm arrays stay on each client (Li et al. 2021, FedBN).

    Parameters
    ----------
    personal_arrays
        The batch-norm arrays' positions (weights, biases, running statistics), e.g. from
        :func:`rengo.hfl.torch_layers.batch_norm_arrays`.
    """

    personal_arrays: str = field(default="")

    def __post_init__(self) -> None:
        if not self.personal_arrays:
            raise ValueError(
                "FedBN needs personal_arrays: the batch-norm arrays' positions (for a torch "
                "model, ','.join(map(str, rengo.hfl.torch_layers.batch_norm_arrays(model))))"
            )
        super().__post_init__()


@register_strategy
@dataclass
class FedRep(FedPer):
    """Shared representation, personal heads trained first (Collins et al. 2021, FedRep).

    Parameters
    ----------
    personal_arrays
        The head's positions, e.g. ``"-2,-1"``.
    head_epochs, body_epochs
        Local epochs training the head (body frozen), then the body (head frozen).
    """

    head_epochs: int = 1
    body_epochs: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.head_epochs, self.body_epochs) < 0 or self.head_epochs + self.body_epochs < 1:
            raise ValueError("head_epochs and body_epochs must be >= 0, and not both 0")

    def fit_config(self, server_round: int) -> Config:
        """The round config plus the head and body epochs."""
        config = super().fit_config(server_round)
        config[HEAD_EPOCHS_KEY] = self.head_epochs
        config[BODY_EPOCHS_KEY] = self.body_epochs
        return config

    def client_mods(self) -> tuple[str, ...]:
        """FedRep's clients alternate head and body training (:class:`FedRepMod`)."""
        return (*FedAvg.client_mods(self), FedRepMod.name)


@register_strategy
@dataclass
class Ditto(_PersonalEvaluation):
    """FedAvg whose clients also train personal models pulled towards it (Li et al. 2021).

    Parameters
    ----------
    ditto_lambda
        The pull ``lambda`` of ``(lambda / 2) ||v - w||^2`` on each personal model.
    personal_epochs
        Local epochs of the personal model per round.
    """

    ditto_lambda: float = 0.1
    personal_epochs: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ditto_lambda < 0:
            raise ValueError(f"ditto_lambda must be >= 0, got {self.ditto_lambda}")
        if self.personal_epochs < 0:
            raise ValueError(f"personal_epochs must be >= 0, got {self.personal_epochs}")

    def fit_config(self, server_round: int) -> Config:
        """The round config plus lambda and the personal epochs."""
        config = super().fit_config(server_round)
        config[LAMBDA_KEY] = float(self.ditto_lambda)
        config[DITTO_EPOCHS_KEY] = self.personal_epochs
        return config

    def client_mods(self) -> tuple[str, ...]:
        """Ditto's clients keep personal models (:class:`DittoMod`)."""
        return (*super().client_mods(), DittoMod.name)

    def global_model_note(self) -> str:
        """The clients use personal models, not the coordinator's."""
        return (
            "Ditto trains a personal model on each client that never leaves it, and the "
            "clients use and evaluate that model, not the coordinator's global model"
        )


@register_strategy
@dataclass
class FedAvgFineTune(_PersonalEvaluation):
    """FedAvg, each client evaluated after fine-tuning the global model on its own data.

    Parameters
    ----------
    finetune_epochs
        Local epochs of fine-tuning before each client's evaluation.
    finetune_lr
        Fine-tuning's learning rate (``None``: the client's own).
    """

    finetune_epochs: int = 1
    finetune_lr: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.finetune_epochs < 0:
            raise ValueError(f"finetune_epochs must be >= 0, got {self.finetune_epochs}")

    def configure_evaluate(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, EvaluateIns]]:
        """Each client's evaluation config says how to fine-tune (with its own seed)."""
        out = super().configure_evaluate(server_round, parameters, client_ids, rng)
        base = int(rng.integers(2**31))  # the round's generator: derived from the run seed
        for k, (_, ins) in enumerate(out):
            ins.config[FINETUNE_EPOCHS_KEY] = self.finetune_epochs
            ins.config[SEED_KEY] = int(np.random.SeedSequence([base, k]).generate_state(1)[0])
            if self.finetune_lr is not None:
                ins.config[LR_KEY] = float(self.finetune_lr)
        return out

    def client_mods(self) -> tuple[str, ...]:
        """The clients fine-tune before evaluating (:class:`FineTuneMod`)."""
        return (*super().client_mods(), FineTuneMod.name)

    def global_model_note(self) -> str:
        """The clients use the global model only after fine-tuning it."""
        return (
            "FedAvgFineTune fine-tunes the global model on each client before the client uses "
            "and evaluates it, so the coordinator's model is the one before fine-tuning"
        )


def personalised_valuation_caveat(strategy: object) -> str | None:
    """What contribution values mean under ``strategy`` if it personalises (None if not).

    Contribution accounting values the coordinator's global model; under a personalising
    strategy (found also inside wrappers that hold it as ``.strategy``, such as
    :class:`~rengo.hfl.DifferentialPrivacy`) that model is not what the clients use.

    Parameters
    ----------
    strategy
        The run's strategy.

    Returns
    -------
    str or None
        A sentence naming the strategy and what the values then measure, or None for a
        strategy that does not personalise.
    """
    for inner in wrapped_strategies(strategy):
        if isinstance(inner, _PersonalEvaluation):
            return (
                f"{inner.global_model_note()}. Contribution values are computed on the "
                "coordinator's global model and its held-out set: they measure each client's "
                "effect on the shared model, not on the personalised models the clients use or "
                "on their own accuracy (see the per-client evaluation metrics for that)"
            )
    return None
