"""Contribution scores and reward payments in the run store.

:func:`record_contributions` logs a :class:`~rengo.valuation.ContributionReport` per round and
per run; :func:`pay_rewards` turns a run's recorded contributions into integer payouts under
a policy and appends them to the append-only ledger (who, how much, why, which run and
round); :func:`write_ledger_csv` exports ledger lines for an accountant.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError, DataError
from rengo.rewards import (
    DEFAULT_CURRENCY,
    Exact,
    Payout,
    currency_decimals,
    equal_share_payouts,
    format_amount,
    format_minor,
    largest_remainder,
    proportional_payouts,
    stake_clipped_payouts,
)
from rengo.tracking.location import MEMORY, resolve_store_path
from rengo.tracking.records import PAYMENT_KINDS, LedgerEntry, LedgerLine
from rengo.tracking.skipped_rounds import skipped_rounds
from rengo.tracking.store import RunStore
from rengo.valuation import CONFIDENCE, ContributionReport, RoundContribution

POLICIES = ("proportional", "equal", "stake")
"""Reward policies: pool split by clipped-positive contribution, equally, or Numerai-style
stake x clip(factor x contribution)."""

CSV_COLUMNS = (
    "run",
    "round",
    "participant",
    "kind",
    "amount",
    "currency",
    "reason",
    "timestamp",
    "entry",
)


@dataclass(frozen=True)
class RunContributions:
    """A run's recorded contribution by one method: totals and each round's values, with
    the totals' standard errors and confidence intervals where they were recorded
    (``confidence`` is their level; empty dicts for records without them)."""

    run_id: str
    method: str
    totals: dict[str, float]
    per_round: dict[int, dict[str, float]]
    stderr: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float | None = None


VALUATION_SUMMARY = "contribution_valuation"
"""The run summary's entry that says how each method's recorded values were computed:
``{method: {"score": ..., "rounds": [...], "group_level_rounds": [...], "evaluations": ...,
"permutations": ..., "approximation": {setting: value}}}`` (:func:`record_contributions`;
:func:`recorded_valuation` reads it)."""

NOTE_PREFIX = "contribution ("
"""How a warning event about a run's contribution values starts (then the method)."""


def contribution_notes(store: RunStore, run_id: str) -> list[str]:
    """What :func:`record_contributions` recorded about a run's values (warning events:
    FedAvg rebuilt for the strategy, identical updates valued as one player, rounds valued
    at group level), oldest first, for whoever reads or pays them later; then one line per
    round the run skipped (``on_short_round = "skip"``): such a round has no contribution,
    and nothing is paid for it."""
    notes = [
        e.message for e in store.events(run_id, "warning") if e.message.startswith(NOTE_PREFIX)
    ]
    for number, why in skipped_rounds(store, run_id).items():
        notes.append(f"round {number} has no contributions and earns nobody anything: {why}")
    return notes


def record_contributions(store: RunStore, run_id: str, report: ContributionReport) -> int:
    """Log each round's and the whole run's values under ``report.method``, each with its
    standard error and 95 % confidence interval where the report has them, and the report's
    notes and group-level rounds as warning events (``rengo rewards show`` prints them);
    returns the number of lines logged."""
    lines = 0
    notes = list(report.notes)  # what the values mean, for whoever reads or pays them later
    fell_back = report.group_level_rounds
    if fell_back:  # the values of these rounds are not per client: the record says so
        notes.append(
            f"rounds {list(fell_back)} were valued at group level (secure aggregation shows "
            "only their sum: each round's score change is shared equally by its clients)"
        )
    for note in notes:
        store.log_event(run_id, "warning", f"{NOTE_PREFIX}{report.method}): {note}")
    summary = store.get_run(run_id).summary or {}
    valued = summary.get(VALUATION_SUMMARY)
    valued = dict(valued) if isinstance(valued, dict) else {}
    valued[report.method] = {
        "score": report.score_name,
        "rounds": [r.round for r in report.rounds],
        "group_level_rounds": list(fell_back),
        "evaluations": report.evaluations,
        "permutations": report.permutations,
        "approximation": dict(report.approximation),
    }
    store.update_summary(run_id, {VALUATION_SUMMARY: valued})
    for r in report.rounds:
        intervals = _round_intervals(r)
        for participant, value in sorted(r.values.items()):
            store.log_contribution(
                run_id,
                r.round,
                participant,
                report.method,
                value,
                stderr=r.stderr.get(participant),
                interval=intervals.get(participant),
                confidence=CONFIDENCE if participant in intervals else None,
            )
            lines += 1
    intervals = report.intervals() if report.stderr else {}
    for participant, value in sorted(report.values.items()):
        store.log_contribution(
            run_id,
            None,
            participant,
            report.method,
            value,
            stderr=report.stderr.get(participant),
            interval=intervals.get(participant),
            confidence=CONFIDENCE if participant in intervals else None,
        )
        lines += 1
    return lines


def _round_intervals(r: RoundContribution) -> dict[str, tuple[float, float]]:
    if not r.stderr:
        return {}
    one = ContributionReport("", r.values, (), 0, 0, stderr=r.stderr, dof=r.dof)
    return one.intervals()


def recorded_valuation(store: RunStore, run_id: str, method: str) -> dict[str, object] | None:
    """How a run's ``method`` values were computed, as :func:`record_contributions` recorded
    it (:data:`VALUATION_SUMMARY`); None for a run recorded before rengo kept it."""
    summary = store.get_run(store.resolve_run_id(run_id)).summary or {}
    valued = summary.get(VALUATION_SUMMARY)
    entry = valued.get(method) if isinstance(valued, dict) else None
    return dict(entry) if isinstance(entry, dict) else None


def valuation_text(method: str, valuation: Mapping[str, object]) -> str:
    """How a run's ``method`` values were computed, in words, for whoever reads or pays
    them: ``"gtg on test accuracy, 5 rounds: 312 coalition models evaluated, 80
    permutations sampled; group level in 2 of 5 rounds"``."""
    score = valuation.get("score")
    rounds, group = valuation.get("rounds"), valuation.get("group_level_rounds")
    evaluations, permutations = valuation.get("evaluations"), valuation.get("permutations")
    parts = [method + (f" on {score}" if isinstance(score, str) and score else "")]
    if isinstance(rounds, list) and rounds:
        parts.append(f", {len(rounds)} round{'s' * (len(rounds) != 1)}")
    else:
        parts.append(", the whole run")
    if isinstance(evaluations, int):
        parts.append(f": {evaluations:,} coalition models evaluated")
    if isinstance(permutations, int) and permutations:
        parts.append(f", {permutations:,} permutations sampled")
    if isinstance(rounds, list) and isinstance(group, list) and group:
        parts.append(f"; group level in {len(group)} of {len(rounds)} rounds")
    settings = approximation_text(valuation)
    if settings:
        parts.append(f"; approximated with {settings}")
    return "".join(parts)


def approximation_text(valuation: Mapping[str, object], sep: str = " ") -> str:
    """The truncation settings a run's values were sampled with, as recorded
    (``"within_round_eps=0.05 between_round_eps=0.001 tail_probability=0.2"``); empty for
    an exact method or a run recorded before rengo kept them."""
    settings = valuation.get("approximation")
    if not isinstance(settings, dict):
        return ""
    return sep.join(
        f"{name}={value:g}"
        for name, value in settings.items()
        if isinstance(name, str) and isinstance(value, int | float)
    )


def group_level_refusal(run_id: str, method: str, valuation: Mapping[str, object]) -> str | None:
    """Why a run's ``method`` values cannot be paid by contribution (None: they can): every
    round was valued at group level (secure aggregation showed only each round's sum), so
    no client's own contribution is known and a payment by contribution would be an equal
    split that its ledger lines call contributions."""
    rounds = valuation.get("rounds")
    group = valuation.get("group_level_rounds")
    if not isinstance(rounds, list) or not rounds or not isinstance(group, list):
        return None
    if set(rounds) - set(group):
        return None
    return (
        f"run {run_id}'s {method} values are group level in every round ({len(group)} of "
        f"{len(rounds)}: secure aggregation showed only each round's sum, or coalition "
        "models scored NaN), so no participant's own contribution is known; a payment by "
        "contribution would split the pool equally and call it contributions. Pay it as "
        'what it is with --policy equal (job file: contribution.policy = "equal")'
    )


def _method_label(method: str, valuation: Mapping[str, object] | None) -> str:
    """``method``, with how many rounds were valued at group level where some were."""
    if valuation is None:
        return method
    rounds, group = valuation.get("rounds"), valuation.get("group_level_rounds")
    if isinstance(rounds, list) and isinstance(group, list) and group:
        return f"{method} (group level in {len(group)} of {len(rounds)} rounds)"
    return method


_JOB_METHOD_RECORDS = {"shapley": ("vfl_exact", "vfl_tmc")}
"""A job file's ``[contribution] method`` -> the methods its values are recorded under (a
vertical job's Shapley values say whether they are exact or sampled)."""


def _valued_no_round(summary: Mapping[str, Any] | None) -> bool:
    """Whether a run's summary says its valuation was recorded and valued no round. The
    summary entry is written before the values (each round's rows), so an entry naming
    rounds with no rows beside it is a recording stopped midway, not an empty valuation."""
    valued = (summary or {}).get(VALUATION_SUMMARY)
    if not isinstance(valued, dict) or not valued:
        return False
    return all(isinstance(v, dict) and not v.get("rounds") for v in valued.values())


def missing_values_text(store: RunStore, run_id: str) -> str | None:
    """Why run ``run_id`` has no contribution values although its job values its
    participants (a ``[contribution]`` section), and the command that computes them; None
    where it has values, is not completed, or its job values no one. They are computed in
    memory while the run trains and recorded once it completed, so a process stopped in
    between loses them and only a repeat of the run (``rengo run JOB --same-as RUN``)
    computes them again."""
    run = store.get_run(run_id)
    if run.status != "completed" or store.contributions(run_id):
        return None  # a live run records them once it completed; a stopped one resumes
    if _valued_no_round(run.summary):
        return None  # recorded (by record_contributions, as the values), valuing no round
    settings = run.config.get("job_settings") if isinstance(run.config, dict) else None
    if not isinstance(settings, dict) or not settings.get("contribution"):
        return None
    job = run.config.get("job_file") if isinstance(run.config, dict) else None
    command = f"rengo run {job if isinstance(job, str) else 'JOB'} --same-as {run_id}"
    if str(store.path) != str(resolve_store_path(None)):
        command = f"{command} --store {store.path}"
    lost = (
        f"run {run_id} is {run.status}, but its job values its participants ([contribution]) "
        "and its contribution values were never recorded (its process stopped after the "
        "training, before it stored them); they cannot be computed from the stored rounds: "
    )
    if run.kind.endswith("-deployed"):  # its coordinator and parties, not a simulation
        # only `rengo coordinator` (hfl-deployed) values; `rengo vfl coordinator` refuses a
        # job with [contribution] and records no job settings, so it never gets here
        return lost + (
            "only a new deployed run computes values (`rengo coordinator` with the same job, "
            "and its parties), and they are that new run's; `rengo run --same-as` would "
            "repeat it as a local simulation, not this run"
        )
    return lost + (
        f"`{command}` repeats the run with the same settings and records them (pay that run)"
    )


def run_contributions(store: RunStore, run_id: str, method: str | None = None) -> RunContributions:
    """Read back a run's contributions by ``method`` (default: the one logged last).

    A job file's method name finds what it recorded: ``"shapley"`` finds a vertical run's
    ``"vfl_exact"`` or ``"vfl_tmc"``."""
    full = store.resolve_run_id(run_id)
    records = store.contributions(full)
    lost = None if records else missing_values_text(store, full)
    if lost is not None:
        raise DataError(lost)
    if not records and _valued_no_round(store.get_run(full).summary):
        raise DataError(
            f"run {full} has no contribution scores: its recorded valuation valued no round "
            "(none of its rounds could be valued), so there is nothing to read or pay"
        )
    if not records:
        raise DataError(
            f"run {full} has no contribution scores: a job file's [contribution] section "
            "records them (rengo run, rengo coordinator), in Python a ContributionTracker "
            "and record_contributions"
        )
    chosen = method or records[-1].method
    recorded = {r.method for r in records}
    if chosen not in recorded:
        named = [m for m in _JOB_METHOD_RECORDS.get(chosen, ()) if m in recorded]
        if len(named) == 1:
            chosen = named[0]
    mine = [r for r in records if r.method == chosen]
    if not mine:
        methods = sorted({r.method for r in records})
        raise DataError(f"run {full} has no {chosen!r} contributions; it has {methods}")
    totals: dict[str, float] = {}
    per_round: dict[int, dict[str, float]] = {}
    stderr: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    confidence: float | None = None
    for r in mine:  # later lines replace earlier ones (a re-recorded report)
        if r.round is None:
            totals[r.participant] = r.value
            if r.stderr is not None:
                stderr[r.participant] = r.stderr
            if r.ci_low is not None and r.ci_high is not None:
                intervals[r.participant] = (r.ci_low, r.ci_high)
                confidence = r.confidence
        else:
            per_round.setdefault(r.round, {})[r.participant] = r.value
    if not totals:
        for values in per_round.values():
            for p, v in values.items():
                totals[p] = totals.get(p, 0.0) + v
    return RunContributions(
        full,
        chosen,
        dict(sorted(totals.items())),
        dict(sorted(per_round.items())),
        dict(sorted(stderr.items())),
        dict(sorted(intervals.items())),
        confidence,
    )


def _policy_payouts(
    policy: str,
    values: Mapping[str, float],
    pool_minor: int,
    label: str,
    stakes_minor: Mapping[str, int] | None,
    factor: Exact,
    clip: Exact,
    tie_start: int = 0,
    cap_name: str = "the budget",
) -> list[Payout]:
    if policy == "proportional":
        return proportional_payouts(values, pool_minor, label=label, tie_start=tie_start)
    if policy == "equal":
        return equal_share_payouts(sorted(values), pool_minor, tie_start=tie_start)
    if stakes_minor is None:
        raise ConfigError("policy 'stake' needs each participant's stake")
    return stake_clipped_payouts(
        values, stakes_minor, pool_minor, factor=factor, clip=clip, cap_name=cap_name
    )


def pay_rewards(
    store: RunStore,
    run_id: str,
    policy: str,
    budget_minor: int,
    currency: str = DEFAULT_CURRENCY,
    *,
    method: str | None = None,
    per_round: bool = False,
    stakes_minor: Mapping[str, int] | None = None,
    factor: Exact = 1,
    clip: Exact = "0.05",
    decimals: int | None = None,
) -> list[Payout]:
    """Pay a run's participants from ``budget_minor`` under ``policy`` and append one ledger
    line each (kind "reward", or "burn" for a negative stake-policy amount).

    ``per_round`` splits the budget equally across the rounds in which somebody contributed
    positively (under "equal", every round) and pays each round's pool on that round's
    values, so the ledger says which round earned what. A round where nobody contributed
    positively gets no pool: an operator who sets a budget expects it paid to the
    participants who contributed, not kept because one round made the model worse. The units
    left over among tied values go to them in turn, round after round (not to the first
    name every round), so participants tied in every round end at most one unit apart.
    Under "stake" each round puts at risk what earlier rounds' burns left of the stake, so
    a participant's burns never add up to more than its stake (30 rounds of 5 % burned
    150 % of it).
    Positive payouts never exceed the budget and, for "proportional" and "equal", sum to it
    exactly (unless nobody contributed positively in any round); under "stake" the budget
    is a cap (with ``per_round``, each round's share of it is that round's cap, and a
    gain it cut names that share). A run is paid once: a second payment, or one of a run a
    tournament already paid (any :data:`~rengo.tracking.records.PAYMENT_KINDS` line), is
    refused. All the lines are one transaction, so an interrupted payment writes nothing
    and can be rerun.
    Values that are group level in every round (secure aggregation) say nothing about any
    one participant, so they are paid only under "equal", which says what it is; where some
    rounds were, each ledger reason says how many (``method=gtg (group level in 2 of 5
    rounds)``). Ledger reasons name the budget (and stakes) in major units of ``currency``
    (``decimals`` overrides its ISO 4217 exponent), and each line records the decimals its
    minor units count in, so it reads back as paid whatever a later reader assumes.

    Parameters
    ----------
    store:
        The run store.
    run_id:
        The run's id or a unique prefix of it.
    policy:
        One of :data:`POLICIES`.
    budget_minor:
        What to pay, in minor units.
    currency:
        The currency of the payouts.
    method:
        The contribution method paid on (default: the one logged last).
    per_round:
        Pay each round on its own values (see above), else the run's totals.
    stakes_minor:
        Each participant's stake in minor units (policy "stake").
    factor, clip:
        The stake policy's payout factor and clip (a fraction of the stake in [0, 1]).
    decimals:
        Overrides the currency's number of decimals in the reasons.

    Returns
    -------
    list[Payout]
        The payouts written, in ledger order.

    Raises
    ------
    ConfigError
        An unknown policy, a bad budget, stake, factor or clip, stakes under a policy
        other than "stake", a run already paid, or a policy other than "equal" for values
        that are group level in every round (:func:`group_level_refusal`).
    DataError
        The run has no contributions (or none per round with ``per_round``).
    """
    if policy not in POLICIES:
        raise ConfigError(f"unknown reward policy {policy!r}; choose one of {POLICIES}")
    if isinstance(budget_minor, bool) or not isinstance(budget_minor, int) or budget_minor < 0:
        raise ConfigError(f"budget must be an int of minor units >= 0, got {budget_minor!r}")
    if stakes_minor is not None and policy != "stake":
        raise ConfigError(
            f"stakes are paid on by policy 'stake' only, not {policy!r}; drop the stakes or "
            "choose policy 'stake'"
        )
    contributions = run_contributions(store, run_id, method)
    full = contributions.run_id
    paid = [e for e in store.ledger(full) if e.kind in PAYMENT_KINDS]
    if paid:
        kinds = "/".join(sorted({e.kind for e in paid}))
        raise ConfigError(
            f"run {full} was already paid ({len(paid)} {kinds} ledger lines); the ledger is "
            "append-only"
        )
    valuation = recorded_valuation(store, full, contributions.method)
    refusal = (
        None if valuation is None else group_level_refusal(full, contributions.method, valuation)
    )
    if refusal is not None and policy != "equal":
        raise ConfigError(refusal)
    score = None if valuation is None else valuation.get("score")
    label = f"{contributions.method} contribution"
    # a group-level round's values are its score change split equally, not contributions
    shared = f"{contributions.method} group-level share (the round's score change split equally)"
    if isinstance(score, str) and score:  # what the value is a contribution to
        label = f"{label} to {score}"
        shared = f"{shared} of {score}"
    group_rounds = set() if valuation is None else valuation.get("group_level_rounds")
    group_level = {int(n) for n in group_rounds} if isinstance(group_rounds, list) else set()
    places = currency_decimals(currency, decimals)  # recorded with each line
    prefix = (
        f"policy={policy} method={_method_label(contributions.method, valuation)} "
        f"budget={format_amount(budget_minor, currency, decimals)}"
    )
    settings = "" if valuation is None else approximation_text(valuation, ",")
    if settings:  # how the values were approximated, on every line they pay
        prefix = f"{prefix} approximation={settings}"
    batches: list[tuple[int | None, list[Payout], Mapping[str, int] | None]] = []
    if per_round:
        if not contributions.per_round:
            raise DataError(f"run {full} has no per-round contributions to pay per round")
        rounds = list(contributions.per_round)
        earning = [
            policy == "equal" or any(v > 0 for v in contributions.per_round[n].values())
            for n in rounds
        ]
        pools = largest_remainder(budget_minor, [int(e) for e in earning])
        handed = 0  # units split so far: tied shares leave pool mod n units over each round
        # what earlier rounds' burns left of each stake: burns never add up to more than it
        at_risk = None if stakes_minor is None else dict(stakes_minor)
        for number, pool in zip(rounds, pools, strict=True):
            values = contributions.per_round[number]
            staked = None if at_risk is None else dict(at_risk)
            # the units left over among tied values go round-robin, round after round: the
            # next round's first goes to whoever follows the last one served
            # a gain cut by its round's pool says so, never that the whole budget cut it
            # (80.00 over 2 rounds cut round 1's 50.00 + 50.00 due to 40.00, which the
            # ledger blamed on the 80.00 budget)
            share = (
                f"round {number}'s share of the budget, {format_amount(pool, currency, decimals)}"
                f" ({format_amount(budget_minor, currency, decimals)} split over "
                f"{sum(earning)} rounds)"
            )
            payouts = _policy_payouts(
                policy,
                values,
                pool,
                shared if number in group_level else label,
                staked,
                factor,
                clip,
                handed,
                share,
            )
            handed += pool
            for p in payouts:
                if at_risk is not None and p.amount_minor < 0:
                    at_risk[p.participant] += p.amount_minor
            batches.append((number, payouts, staked))
    else:
        payouts = _policy_payouts(
            policy, contributions.totals, budget_minor, label, stakes_minor, factor, clip
        )
        batches.append((None, payouts, stakes_minor))
    positive = sum(p.amount_minor for _, batch, _ in batches for p in batch if p.amount_minor > 0)
    if positive > budget_minor:  # the policies guarantee this; the ledger must never show it
        raise ConfigError(f"payouts of {positive} would exceed the budget {budget_minor}")
    out: list[Payout] = []
    lines: list[LedgerLine] = []
    for paid_round, batch, round_stakes in batches:
        for p in batch:
            kind = "burn" if p.amount_minor < 0 else "reward"
            stake = ""
            if round_stakes is not None and p.participant in round_stakes:
                at_stake = format_amount(round_stakes[p.participant], currency, decimals)
                stake = f" (stake {at_stake})"
            reason = f"{prefix}: {p.reason}{stake}"
            lines.append(
                LedgerLine(
                    paid_round, p.participant, kind, p.amount_minor, reason, currency, places
                )
            )
            out.append(p)
    store.append_ledger_lines(full, lines, once=PAYMENT_KINDS)
    return out


def ledger_amount(entry: LedgerEntry, decimals: int | None = None) -> str:
    """A ledger line's amount in major units: minor units counted in the decimals recorded
    with the line, else ``decimals``, else the currency's ISO 4217 exponent (a decimal
    string line as written).

    Parameters
    ----------
    entry:
        The ledger line.
    decimals:
        The decimals of lines that recorded none (written before rengo recorded them).

    Returns
    -------
    str
        The amount, e.g. ``"0.5217"`` for 5217 minor units at 4 decimals.
    """
    if isinstance(entry.amount, str):
        return entry.amount
    places = entry.decimals if entry.decimals is not None else decimals
    return format_minor(entry.amount, currency_decimals(entry.currency, places))


def ledger_totals(entries: Sequence[LedgerEntry]) -> dict[str, int]:
    """Net integer amount per participant over ledger lines (decimal-string lines skipped)."""
    totals: dict[str, int] = {}
    for e in entries:
        if isinstance(e.amount, int):
            totals[e.participant] = totals.get(e.participant, 0) + e.amount
    return dict(sorted(totals.items()))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads a cell starting with as a formula (OWASP, CSV injection)."""


def spreadsheet_text(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: one starting like a formula
    (:data:`FORMULA_STARTS`) gets a leading apostrophe (``=SUM(A1)`` -> ``'=SUM(A1)``)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def ledger_csv_rows(
    store: RunStore, run_ids: Sequence[str], decimals: int | None = None
) -> list[dict[str, str]]:
    """Ledger lines as CSV rows: amounts in major units with the currency's decimals; text
    that a spreadsheet would run as a formula (a participant named ``=HYPERLINK(...)``) is
    kept as text (:func:`spreadsheet_text`)."""
    rows: list[dict[str, str]] = []
    for run_id in run_ids:
        full = store.resolve_run_id(run_id)
        for e in store.ledger(full):
            amount = ledger_amount(e, decimals)
            rows.append(
                {
                    "run": full,
                    "round": "" if e.round is None else str(e.round),
                    "participant": spreadsheet_text(e.participant),
                    "kind": spreadsheet_text(e.kind),
                    "amount": amount,
                    "currency": spreadsheet_text(e.currency),
                    "reason": spreadsheet_text(e.reason or ""),
                    "timestamp": e.created_at.isoformat(timespec="seconds"),
                    "entry": str(e.seq),
                }
            )
    return rows


def write_ledger_csv(
    store: RunStore,
    run_ids: Sequence[str],
    path: str | os.PathLike[str],
    decimals: int | None = None,
    *,
    delimiter: str = ",",
    decimal: str = ".",
    bom: bool = False,
) -> int:
    """Write the runs' ledger lines to a UTF-8 CSV with a header row (by
    :func:`rengo.data.csv_export.write_csv`); returns the row count.

    The store's own file (and its SQLite companions) is refused: writing the CSV over it
    would destroy the append-only ledger it reads.

    Parameters
    ----------
    store:
        The run store.
    run_ids:
        Run ids or unique prefixes; their lines are written in this order.
    path:
        The CSV file (replaced if it exists; ``rengo rewards export`` asks first).
    decimals:
        Overrides each currency's number of decimals.
    delimiter, decimal, bom:
        How the file is written for a spreadsheet (``";"``, ``","``, ``True`` for Excel in
        a locale with decimal commas: the amounts are then written ``5,00``); the defaults
        are what scripts read.

    Returns
    -------
    int
        The number of rows written (the header not counted).

    Raises
    ------
    ConfigError
        ``path`` is the run store's file, or for a ``delimiter`` or ``decimal``
        :func:`~rengo.data.csv_export.write_csv` refuses.
    """
    from rengo.data.csv_export import write_csv

    target = Path(path)
    refuse_store_file(store, target)
    rows = ledger_csv_rows(store, run_ids, decimals)
    cells = ([_amount(row[c]) if c == "amount" else row[c] for c in CSV_COLUMNS] for row in rows)
    return write_csv(target, CSV_COLUMNS, cells, delimiter=delimiter, decimal=decimal, bom=bom)


def _amount(text: str) -> Decimal | str:
    """An amount's text as a number (written with the decimal separator asked for), or as
    it is if it is none (text an early release wrote)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return value if value.is_finite() else text


def refuse_store_file(store: RunStore, target: Path) -> None:
    """A ConfigError when ``target`` is the store's file or one of SQLite's companions."""
    if str(store.path) == MEMORY:
        return
    own = store.path.resolve()
    files = [own] + [own.with_name(own.name + end) for end in ("-wal", "-shm", "-journal")]
    if target.resolve() in files:
        raise ConfigError(
            f"{target} is the run store {store.path}; writing there would destroy it "
            "(nothing was written)"
        )
