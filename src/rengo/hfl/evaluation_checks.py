"""The coordinator's checks of a round's evaluation results, before they are averaged.

Federated evaluation weights each party's loss and metrics by the examples it says it
evaluated. A party that claims 10^12 of them (under
:attr:`~rengo.hfl.ResultChecks.max_claimed_examples`) makes the round's ``eval_loss`` and
``eval_accuracy`` its own numbers, whatever the honest parties measured; one whose count
times its loss overflows float64 turns ``eval_loss`` into ``inf``. So, over a round's
evaluation results (all held before they are averaged):

* with :attr:`~rengo.hfl.ResultChecks.max_evaluation_weight_ratio` every claim is counted
  at most at that multiple of the round's lower median claim
  (:func:`~rengo.hfl.result_checks.claim_cap`, the rule fit results follow), so a liar counts
  as a few median parties; unlike the fit rules it stays under secure aggregation (evaluation
  results arrive one by one) and central DP (which does not cover them);
* with :attr:`~rengo.hfl.ResultChecks.max_evaluation_loss_ratio` a result whose loss is, in
  magnitude, more than that multiple of the round's upper median loss magnitude
  (:func:`typical_loss`: over the results with examples, with three or more of them) is
  refused: the weighted mean is each party's word, and one party saying 1e140 made the
  round's ``eval_loss`` about 1e140 / parties, its worst round, so early stopping watching it
  ended the run there. With three or more results one party saying 1e-300 cannot pull the
  median below the middle honest loss (the upper median, for an even count), so only an
  honest loss over that multiple of it is refused; with two there is no middle, neither
  word outweighs the other and nothing is refused (a median of 0, every loss 0 but a few,
  bounds nothing either);
* a result whose (capped) count times its largest value - the loss or a numeric metric -
  could overflow the weighted sum (:func:`~rengo.hfl.result_checks.overflow_limit`) is
  refused, so the round's means stay finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rengo.core.messages import EvaluateResult
from rengo.hfl.result_checks import claim_cap, low_median, overflow_limit


@dataclass(frozen=True)
class EvaluationVerdict:
    """What the coordinator does with one party's evaluation result.

    ``result`` is what counts (its count capped where the claim was), or None when the
    result is refused; ``note`` is the operator's reason (a cap, or why it was refused) and
    ``told`` what the party itself is told (never the round's median, the other parties'
    business); both None for a result counted as sent.
    """

    client_id: str
    result: EvaluateResult | None
    note: str | None = None
    told: str | None = None


def largest_evaluated_value(result: EvaluateResult) -> float:
    """``max |value|`` over a result's loss and numeric metrics (0 for none), in float64."""
    values = [abs(float(result.loss))]
    for value in result.metrics.values():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values.append(abs(float(value)))
    return max(values)


def screen_evaluations(
    results: Sequence[tuple[str, EvaluateResult]],
    weight_ratio: float | None,
    loss_ratio: float | None = None,
) -> list[EvaluationVerdict]:
    """One verdict per evaluation result of a round, in order (see the module docstring).

    Parameters
    ----------
    results
        The round's evaluation results that passed the per-result checks (finite loss, a
        claim within ``max_claimed_examples``, screened metrics), as ``(client, result)``.
    weight_ratio
        Cap each claim at this multiple of the round's lower median claim; None: no cap.
    loss_ratio
        Refuse a loss beyond this multiple of the round's upper median loss magnitude over
        the results with examples (:func:`typical_loss`), when there are at least three of
        them; None: no bound.

    Returns
    -------
    list of EvaluationVerdict
        Each result as it counts, capped or refused with the reason.
    """
    cap = None
    median = 0.0
    if weight_ratio is not None and results:
        claims = [r.num_examples for _, r in results]
        median, cap = low_median(claims), claim_cap(claims, weight_ratio)
    limit = overflow_limit(len(results))
    loss_bound = typical = math.inf
    if loss_ratio is not None:
        typical = typical_loss(results)
        loss_bound = loss_ratio * typical if typical > 0 else math.inf
    verdicts = []
    for client_id, result in results:
        if abs(float(result.loss)) > loss_bound:
            reason = (
                f"evaluation loss {float(result.loss):.3g} is more than {loss_ratio:g}x the "
                f"round's median evaluation loss {typical:.3g} "
                "(result_checks.max_evaluation_loss_ratio)"
            )
            verdicts.append(EvaluationVerdict(client_id, None, reason, reason))
            continue
        note = told = None
        if cap is not None and result.num_examples > cap:
            note = (
                f"weight capped: claimed {result.num_examples} evaluation examples, counted "
                f"as {cap} ({weight_ratio:g}x the round's median claim {median:g}; "
                "result_checks.max_evaluation_weight_ratio)"
            )
            told = (
                f"your claim of {result.num_examples} evaluation examples was counted as "
                "fewer: result_checks.max_evaluation_weight_ratio = "
                f"{weight_ratio:g} caps a claim at that many times the round's median claim"
            )
            result = EvaluateResult(result.loss, cap, result.metrics)
        largest = largest_evaluated_value(result)
        if not (math.isfinite(largest) and result.num_examples * largest <= limit):
            reason = (
                f"evaluation weight {result.num_examples} x values up to {largest:.3g} would "
                "overflow the federated mean"
            )
            verdicts.append(EvaluationVerdict(client_id, None, reason, reason))
            continue
        verdicts.append(EvaluationVerdict(client_id, result, note, told))
    return verdicts


def typical_loss(results: Sequence[tuple[str, EvaluateResult]]) -> float:
    """The loss magnitude ``max_evaluation_loss_ratio`` measures each result against: the
    upper median of ``|loss|`` over the results with examples, or ``inf`` (no bound) with
    fewer than three of them.

    With three or more results a single value cannot move it past its honest neighbours
    either way (the upper of the two middle values for an even count, so that a party
    reporting a tiny loss cannot lower it to the smaller honest one); nothing with two,
    where neither party's word outweighs the other's; results without examples count for
    nothing in the mean and so not here."""
    losses = sorted(abs(float(r.loss)) for _, r in results if r.num_examples > 0)
    if len(losses) < 3:
        return math.inf
    return losses[len(losses) // 2]
