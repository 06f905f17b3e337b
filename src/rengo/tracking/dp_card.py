"""A DP run's privacy settings as a data-protection officer reads them off a model card.

For central DP: what the mechanism protects, each setting its epsilon follows from, and what
the run spent, from the run's recorded ``dp`` settings (every horizontal run with central DP
records them: ``rengo run``, ``simulate`` and a deployed coordinator alike) and its round
metrics. For a job with local DP: what the run released that no client's epsilon covers (the
epsilon itself is the card's "differential privacy spent" row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.skipped_round import skipped_rounds
from rengo.hfl.privacy_record import DP_ACCOUNTING, RESUMED_UNDER
from rengo.privacy import pld_grid_step
from rengo.tracking.records import RunInfo
from rengo.tracking.store import RunStore
from rengo.tracking.tables import accounted_differs, released_unrecorded

CENTRAL_MECHANISM = (
    "central DP (DP-FedAvg, McMahan et al. 2018): the coordinator clips each client's update "
    "to L2 norm C and adds Gaussian noise to their sum; client-level, so epsilon bounds what "
    "the released models and dp_* metrics reveal about any one client's whole dataset "
    "(one client added or removed)"
)
Z_ROW = "noise multiplier z (the round as a whole)"
"""The card row of the multiplier the accountant composes (under adaptive clipping the
update sum's own multiplier, the row below it, is larger)."""
RECHECK_EVENT = "SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(z)), k)"
"""The ``dp_accounting`` event a run's epsilon is the bound of: ``k`` rounds, each a
Gaussian mechanism of multiplier ``z`` on a Poisson sample of rate ``q``."""


def central_dp_rows(store: RunStore, run: RunInfo) -> list[tuple[str, Any]]:
    """The model card's rows for a run with central DP; none for any other run.

    Parameters
    ----------
    store
        The run store (for the round metrics the mechanism logged).
    run
        The run, as read from ``store``.

    Returns
    -------
    list of (str, value)
        One ``(fact, value)`` row per setting, the value ``None`` where the record lacks it.
    """
    dp = run.config.get("dp")
    if not isinstance(dp, Mapping) or dp.get("kind") != "central":
        return []
    series = store.round_metrics(run.run_id)
    resumed = [e.message for e in store.events(run.run_id) if e.message.startswith(RESUMED_UNDER)]

    def last(metric: str) -> float | None:
        values = series.get(metric)
        return values[-1][1] if values else None

    return [
        ("mechanism", CENTRAL_MECHANISM),
        ("clip norm C", _clip_norm(dp, last("dp_clip_norm"))),
        ("where updates are clipped", dp.get("clip_at")),
        (Z_ROW, dp.get("noise_multiplier")),
        ("update noise multiplier", _update_noise(dp, last("dp_update_noise_multiplier"))),
        ("client sampling", _sampling(dp.get("sampling_rate"))),
        ("client weights", _weights(dp)),
        ("delta", dp.get("delta")),
        ("accountant", _accountant(dp, run.config.get(DP_ACCOUNTING), series, resumed)),
        ("target epsilon", _target(dp.get("target_epsilon"), _budget_stop(store, run))),
        ("rounds accounted", _rounds_accounted(store, run, series)),
        ("recheck", _recheck(dp)),
        ("noise and sample drawn from", _noise_source(dp.get("seeded_noise"))),
        ("outside the guarantee", _outside(run, _CENTRAL_RELEASED + _skips(series))),
    ]


def _skips(series: Mapping[str, list[tuple[int, float]]]) -> str:
    """The rounds a central-DP run skipped short of clients (recorded before such a round
    was released, noised and accounted, instead): which rounds were skipped shows an
    un-noised count of replies every round, which the accountant did not compose."""
    skipped = skipped_rounds(series)
    if not skipped:
        return ""
    listed = ", ".join(str(r) for r in skipped[:10]) + (", ..." if len(skipped) > 10 else "")
    return (
        f"; which rounds were skipped short of clients ({len(skipped)}: round {listed}): a "
        "skip shows that fewer than min_fit_clients replied, a count no noise covers, and "
        "the skipped rounds were not accounted (rengo now releases such a round, noised "
        "and accounted, instead of skipping it)"
    )


def local_dp_rows(run: RunInfo) -> list[tuple[str, Any]]:
    """The model card's rows for a job with local DP (``[privacy] dp = "local"``); none for
    any other run.

    Each client's epsilon bounds what its updates reveal about one of its records; the rows
    say what the run released beside them that the epsilon does not cover (the per-client
    records, the un-noised means, and where early stopping watched one of those means, when
    the run stopped and which round's model it keeps).

    Parameters
    ----------
    run
        The run, as read from the run store.

    Returns
    -------
    list of (str, value)
        ``(fact, value)`` rows.
    """
    dp = run.config.get("dp")
    settings = run.config.get("job_settings")
    privacy = settings.get("privacy") if isinstance(settings, Mapping) else None
    local = isinstance(dp, Mapping) and dp.get("kind") == "local"
    if not local and not (isinstance(privacy, Mapping) and privacy.get("dp") == "local"):
        return []
    secagg = isinstance(privacy, Mapping) and privacy.get("secagg") is not None
    return [("outside the guarantee", _outside(run, _local_released(secagg)))]


def _local_released(secagg: bool) -> str:
    """What reached the coordinator under local DP beside the clients' DP-SGD updates,
    which the epsilon does not cover. An update's norm is post-processing of that update
    (covered, never listed); under secure aggregation the coordinator saw no client's fit
    metrics, no update norm and no train_* mean (the store holds none), only the evaluation."""
    if secagg:
        return (
            "who took part each round, each client's example counts and its evaluation "
            "metrics, and the un-noised eval_* means (secure aggregation kept every "
            "client's fit metrics at the client: no train_* mean was released)"
        )
    return (
        "who took part each round, each client's example counts, its own fit and "
        "evaluation metrics (train loss and accuracy computed without noise), and the "
        "un-noised train_* and eval_* means (an update's norm is post-processing of its "
        "DP-SGD update: covered)"
    )


def _clip_norm(dp: Mapping[str, Any], last_used: float | None) -> str | None:
    initial = dp.get("clip_norm")
    if initial is None:
        return None
    if dp.get("adaptive_clipping") is not True:
        return f"{initial:g}, fixed"
    used = "" if last_used is None else f"; the last round clipped at {last_used:.4g}"
    return (
        f"adaptive (Andrew et al. 2021) from {initial:g}, towards the "
        f"{dp.get('target_quantile')} quantile of update norms at learning rate "
        f"{dp.get('clip_learning_rate')}{used}"
    )


def _update_noise(dp: Mapping[str, Any], recorded: float | None) -> str | None:
    z = dp.get("noise_multiplier")
    if dp.get("adaptive_clipping") is not True:
        return None if z is None else f"{z} (fixed clipping: z itself)"
    stddev = dp.get("clipped_count_stddev")
    count = "expected clients / 20" if not stddev else f"{stddev:g}"
    value = "not recorded" if recorded is None else f"{recorded:.4g} in the last round"
    return (
        f"{value}: z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2), with the unclipped-count noise "
        f"sigma_b = {count}, so that the update sum and the count together are one Gaussian "
        "mechanism of multiplier z (Andrew et al. 2021, Theorem 1)"
    )


def _sampling(rate: Any) -> str | None:
    if not isinstance(rate, (int, float)):
        return None
    if rate >= 1:
        return "none: every available client every round (q = 1)"
    return (
        f"Poisson, rate q = {rate:g} (amplification assumes the sample stays secret from the "
        "adversary)"
    )


def _weights(dp: Mapping[str, Any]) -> str | None:
    weighting = dp.get("weighting")
    if weighting == "uniform":
        return "uniform: every client's clipped update counts 1"
    if weighting == "bounded":
        return f"bounded: min(1, examples / {dp.get('weight_cap')}), at most 1"
    return None


def _accountant(
    dp: Mapping[str, Any],
    release: Any,
    series: Mapping[str, list[tuple[int, float]]],
    resumed: list[str],
) -> str | None:
    """The accountant, the ``dp-accounting`` release the run computed its epsilons with
    (recorded as ``dp_accounting`` by runs since 2026-12-08; after a resume under another,
    the one it went on with, and ``resumed``, its events, say which rounds the earlier one
    accounted) and, for PLD, the grid step its last epsilon was computed on:
    dp-accounting's default step can return a lower epsilon, so an officer rechecking the
    number needs this one."""
    name = dp.get("accountant")
    named = (
        {
            "pld": "PLD (privacy loss distributions",
            "rdp": "RDP (Renyi DP",
        }.get(name)
        if isinstance(name, str)
        else None
    )
    if named is None:
        return None
    library = (
        f"Google's dp-accounting {release}"
        if isinstance(release, str)
        else "Google's dp-accounting, release not recorded"
    )
    step = _pld_step_text(dp, series) if name == "pld" else ""
    earlier = "".join(f"; {event}" for event in resumed)
    return f"{named}, {library}{earlier}){step}"


def _recheck(dp: Mapping[str, Any]) -> str | None:
    """How to recompute the run's last epsilon with ``dp_accounting`` from this card's rows:
    the event composed and which row each of its numbers is."""
    if dp.get("accountant") not in ("pld", "rdp"):
        return None
    accountant = (
        "pld.PLDAccountant(value_discretization_interval=the grid step above)"
        if dp.get("accountant") == "pld"
        else "rdp.RdpAccountant()"
    )
    return (
        f"dp_accounting.{accountant}, compose {RECHECK_EVENT}, get_epsilon(delta): q the "
        f"client sampling rate (1 without sampling), z the '{Z_ROW}' row (not the update "
        "noise multiplier, which under adaptive clipping is the update sum's alone), k the "
        "'rounds accounted' row"
    )


def _pld_step_text(dp: Mapping[str, Any], series: Mapping[str, list[tuple[int, float]]]) -> str:
    """``"; the last epsilon on a grid step of 0.0004 (PLDAccountant's
    value_discretization_interval)"`` from the recorded settings, or nothing where they or
    dp-accounting are missing."""
    accounted = series.get("dp_rounds_accounted")
    settings = [dp.get(key) for key in ("noise_multiplier", "delta", "sampling_rate")]
    numbers = [float(v) for v in settings if isinstance(v, (int, float))]
    if not accounted or len(numbers) != len(settings):
        return ""
    z, delta, q = numbers
    try:
        step = pld_grid_step(int(accounted[-1][1]), z, delta, q)
    except ConfigError:  # dp-accounting is not installed here, or a setting is out of range
        return ""
    if step is None:
        return "; the last epsilon is RDP's (PLD's grid would overflow at that epsilon)"
    return (
        f"; the last epsilon on a grid step of {step:g} (PLDAccountant's "
        "value_discretization_interval; the default 1e-4 can give a slightly lower epsilon)"
    )


_BUDGET_STOP = "privacy budget reached: "
"""How :class:`~rengo.privacy.PrivacyBudgetExhausted`'s text, and so the event, starts."""


def _budget_stop(store: RunStore, run: RunInfo) -> str | None:
    """The event that says the budget stopped the run (``PrivacyBudgetExhausted``), if any:
    the coordinator's own warning, whose text is the exception's. Only its start is matched,
    so a client cannot claim the stop through its failure reason (``client X dropped: ...``,
    recorded as the client wrote it)."""
    for event in store.events(run.run_id, "warning"):
        if event.message.startswith(_BUDGET_STOP):
            return event.message
    return None


def _target(target: Any, stop: str | None) -> str | None:
    if not isinstance(target, (int, float)):
        return None
    if target <= 0:
        return "none"
    stopped = "" if stop is None else f"; it stopped this run ({stop})"
    return f"{target:g}: training stops before a round would exceed it{stopped}"


def _rounds_accounted(
    store: RunStore, run: RunInfo, series: Mapping[str, list[tuple[int, float]]]
) -> str | None:
    accounted = series.get("dp_rounds_accounted")
    spent = series.get("dp_epsilon")
    released = released_unrecorded(store, run.run_id, spent[-1][0] if spent else 0)
    if released is not None:
        if run.status == "running":
            return (
                f"{released.accounted} over {released.round} rounds (round {released.round}'s "
                "model is with clients for federated evaluation; the round is not recorded yet)"
            )
        return (
            f"{released.accounted} over {released.round} rounds (round {released.round}'s "
            "model was shown to clients before the run stopped; the round was not recorded)"
        )
    if not accounted:
        return None
    composed, last_round = int(accounted[-1][1]), accounted[-1][0]
    if composed == last_round:
        return f"{composed} (one per round)"
    why = accounted_differs(series, composed, last_round)
    return f"{composed} over {last_round} rounds ({why})"


def _noise_source(seeded: Any) -> str | None:
    if seeded is True:
        return (
            "the run seed (seeded_noise = true): anyone who knows it can remove the noise, "
            "so the epsilon above does not hold"
        )
    if seeded is False:
        return "the operating system's entropy (not the run seed)"
    return None


_CENTRAL_RELEASED = (
    "the per-client records (who took part each round, example counts, client metrics, "
    "update norms) and the un-noised train_* and eval_* means"
)


def _outside(run: RunInfo, records: str) -> str:
    """What the run released beside the noised models that epsilon does not cover:
    ``records`` (what the clients' records and means told the coordinator, which differs
    between central and local DP), the feature scaling, and early stopping's choice."""
    released = [records]
    if run.config.get("input_standardization") is not None:
        released.append(
            "the feature scaling (data.standardize = true) fitted without noise on every "
            "client's training rows, which shapes every released model"
        )
    watched = _early_stopping_metric(run)
    if watched is not None and watched.startswith(("train_", "eval_")):
        released.append(
            f"when the run stopped and which round's model it keeps: early stopping chose "
            f"them by {watched}, a mean of the clients' own metrics computed without noise "
            "(a central_* metric, on the coordinator's held-out rows, keeps them inside)"
        )
    return "; ".join(released)


def _early_stopping_metric(run: RunInfo) -> str | None:
    """The round metric the run's ``[early_stopping]`` watched, where its job recorded one."""
    settings = run.config.get("job_settings")
    rule = settings.get("early_stopping") if isinstance(settings, Mapping) else None
    metric = rule.get("metric") if isinstance(rule, Mapping) else None
    return metric if isinstance(metric, str) else None
