"""The ``[contribution]`` section of a job file: value every participant and pay them.

```toml
[contribution]
method = "gtg"            # horizontal: gtg, mr, tmc, loo, or; vertical: shapley (auto: either)
metric = "accuracy"       # horizontal: accuracy, neg_loss (classes), r2, neg_rmse (a
                          # regression target); vertical: auc, ks, ... or r2, ...
budget = "1000.00"        # pay this pool when the run ends (major units); empty: record only
currency = "credits"
policy = "proportional"   # proportional (to clipped-positive contribution) or equal
outside_dp = false        # with [privacy] dp = "central": accept values of raw updates
max_evaluations = 0       # cap on a sampled valuation's coalition evaluations (0: none)
entities = { "client-0" = "hospital-a", "client-7" = "hospital-a" }  # one payee each
```

A horizontal run values each client's updates round by round on the coordinator's held-out
set (:class:`~rengo.valuation.ContributionTracker`); a vertical run values each feature
party's columns by retraining every coalition and scoring the held-out customers, the label
party alone being the baseline (:func:`~rengo.valuation.vertical_party_contribution`). The
values are recorded in the run store, so ``rengo rewards show RUN`` and ``rengo rewards pay
RUN`` work on the run; with a ``budget`` the run also pays it into the ledger when it ends.
Every key, its default and its check come from :class:`ContributionSettings`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from rengo.core.errors import ConfigError
from rengo.core.options import OptionError, check_options, option, options_from_mapping
from rengo.core.parameters import Parameters
from rengo.rewards import DEFAULT_CURRENCY, Payout, currency_decimals, to_minor_units
from rengo.tracking.contrib_records import pay_rewards, record_contributions
from rengo.transport.simulation import client_threads
from rengo.valuation import (
    METHODS,
    ContributionReport,
    ContributionTracker,
    Evaluate,
    GTGConfig,
    MaxEvaluations,
    MaxSamples,
    StoppingCriterion,
    VerticalContribution,
    default_stopping,
    validation_score,
    vertical_party_contribution,
)
from rengo.valuation.tracker import SECAGG_METHODS
from rengo.valuation.vertical import DEFAULT_TMC_RULE
from rengo.vfl.hetero_contribution import SCORERS_BY_OUTPUT
from rengo.vfl.registry import Output

VERTICAL_METHODS = ("shapley",)
"""Vertical runs: exact Shapley over the feature parties (truncated Monte Carlo above
:data:`rengo.valuation.vertical.EXACT_MAX_HOSTS`, six)."""
HORIZONTAL_CLASS_METRICS = ("accuracy", "neg_loss")
"""What a horizontal classifier's clients are valued by (the first: ``metric = "auto"``)."""
HORIZONTAL_REGRESSION_METRICS = ("r2", "neg_rmse", "neg_loss")
"""What a horizontal regression's clients are valued by: R^2 by default (unit-free, so one
valuation reads the same whatever the target's units), or minus the RMSE (in the target's
units) or minus the loss (the standardised MSE)."""
HORIZONTAL_COUNT_METRICS = ("d2_poisson", "neg_poisson_deviance", "neg_rmse", "neg_loss")
"""What a horizontal count model's (``model.type = "poisson"``) clients are valued by: the
held-out D^2 by default (unit-free, the share of Poisson deviance explained), or minus the
mean Poisson deviance, the RMSE of the counts or the loss; all over the held-out exposure."""
HORIZONTAL_METRICS = tuple(
    dict.fromkeys(
        HORIZONTAL_CLASS_METRICS + HORIZONTAL_REGRESSION_METRICS + HORIZONTAL_COUNT_METRICS
    )
)
"""Every metric a horizontal job may value its clients by (the table decides which fit, when
the job is built)."""
SAMPLED_METHODS = ("gtg", "tmc")
"""The horizontal methods that sample coalitions, so ``max_evaluations`` can cap them."""


@dataclass(frozen=True)
class ContributionSettings:
    """How a job values its participants and what it pays them (see the module docstring).

    Raises
    ------
    OptionError
        For a budget that is not an amount of the currency.
    """

    method: str = option("auto", "Valuation: gtg, mr, tmc, loo, or (horizontal), shapley.")
    metric: str = option(
        "auto",
        "Validation metric (auto: accuracy, or r2 for a regression, d2_poisson for a "
        "horizontal Poisson model / auc).",
    )
    budget: str = option("", "Pool paid when the run ends, in major units (empty: none).")
    currency: str = option(DEFAULT_CURRENCY, "Currency of the budget.")
    policy: Literal["proportional", "equal"] = option(
        "proportional", "Split: proportional to clipped-positive contribution, or equal."
    )
    outside_dp: bool = option(
        False,
        "Accept per-client values beside central DP (they use raw updates, outside epsilon).",
    )
    max_evaluations: int = option(
        0,
        "Most coalitions a sampled valuation evaluates (gtg or tmc: each round; a vertical "
        "job: above six feature parties, each a retraining); 0: no cap.",
        ge=0,
    )
    entities: dict[str, str] = option(
        {},
        "Horizontal: client id -> the legal entity it belongs to; an entity's clients are "
        "valued and paid as one participant (several sites of one hospital, or one that "
        "joined twice).",
    )

    def __post_init__(self) -> None:
        check_options(self)
        for client, entity in self.entities.items():
            if not isinstance(entity, str) or not entity or not client:
                raise OptionError(
                    "entities",
                    f"maps a client id to its entity's name, got {client!r} = {entity!r}",
                )
        if self.budget:
            try:
                to_minor_units(self.budget, currency_decimals(self.currency))
            except ConfigError as exc:
                raise OptionError("budget", f"must be an amount like 1000.00: {exc}") from None

    @property
    def budget_minor(self) -> int | None:
        """The budget in minor units of the currency (None: record only)."""
        if not self.budget:
            return None
        return to_minor_units(self.budget, currency_decimals(self.currency))

    def for_kind(
        self, kind: str, where: str = "", output: Output = "probability"
    ) -> ContributionSettings:
        """These settings with ``auto`` resolved for a ``"hfl"`` or ``"vfl"`` job, checked;
        a vertical job's metrics are those of what its algorithm predicts (``output``:
        AUC first for P(y = 1), R^2 first for values); a horizontal job's ``auto`` is R^2
        for ``output = "values"`` (``data.task = "regression"``), else accuracy.

        Raises
        ------
        ConfigError
            For a method or metric the kind of job does not have, naming the valid ones.
        """
        vertical = kind == "vfl"
        methods = VERTICAL_METHODS if vertical else METHODS
        metrics = tuple(SCORERS_BY_OUTPUT[output]) if vertical else HORIZONTAL_METRICS
        method = self.method if self.method != "auto" else methods[0]
        metric = self.metric
        if metric == "auto" and not vertical:
            metric = HORIZONTAL_REGRESSION_METRICS[0] if output == "values" else metrics[0]
        elif metric == "auto":
            metric = metrics[0]
        if method not in methods:
            raise ConfigError(
                f"{where}contribution.method = {method!r}; a {kind} job takes one of "
                f"{', '.join(methods)}"
            )
        if metric not in metrics:
            raise ConfigError(
                f"{where}contribution.metric = {metric!r}; a {kind} job takes one of "
                f"{', '.join(metrics)}"
            )
        if vertical and self.entities:
            raise ConfigError(
                f"{where}contribution.entities groups a horizontal job's clients; a vertical "
                "job's players are its feature parties, each its own table: leave it out"
            )
        if self.max_evaluations and not vertical and method not in SAMPLED_METHODS:
            raise ConfigError(
                f"{where}contribution.max_evaluations caps a sampled valuation "
                f"({', '.join(SAMPLED_METHODS)}); method {method!r} evaluates every coalition "
                "it needs, so set the cap to 0 or choose a sampled method"
            )
        return replace(self, method=method, metric=metric)

    def budget_rule(self, rule: StoppingCriterion) -> StoppingCriterion:
        """``rule``, or ``rule | MaxEvaluations(max_evaluations)`` where a cap is set."""
        return rule | MaxEvaluations(self.max_evaluations) if self.max_evaluations else rule


def parse_contribution(
    raw: Any, kind: str, source: str, output: Output = "probability"
) -> ContributionSettings:
    """Validate a ``[contribution]`` table for a job of ``kind`` (``"hfl"`` or ``"vfl"``;
    a vertical job's algorithm predicts ``output``, which decides its metrics).

    A numeric ``budget`` (``budget = 1000``) is read as the amount it writes.

    Raises
    ------
    ConfigError
        Naming the key and the fix.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [contribution] must be a table")
    values = dict(raw)
    budget = values.get("budget")
    if isinstance(budget, (int, float)) and not isinstance(budget, bool):
        values["budget"] = str(budget)
    settings = options_from_mapping(
        ContributionSettings,
        values,
        label=lambda name: f"contribution.{name}",
        where=f"{source}: ",
    )
    return settings.for_kind(kind, f"{source}: ", output)


def check_secagg(settings: ContributionSettings, where: str = "") -> None:
    """Refuse a method that cannot run under secure aggregation (``[privacy] secagg``), and
    a budget paid by contribution: every round is then valued at group level, so the
    values say nothing about any one client.

    Raises
    ------
    ConfigError
        For method ``"or"``, naming both settings and the methods to use instead
        (:data:`SECAGG_METHODS`); for a ``budget`` under a policy other than ``"equal"``.
    """
    if settings.method in METHODS and settings.method not in SECAGG_METHODS:  # "or"
        raise ConfigError(
            f"{where}contribution.method = {settings.method!r} needs each client's update, but "
            "secure aggregation (privacy.secagg = true) shows the coordinator only each "
            f"round's sum; use a per-round method ({', '.join(SECAGG_METHODS)}), which falls "
            "back to group-level values under secure aggregation"
        )
    if settings.budget and settings.policy != "equal":
        raise ConfigError(
            f"{where}contribution.budget with policy = {settings.policy!r} pays by each "
            "client's value, but under secure aggregation (privacy.secagg = true) every round "
            "is valued at group level (the round's score change shared equally): no client's "
            "own value is known, so the pool would be split equally and the ledger would call "
            'it contributions; set contribution.policy = "equal", or leave the budget out'
        )


def check_entities(
    settings: ContributionSettings, client_ids: Sequence[str], where: str = ""
) -> None:
    """Refuse ``entities`` that name a client the run does not have (a typo would leave
    that client a payee of its own), or an entity named like a client outside it: not
    listed, or listed under another entity (a swap ``{client-0 = "client-1", client-1 =
    "client-0"}``). Its values, another client's, would be paid under that client's name.

    Parameters
    ----------
    settings
        The job's ``[contribution]``.
    client_ids
        The run's clients (simulated) or parties (deployed).
    where
        The job file, for the message.

    Raises
    ------
    ConfigError
        Naming the entries at fault and the run's clients.
    """
    clients = set(client_ids)
    unknown = sorted(set(settings.entities) - clients)
    if unknown:
        raise ConfigError(
            f"{where}contribution.entities names {unknown}, not clients of this run; its "
            f"clients are {sorted(clients)[:20]}"
        )
    # an entity may bear a client's name only if that client is in it: otherwise the
    # ledger pays the entity's value (another client's) under that client's name
    clash = sorted(
        e for e in set(settings.entities.values()) & clients if settings.entities.get(e) != e
    )
    if clash:
        name = clash[0]
        home = settings.entities.get(name)
        where_it_is = (
            f"client {name!r} itself is listed under the entity {home!r}"
            if home is not None
            else f"client {name!r} is not listed in it"
        )
        raise ConfigError(
            f"{where}contribution.entities names the entity {name!r} like a client outside "
            f"it ({where_it_is}): the entity's value would be paid under that client's "
            f"name; rename the entity, or map {name!r} to it"
        )


def single_threaded(score: Evaluate) -> Evaluate:
    """Run ``score`` with one BLAS/OpenMP and torch thread (as clients run): valuing a round
    means thousands of small evaluations, several times faster without intra-op threading,
    and they do not fight the clients for cores."""

    def one_thread(params: Parameters) -> float:
        with client_threads(1):
            return score(params)

    return one_thread


def contribution_tracker(
    settings: ContributionSettings,
    evaluate: Any,
    seed: int,
    clients_per_round: int = 0,
    client_ids: Sequence[str] = (),
) -> ContributionTracker:
    """The round observer that values a horizontal run's clients on the held-out
    ``settings.metric`` (GTG-Shapley by default). Each round samples two stratified blocks
    of permutations (each of the round's clients twice in every position: the fewest that
    give a standard error), so 10 clients x 20 rounds add seconds, not minutes; the standard
    errors it reports say what that bought. ``settings.max_evaluations`` caps each round's
    coalition evaluations (gtg, tmc). The run checks what its values can mean under its
    strategy (:func:`rengo.hfl.observer_fit.check_observers_fit`).

    Parameters
    ----------
    settings
        The job's ``[contribution]``.
    evaluate
        The coordinator's held-out evaluation.
    seed
        The run's seed (fixes the sampled permutations).
    clients_per_round
        The most clients a round samples (0: not checked before the run).
    client_ids
        The clients (simulated) or parties (deployed) the rounds sample from: with
        ``entities``, method "mr"'s limit counts participants among them, an entity once.

    Returns
    -------
    ContributionTracker
        The round observer to pass to the run.

    Raises
    ------
    ConfigError
        Method "mr" (exact per round) with more participants a round (the most a round
        samples, an entity's clients counted once) than it values: refused before the run,
        not after its first round trained.
    """
    settings = settings.for_kind("hfl")
    tracker = ContributionTracker(
        single_threaded(validation_score(evaluate, settings.metric)),
        settings.method,
        seed=seed,
        gtg=GTGConfig(rule=settings.budget_rule(MaxSamples(2))),
        tmc_rule=settings.budget_rule(default_stopping()),
        score_name=f"test {settings.metric}",
        outside_dp=settings.outside_dp,
        entity_of=settings.entities,
        run_clients=client_ids,
    )
    tracker.check_round_clients(clients_per_round)
    return tracker


def vertical_contribution(
    settings: ContributionSettings,
    train: Any,
    validation: Any,
    make_model: Callable[[], Any],
    seed: int,
) -> VerticalContribution:
    """Each feature party's Shapley value on the held-out customers (see the module
    docstring); ``make_model`` makes the fresh estimator each coalition retrains, and what
    it predicts decides the metrics (``auto``: AUC for P(y = 1), R^2 for values)."""
    if settings.method not in ("auto", *VERTICAL_METHODS):
        raise ConfigError(
            f"contribution.method = {settings.method!r}; a vfl job takes one of "
            f"{', '.join(VERTICAL_METHODS)}"
        )
    metric = None if settings.metric == "auto" else settings.metric
    return vertical_party_contribution(
        train,
        validation,
        make_model=make_model,
        metric=metric,
        seed=seed,
        rule=settings.budget_rule(DEFAULT_TMC_RULE),
    )


def record_and_pay(
    store: Any, run_id: str, report: ContributionReport, settings: ContributionSettings
) -> list[Payout]:
    """Record ``report`` in the run's store and, with a budget, pay it into the ledger.

    Returns
    -------
    list of Payout
        The payouts (empty without a budget).
    """
    record_contributions(store, run_id, report)
    budget = settings.budget_minor
    if budget is None:
        return []
    return pay_rewards(
        store, run_id, settings.policy, budget, settings.currency, method=report.method
    )
