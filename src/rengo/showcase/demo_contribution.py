"""The demo's contribution section: who contributed what to the federation, and what each
client is paid from a budget, as a table and a bar plot.

Usage in ``rengo demo`` (FedAvg run)::

    tracker = demo_tracker(job, seed)
    history = simulate(..., observers=[tracker])
    contribution_section(console, job, tracker, store, history.run_id, out)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rengo.jobs import HflJob
from rengo.jobs.contribution import ContributionSettings, contribution_tracker
from rengo.rewards import DEFAULT_CURRENCY, currency_decimals, format_minor
from rengo.tracking import RunStore, pay_rewards, record_contributions
from rengo.valuation import ContributionReport, ContributionTracker

DEMO_BUDGET_MINOR = 100_000
"""The demo pays out 1000.00 credits."""
DEMO_CURRENCY = DEFAULT_CURRENCY


def demo_tracker(job: HflJob, seed: int = 0) -> ContributionTracker:
    """GTG-Shapley on the held-out test accuracy, as a job file's ``[contribution]`` section
    values a run (two stratified blocks of permutations per round, so 10 clients x 20 rounds
    add only seconds)."""
    settings = ContributionSettings(method="gtg", metric="accuracy")
    return contribution_tracker(settings, job.evaluate, seed)


def contribution_section(
    console: Console,
    job: HflJob,
    tracker: ContributionTracker | ContributionReport,
    store: RunStore,
    run_id: str,
    out_dir: Path,
    *,
    budget_minor: int = DEMO_BUDGET_MINOR,
    currency: str = DEMO_CURRENCY,
) -> dict[str, Any]:
    """Record the run's contributions, pay ``budget_minor`` in proportion to clipped-positive
    contribution into the ledger, print both, and plot them; returns the figures."""
    report = tracker.report() if isinstance(tracker, ContributionTracker) else tracker
    places = currency_decimals(currency)
    record_contributions(store, run_id, report)
    payouts = {
        p.participant: p.amount_minor
        for p in pay_rewards(
            store, run_id, "proportional", budget_minor, currency, method=report.method
        )
    }
    sizes = job.federation.sizes()
    rows_of = {cid: int(sizes[k]) for k, cid in enumerate(job.client_ids)}
    table = Table(
        title=(
            f"Contribution to {report.score_name} ({report.method}-Shapley over "
            f"{len(report.rounds)} rounds, {report.evaluations} model evaluations) and payout "
            f"of {format_minor(budget_minor, places)} {currency}"
        ),
        title_justify="left",
    )
    table.add_column("client")
    table.add_column("training rows", justify="right")
    table.add_column("contribution", justify="right")
    table.add_column(f"payout ({currency})", justify="right")
    for cid, value in report.ranking():
        table.add_row(
            cid,
            str(rows_of.get(cid, "")),
            f"{value:+.4f}",
            format_minor(payouts.get(cid, 0), places),
        )
    console.print(table)
    plot = plot_contributions(report, payouts, out_dir / "demo-contribution.png", currency)
    console.print(f"plot: [bold]{plot}[/]   ledger: `rengo rewards show {run_id}`")
    return {
        "run_id": run_id,
        "method": report.method,
        "evaluations": report.evaluations,
        "contributions": dict(report.values),
        "payouts_minor": payouts,
        "budget_minor": budget_minor,
        "plot": str(plot),
    }


def plot_contributions(
    report: ContributionReport, payouts_minor: dict[str, int], path: Path, currency: str
) -> Path:
    """Bar plot PNG: each client's contribution (left) and payout (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = [cid for cid, _ in report.ranking()]
    values = [report.values[c] for c in order]
    paid = [payouts_minor.get(c, 0) / 10 ** currency_decimals(currency) for c in order]
    figure = Figure(figsize=(11, 4), dpi=110)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    left.bar(order, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    left.axhline(0, color="black", linewidth=0.8)
    left.set_title(f"contribution ({report.method}-Shapley, {report.score_name})")
    left.set_xlabel("client")
    right.bar(order, paid, color="tab:green")
    right.set_title(f"payout ({currency})")
    right.set_xlabel("client")
    for axes in (left, right):
        axes.tick_params(axis="x", labelrotation=30)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
