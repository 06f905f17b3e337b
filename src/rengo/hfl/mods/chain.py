"""Client mods: middleware around a client, each seeing the request and the reply.

A mod is any callable ``mod(call, call_next) -> reply`` (Flower calls them mods). It may change
the request before passing it on, install gradient corrections for local training
(:class:`~rengo.hfl.local_training.LocalTraining`), keep per-client memory in ``call.state``
(persisted between rounds and between the stages of a round by whatever runs the client), and
change the reply on the way back. A mod may also *own* message keys (``stages``): the stages of
a multi-stage round workflow go straight to the mod that owns them, which calls
``call_next`` with a ``fit`` when it needs the client to train; that fit runs the mods its
round config requests, then every other installed mod, in order, wherever the owner was
installed among them (an installed mod still stands in for a requested one of its name, so no
mod runs twice).

Mods come from two places, in this order around the client (outermost first):

1. mods the coordinator's strategy or workflow asks for by name (registered with
   :func:`register_mod`; their settings travel in the round config), so FedProx, SCAFFOLD or
   secure aggregation work without any change to the user's code, in simulation and deployed;
2. mods the client's owner installs (``client_handler(client_fn, mods=[...])``): attack
   simulators, personal layers, local privacy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, TypeVar

from rengo.core.errors import ConfigError, ProtocolError
from rengo.core.messages import Config, EvaluateIns, FitIns
from rengo.core.parameters import Parameters
from rengo.hfl.local_training import LocalTraining

FIT = "fit"
EVALUATE = "evaluate"
MODS_KEY = "client_mods"
"""Round-config key naming the registered mods a strategy or workflow needs (comma-separated);
the client handler removes it before the mods and the client see the config."""
COORDINATOR_SEED_KEY = "coordinator_seed"
"""Round-config key the coordinator sets on every fit and evaluation instruction to its own
client seed (:func:`rengo.hfl.client_seed` of the run seed, the round and the client), in
each client's own copy of the config. A different value a strategy's config put there is
replaced, with a warning (as is a ``"server_round"`` other than the round, which the
coordinator also sets). ``"seed"`` is the client's training seed, which an ``on_fit_config``
may replace; mods that must draw the same in both phases of a round
(:class:`rengo.hfl.SimulatedDropout`) draw from this key instead."""

EVALUATION_FIT_KEY = "evaluation_fit"
"""Config key a mod sets (to True) on a fit it runs inside an evaluation, such as
:class:`rengo.hfl.mods.FineTuneMod`'s fine-tuning: mods that treat the two phases apart
(:class:`rengo.hfl.SimulatedDropout` with ``evaluate=False``) take that fit as part of the
evaluation. The client sees it in its fit config. The key is the mods' own: the coordinator
removes it, with a warning, from the config of every training fit (a round config that set it
would stop :class:`rengo.hfl.SimulatedDropout` losing clients from training)."""


def per_client_seed(config: Config) -> Any:
    """The round's per-client seed a mod draws from: the coordinator's
    (:data:`COORDINATOR_SEED_KEY`), which no round config can replace, else the training
    ``"seed"`` (a caller with no coordinator, such as a test calling a client directly), else
    None. A user's ``on_fit_config`` may give every client one ``"seed"``; drawing from it
    would give every client the same randomness."""
    if COORDINATOR_SEED_KEY in config:
        return config[COORDINATOR_SEED_KEY]
    return config.get("seed")


@dataclass
class ClientCall:
    """One message on its way to a client, as the mods see it.

    Attributes
    ----------
    client_id
        The client the message is for.
    key
        ``"fit"``, ``"evaluate"`` or a workflow's stage key.
    message
        The decoded message: :class:`FitIns`, :class:`EvaluateIns` or a stage's payload.
    state
        The client's persisted state (codec-encodable values). Mods keep their own entries
        under their own keys; the client sees the same dict as ``Client.state``.
    local_training
        Corrections and frozen arrays for this call's local training, and what the client
        reports back (steps, learning rate).
    """

    client_id: str
    key: str
    message: Any
    state: dict[str, Any]
    local_training: LocalTraining = field(default_factory=LocalTraining)

    @property
    def config(self) -> Config:
        """The round config of a fit or evaluate message (empty for stage messages)."""
        if isinstance(self.message, (FitIns, EvaluateIns)):
            return self.message.config
        return {}

    @property
    def parameters(self) -> Parameters:
        """The global model a fit or evaluate message carries."""
        if not isinstance(self.message, (FitIns, EvaluateIns)):
            raise ProtocolError(f"message {self.key!r} carries no model")
        return self.message.parameters

    def forward(self, key: str, message: Any) -> ClientCall:
        """The same call with another key and message (sharing state and local training)."""
        return replace(self, key=key, message=message)


CallNext = Callable[[ClientCall], Any]
"""The rest of the chain: the mods inside this one, then the client."""


class Mod(Protocol):
    """Client middleware: ``mod(call, call_next)`` returns the reply to ``call``.

    Call ``call_next(call)`` (or ``call_next(call.forward(...))``) to reach the client, or
    answer without it (a stage the mod owns). Optional attributes: ``name`` (how strategies
    request it) and ``stages`` (message keys it answers).
    """

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """The reply to ``call``."""
        ...


ModT = TypeVar("ModT", bound=type)

_BY_NAME: dict[str, type] = {}
_BY_STAGE: dict[str, type] = {}


def register_mod(cls: ModT) -> ModT:
    """Class decorator: make a mod requestable by name (``cls.name``) and owner of its stages.

    The class must construct with no arguments (its settings come from the round config) and
    define ``name: ClassVar[str]``; ``stages: ClassVar[frozenset[str]]`` is optional.

    Raises
    ------
    ValueError
        If the name or one of the stage keys is already registered to another class.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__qualname__} needs a class attribute name = '...' to register")
    existing = _BY_NAME.get(name)
    if existing is not None and _qualified(existing) != _qualified(cls):
        raise ValueError(f"client mod name {name!r} is already registered to {existing}")
    for stage in _stages_of(cls):
        owner = _BY_STAGE.get(stage)
        if owner is not None and _qualified(owner) != _qualified(cls):
            raise ValueError(f"stage key {stage!r} is already owned by client mod {owner}")
        if stage in (FIT, EVALUATE):
            raise ValueError(f"{cls.__qualname__} cannot own the {stage!r} key")
    _BY_NAME[name] = cls
    for stage in _stages_of(cls):
        _BY_STAGE[stage] = cls
    return cls


def registered_mods() -> dict[str, type]:
    """Registered mod classes by name."""
    return dict(_BY_NAME)


def requested_mod_names(config: Config) -> tuple[str, ...]:
    """The mod names a round config asks for (see :data:`MODS_KEY`)."""
    value = config.get(MODS_KEY)
    if value is None:
        return ()
    if not isinstance(value, str):
        raise ProtocolError(f"config[{MODS_KEY!r}] must be a comma-separated string")
    return tuple(n for n in (part.strip() for part in value.split(",")) if n)


def mods_config_value(names: Sequence[str]) -> str:
    """How :data:`MODS_KEY` carries ``names`` in a round config."""
    for name in names:
        if "," in name or not name.strip():
            raise ConfigError(f"client mod name {name!r} is empty or contains a comma")
    return ",".join(names)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _stages_of(mod: object) -> frozenset[str]:
    stages: frozenset[str] = frozenset(getattr(mod, "stages", ()))
    return stages


def _name_of(mod: object) -> str | None:
    name: object = getattr(mod, "name", None)
    return name if isinstance(name, str) else None


OUTERMOST = "outermost"
"""A mod whose attribute of this name is True runs outside the mods the round config
requests (Ditto's, FedRep's, which call ``call_next`` more than once per fit): once per
fit, seeing the reply the coordinator gets, as a report of the round needs."""


class ModChain:
    """Runs a call through the requested and the installed mods, then the client.

    Requested mods (named in the round config) are instantiated from the registry once and
    reused; an installed mod with the same name stands in for a requested one.
    """

    def __init__(self, mods: Sequence[Mod] = ()) -> None:
        self._installed = list(mods)
        for mod in self._installed:
            if not callable(mod):
                raise TypeError(f"client mod {mod!r} is not callable")
        self._names = {n for n in map(_name_of, self._installed) if n is not None}
        self._instances: dict[type, Mod] = {}

    def run(self, call: ClientCall, client: CallNext) -> Any:
        """The reply to ``call``: through the mods to ``client`` (the innermost step).

        A stage message goes to the mod that owns it first; the ``fit`` the owner passes to
        ``call_next`` then runs the mods its round config requests and every other installed
        mod, in order, as a plain fit would. An installed mod with a requested mod's name
        stands in for it there too, so no mod runs twice in one call. A mod that itself
        calls ``call_next`` more than once (Ditto: the global then the personal update;
        FedRep: one call per phase) runs the mods inside it once per such call: twice in
        one round.
        """
        if call.key in (FIT, EVALUATE):
            return _step(self._with_requested(call, self._installed, None), 0, client)(call)
        owner, others = self._owner_and_others(call.key)
        owner_name = _name_of(owner)

        def inside_owner(inner: ClientCall) -> Any:
            mods = others
            if inner.key in (FIT, EVALUATE):
                mods = self._with_requested(inner, others, owner_name)
            return _step(mods, 0, client)(inner)

        return owner(call, inside_owner)

    def _with_requested(
        self, call: ClientCall, installed: list[Mod], owner_name: str | None
    ) -> list[Mod]:
        """The mods ``call``'s round config requests (removing the request from it), except
        those an installed mod or the stage's owner stands in for, then ``installed``; an
        installed mod whose :data:`OUTERMOST` attribute is True goes before them all."""
        requested: tuple[str, ...] = ()
        if isinstance(call.message, (FitIns, EvaluateIns)) and MODS_KEY in call.message.config:
            requested = requested_mod_names(call.message.config)
            del call.message.config[MODS_KEY]
        skip = self._names | ({owner_name} if owner_name is not None else set())
        wanted = [self._instance(n) for n in dict.fromkeys(requested) if n not in skip]
        # an installed mod that reports the whole call (rengo party's round report) wraps
        # the requested mods, so it runs once a round even where Ditto or FedRep fit twice
        outer = [m for m in installed if getattr(m, OUTERMOST, False) is True]
        return outer + wanted + [m for m in installed if getattr(m, OUTERMOST, False) is not True]

    def _instance(self, name: str) -> Mod:
        cls = _BY_NAME.get(name)
        if cls is None:
            known = ", ".join(sorted(_BY_NAME)) or "none"
            raise ProtocolError(
                f"the coordinator asks for client mod {name!r}, which this client does not "
                f"have (registered: {known}); upgrade rengo here or import the module that "
                "registers it"
            )
        return self._cached(cls)

    def _cached(self, cls: type) -> Mod:
        mod = self._instances.get(cls)
        if mod is None:
            mod = cls()
            self._instances[cls] = mod
        return mod

    def _owner_and_others(self, key: str) -> tuple[Mod, list[Mod]]:
        """The mod that owns stage ``key`` (installed, else the registered one) and every
        other installed mod, in order: a stage goes straight to its owner, and the fit the
        owner runs through ``call_next`` passes every installed mod, also those installed
        outside it. (Those were skipped: a party whose signing secure-aggregation mod sat
        inside ``rengo party``'s round report printed no line, nor its local-DP epsilon.)"""
        for i, mod in enumerate(self._installed):
            if key in _stages_of(mod):
                return mod, [*self._installed[:i], *self._installed[i + 1 :]]
        cls = _BY_STAGE.get(key)
        if cls is None:
            raise ProtocolError(
                f"unknown message key {key!r}: no client mod owns it (registered stage keys: "
                f"{', '.join(sorted(_BY_STAGE)) or 'none'})"
            )
        return self._cached(cls), list(self._installed)


def _step(mods: Sequence[Mod], index: int, client: CallNext) -> CallNext:
    if index == len(mods):
        return client
    mod, inner = mods[index], _step(mods, index + 1, client)

    def call_mod(call: ClientCall) -> Any:
        return mod(call, inner)

    return call_mod


class ClientMod:
    """Convenience base for class-based mods: a ``name``, the ``stages`` it owns, and
    ``__call__``. Any callable with the same signature is a mod too."""

    name: ClassVar[str] = ""
    stages: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Pass ``call`` on unchanged (override to act)."""
        return call_next(call)
