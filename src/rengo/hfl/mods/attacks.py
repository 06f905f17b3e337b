"""Attack simulators as client mods: what a Byzantine or poisoning client does, to test a
defence against it.

Install one around the clients that attack (``for_clients(SignFlipAttack(scale=5), ids)``)
with ``simulate(..., client_mods=[...])`` or ``client_handler(client_fn, mods=[...])``:

* model poisoning, on the reply: :class:`SignFlipAttack` (the negated update, scaled;
  Damaskinos et al. 2018, Karimireddy et al. 2021), :class:`ScaledUpdateAttack` (a boosted
  update, Bhagoji et al. 2019), :class:`GaussianAttack` (a random update; Blanchard et al.
  2017's Gaussian Byzantine workers);
* data poisoning, inside local training (the batch-transform seam of
  :class:`~rengo.hfl.LocalTraining`): :class:`LabelFlipAttack` (Biggio et al. 2012) and
  :class:`BackdoorAttack` (a trigger pattern relabelled to a target class, with the update
  boosted to replace the model: Bagdasaryan et al. 2020, "How To Backdoor Federated
  Learning").

Each attack is a frozen dataclass of scalar options, registered by name
(:func:`attack_registry`), so a job file's ``[robust] attack = "sign_flip"`` builds it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from rengo.core.errors import ConfigError
from rengo.core.messages import FitResult
from rengo.core.options import OptionError, check_options, option
from rengo.core.parameters import Parameters
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, Mod, per_client_seed

AttackT = TypeVar("AttackT", bound=type)
_ATTACKS: dict[str, type] = {}


def register_attack(cls: AttackT) -> AttackT:
    """Class decorator: make an attack mod buildable by its ``name`` from job files.

    Raises
    ------
    ValueError
        If the name is missing or taken by another class.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__qualname__} needs a class attribute name = '...'")
    existing = _ATTACKS.get(name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"attack name {name!r} is already registered to {existing}")
    _ATTACKS[name] = cls
    return cls


def attack_registry() -> dict[str, type]:
    """Registered attack classes by name."""
    return dict(_ATTACKS)


def get_attack(name: str) -> type:
    """The attack class called ``name``.

    Raises
    ------
    ConfigError
        Naming the closest registered attack.
    """
    cls = _ATTACKS.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, list(_ATTACKS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown attack {name!r}; {hint}choose one of {', '.join(_ATTACKS)}")
    return cls


@dataclass(frozen=True)
class ForClients:
    """Runs ``mod`` only for the clients in ``clients``; every other call passes through.

    Attributes
    ----------
    mod
        The mod (an attack) to apply.
    clients
        Client ids it applies to.
    """

    mod: Mod
    clients: frozenset[str]
    name: ClassVar[str] = ""

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """``mod`` for the chosen clients, ``call_next`` for the others."""
        if call.client_id in self.clients:
            return self.mod(call, call_next)
        return call_next(call)


def for_clients(mod: Mod, clients: Collection[str]) -> ForClients:
    """``mod`` restricted to ``clients`` (the attackers).

    Parameters
    ----------
    mod
        An attack (or any mod).
    clients
        The ids it acts for.

    Returns
    -------
    ForClients
        A mod to install on every client.

    Raises
    ------
    ValueError
        If ``clients`` is empty.
    """
    chosen = frozenset(str(c) for c in clients)
    if not chosen:
        raise ValueError("for_clients needs at least one client id")
    return ForClients(mod, chosen)


def _replace_update(
    call: ClientCall, reply: FitResult, make: Callable[[list[np.ndarray]], list[np.ndarray]]
) -> FitResult:
    """``reply`` with its model's update ``delta`` replaced by ``make(delta)`` (float64 math,
    each array back in its dtype; extra arrays pass unchanged)."""
    reference = call.parameters
    n = len(reference)
    model = reply.parameters[:n]
    deltas = [
        np.asarray(m, np.float64) - np.asarray(r, np.float64)
        for m, r in zip(model, reference, strict=True)
    ]
    poisoned: Parameters = [
        np.asarray(np.asarray(r, np.float64) + d).astype(np.asarray(m).dtype, copy=False)
        for r, d, m in zip(reference, make(deltas), model, strict=True)
    ]
    return FitResult([*poisoned, *reply.parameters[n:]], reply.num_examples, reply.metrics)


class _UpdateAttack:
    """Base of the attacks that rewrite the update after honest training."""

    name: ClassVar[str] = ""
    stages: ClassVar[frozenset[str]] = frozenset()

    def poison(self, deltas: list[np.ndarray], call: ClientCall) -> list[np.ndarray]:
        raise NotImplementedError

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Train honestly, then send the poisoned update."""
        reply = call_next(call)
        if call.key != FIT or not isinstance(reply, FitResult):
            return reply
        return _replace_update(call, reply, lambda deltas: self.poison(deltas, call))


@register_attack
@dataclass(frozen=True)
class ScaledUpdateAttack(_UpdateAttack):
    """Sends its honest update multiplied by ``factor`` (boosting, Bhagoji et al. 2019;
    negative factors reverse it)."""

    factor: float = option(10.0, "Multiplier of the honest update (negative: reversed).")
    name: ClassVar[str] = "scaled_update"

    def __post_init__(self) -> None:
        check_options(self)

    def poison(self, deltas: list[np.ndarray], call: ClientCall) -> list[np.ndarray]:
        """``factor * delta``."""
        return [self.factor * d for d in deltas]


@register_attack
@dataclass(frozen=True)
class SignFlipAttack(_UpdateAttack):
    """Sends ``-scale`` times its honest update (the sign-flipping attack; ``scale = 5`` is the
    benchmark's "negated update x5")."""

    scale: float = option(1.0, "How many times the honest update, negated, is sent.")
    name: ClassVar[str] = "sign_flip"

    def __post_init__(self) -> None:
        check_options(self)
        if not self.scale > 0:
            raise OptionError("scale", f"must be > 0, got {self.scale}")

    def poison(self, deltas: list[np.ndarray], call: ClientCall) -> list[np.ndarray]:
        """``-scale * delta``."""
        return [-self.scale * d for d in deltas]


@register_attack
@dataclass(frozen=True)
class GaussianAttack(_UpdateAttack):
    """Sends a random update ``N(0, stddev^2)`` per coordinate instead of its own, seeded by the
    coordinator's per-client seed (reproducible; attackers send different noise even where an
    ``on_fit_config`` gives every client one ``"seed"``)."""

    stddev: float = option(1.0, "Standard deviation of the random update.")
    name: ClassVar[str] = "gaussian"

    def __post_init__(self) -> None:
        check_options(self)
        if not self.stddev > 0:
            raise OptionError("stddev", f"must be > 0, got {self.stddev}")

    def poison(self, deltas: list[np.ndarray], call: ClientCall) -> list[np.ndarray]:
        """Fresh Gaussian arrays shaped like the update."""
        seed = per_client_seed(call.config)  # the coordinator's: attackers' noise differs
        rng = np.random.default_rng([int(seed) if isinstance(seed, (int, float)) else 0, 0xBAD])
        return [rng.normal(0.0, self.stddev, size=d.shape) for d in deltas]


@register_attack
@dataclass(frozen=True)
class LabelFlipAttack:
    """Trains on labels ``num_classes - 1 - y`` (label flipping, Biggio et al. 2012)."""

    num_classes: int = option(10, "Classes of the task (labels 0 .. num_classes - 1).")
    name: ClassVar[str] = "label_flip"
    stages: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        check_options(self)
        if self.num_classes < 2:
            raise OptionError("num_classes", f"must be >= 2, got {self.num_classes}")

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Install the label flip for this fit's local training."""
        if call.key == FIT:
            top = self.num_classes - 1
            call.local_training.batch_transforms.append(lambda x, y: (x, top - y))
        return call_next(call)


@register_attack
@dataclass(frozen=True)
class BackdoorAttack(_UpdateAttack):
    """Plants a backdoor: a ``fraction`` of every batch gets the trigger (its last
    ``trigger_size`` features set to ``trigger_value``) and the label ``target_label``; the
    resulting update is multiplied by ``boost`` to survive averaging (model replacement,
    Bagdasaryan et al. 2020).
    """

    target_label: int = option(0, "The class triggered inputs should be predicted as.")
    trigger_size: int = option(4, "How many trailing features carry the trigger.")
    trigger_value: float = option(3.0, "The value the trigger sets them to.")
    fraction: float = option(0.5, "Share of each batch that is poisoned.")
    boost: float = option(1.0, "Multiplier of the poisoned update (model replacement: ~clients).")
    name: ClassVar[str] = "backdoor"

    def __post_init__(self) -> None:
        check_options(self)
        if self.target_label < 0:  # -1 indexed the last class silently
            raise OptionError("target_label", f"must be a class, >= 0, got {self.target_label}")
        if self.trigger_size < 1:
            raise OptionError("trigger_size", f"must be >= 1, got {self.trigger_size}")
        if not 0.0 < self.fraction <= 1.0:
            raise OptionError("fraction", f"must be in (0, 1], got {self.fraction}")

    def stamp(self, inputs: Any, labels: Any) -> tuple[Any, Any]:
        """The batch with its first ``ceil(fraction * n)`` rows triggered and relabelled (new
        arrays or tensors; the originals are untouched)."""
        rows = math.ceil(self.fraction * len(labels))
        x = inputs.clone() if hasattr(inputs, "clone") else np.array(inputs, copy=True)
        y = labels.clone() if hasattr(labels, "clone") else np.array(labels, copy=True)
        x[:rows, -self.trigger_size :] = self.trigger_value
        y[:rows] = self.target_label
        return x, y

    def poison(self, deltas: list[np.ndarray], call: ClientCall) -> list[np.ndarray]:
        """``boost * delta`` of the backdoored training."""
        return [self.boost * d for d in deltas]

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Train on triggered batches, then boost the update."""
        if call.key == FIT:
            call.local_training.batch_transforms.append(self.stamp)
        return super().__call__(call, call_next)


def attack_mods(
    name: str, client_ids: Sequence[str], options: dict[str, Any] | None = None
) -> list[Mod]:
    """The mods that make ``client_ids`` run attack ``name`` with ``options``.

    Raises
    ------
    ConfigError
        For an unknown attack or option, or a value the attack refuses.
    """
    from rengo.core.options import options_from_mapping

    cls = get_attack(name)
    attack: Mod = options_from_mapping(cls, options or {}, label=lambda k: f"robust.{k}")
    return [for_clients(attack, client_ids)] if client_ids else []
