"""Simulated dropouts and stragglers: cross-device clients that miss rounds, reproducibly.

A phone that loses its connection or battery never replies; one that is too slow misses the
round's deadline. Real sleeps and ``round_timeout`` reproduce that only as well as the
machine's timing does (a loaded machine drops other clients), and they cost the wall time
they simulate. :class:`SimulatedDropout` decides instead from the round's client seed
(:func:`rengo.hfl.client_seed`: the run seed, the round and the client id), so the same seed
drops the same clients in the same rounds on every executor, loaded or not, and a dropped
client costs nothing: it fails before it trains. Install it on every client::

    simulate(..., client_mods=[SimulatedDropout(dropout=0.1, stragglers=0.05)])

or on some of them (``for_clients(SimulatedDropout(dropout=0.5), flaky_ids)``); a job
file's ``[dropout]`` section does the first. A dropped client is a failed client of that
round, as a crash is: the round goes on with the others and fails only when fewer than the
strategy's ``min_fit_clients`` replied; the run store records it with its reason
(``dropped out (simulated, dropout=0.1)``, ``missed the round deadline (simulated
straggler, stragglers=0.05)``), as ``rengo runs show`` lists.

Each sampled client's fate in a round is one uniform draw ``u``: it drops out when
``u < dropout``, straggles when ``dropout <= u < dropout + stragglers``. So a client that
dropped out of a round's training also misses that round's evaluation (the same draw), and
the expected share of sampled clients lost per round is ``dropout + stragglers``. The draw
uses the coordinator's own client seed (``config["coordinator_seed"]``), not the training
``"seed"`` a user's ``on_fit_config`` may return, and mixes it with the round
(``config["server_round"]``) and the client id again: the coordinator sets both keys on both
phases, in each client's own config, replacing (with a warning) a round config's other value,
so no round config parts a round's fit and evaluation draws or makes clients drop together.

Under SecAgg+ the mod sees a client's fit only in the masked-input stage: every simulated
loss happens after the client advertised its keys and delivered its shares and before it
masks (losses during the key exchange or at unmasking are not simulated), and such a client
still costs its part of the key agreement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError, RengoError
from rengo.core.options import OptionError, check_options, option
from rengo.hfl.mods.chain import (
    COORDINATOR_SEED_KEY,
    EVALUATE,
    EVALUATION_FIT_KEY,
    FIT,
    CallNext,
    ClientCall,
)

_STREAM = 0x64726F70  # "drop": keeps these draws apart from the client's own training seed


class SimulatedClientLoss(RengoError):
    """A client :class:`SimulatedDropout` took out of a round (its message is the reason)."""


# named where users import it: a lost client's recorded reason reads
# "raised rengo.hfl.SimulatedClientLoss: dropped out (simulated, dropout=0.1)"
SimulatedClientLoss.__module__ = "rengo.hfl"


@dataclass(frozen=True)
class SimulatedDropout:
    """Drop sampled clients from rounds at random, reproducibly from the run seed.

    Parameters
    ----------
    dropout
        Probability that a sampled client goes offline in a round (replies to nothing).
    stragglers
        Probability that a sampled client is too slow and misses the round's deadline.
    evaluate
        Whether a client lost from a round also misses that round's evaluation (it is the
        same device, offline or slow); False drops training fits only (not a fit made inside
        an evaluation, such as :class:`rengo.hfl.mods.FineTuneMod`'s fine-tuning).

    Raises
    ------
    OptionError
        For a rate outside [0, 1], or ``dropout + stragglers`` above 1.
    """

    dropout: float = option(
        0.0, "Probability that a sampled client drops out of a round.", ge=0.0, le=1.0
    )
    stragglers: float = option(
        0.0, "Probability that a sampled client misses the round's deadline.", ge=0.0, le=1.0
    )
    evaluate: bool = option(True, "Whether a lost client also misses the round's evaluation.")
    name: ClassVar[str] = "simulated_dropout"
    stages: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        check_options(self)
        if self.dropout + self.stragglers > 1.0:
            raise OptionError(
                "stragglers",
                f"dropout + stragglers must be at most 1, got {self.dropout} + {self.stragglers}",
            )

    def loss_reason(self, seed: int, client_id: str = "", server_round: int = 0) -> str | None:
        """Why the client ``client_id`` is lost from round ``server_round`` whose seed is
        ``seed``, or None when it takes part. The draw mixes all three with this mod's own
        tag, so no round config can make clients drop together: a user's ``on_fit_config``
        returning ``{"seed": 1234}`` (which the coordinator keeps) gave every client the same
        seed, and every sampled client dropped out in the same rounds.

        Parameters
        ----------
        seed
            The round's client seed (:func:`rengo.hfl.client_seed`; the coordinator sends it
            as ``config["coordinator_seed"]``).
        client_id
            The client the draw is for.
        server_round
            The round (``config["server_round"]``).

        Returns
        -------
        str or None
            ``"dropped out (simulated, dropout=p)"``, ``"missed the round deadline
            (simulated straggler, stragglers=p)"`` or None.
        """
        digest = hashlib.blake2b(client_id.encode(), digest_size=8).digest()
        entropy = [seed, server_round, int.from_bytes(digest, "little"), _STREAM]
        u = float(np.random.default_rng(entropy).random())
        if u < self.dropout:
            return f"dropped out (simulated, dropout={self.dropout:g})"
        if u < self.dropout + self.stragglers:
            rate = f"stragglers={self.stragglers:g}"
            return f"missed the round deadline (simulated straggler, {rate})"
        return None

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Raise :class:`SimulatedClientLoss` before the client trains (or evaluates) when
        the round's draw takes it out; otherwise pass the call on."""
        # a fit run inside an evaluation (FineTuneMod's fine-tuning) belongs to the evaluation
        evaluating = call.key == EVALUATE or (
            call.key == FIT and call.config.get(EVALUATION_FIT_KEY) is True
        )
        if (call.key == FIT and not evaluating) or (evaluating and self.evaluate):
            # the coordinator's seed, the same in both phases; "seed" (which a user's
            # on_fit_config may replace in the fit only) where a caller sent no such key
            key = COORDINATOR_SEED_KEY if COORDINATOR_SEED_KEY in call.config else "seed"
            seed = call.config.get(key)
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise ProtocolError(
                    f"client {call.client_id}: SimulatedDropout needs the round's client seed "
                    f"(config[{key!r}], set by the coordinator), got {seed!r}"
                )
            server_round = call.config.get("server_round", 0)
            if isinstance(server_round, bool) or not isinstance(server_round, (int, np.integer)):
                raise ProtocolError(
                    f"client {call.client_id}: SimulatedDropout needs the round's number "
                    f"(config['server_round'], set by the coordinator), got {server_round!r}"
                )
            reason = self.loss_reason(int(seed), call.client_id, int(server_round))
            if reason is not None:
                raise SimulatedClientLoss(reason)
        return call_next(call)
