"""``rengo rewards show | pay | export``: contribution scores, payouts and the ledger of a run.

Register with ``app.add_typer(rewards_app, name="rewards")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rengo.cli.csv_export_options import ExcelOption, ExportDecimalOption, ExportDelimiterOption
from rengo.cli.errors import friendly_errors
from rengo.cli.run_filter_options import (
    NameOption,
    SinceOption,
    TzOption,
    UntilOption,
    chosen_runs,
)
from rengo.cli.store_option import RunIdArgument, StoreOption, open_existing_store
from rengo.rewards import DEFAULT_CURRENCY

if TYPE_CHECKING:
    from rengo.tracking import LedgerEntry, RunStore

rewards_app = typer.Typer(
    help="Contribution scores, reward payments and the payout ledger of a run; totals over runs.",
    no_args_is_help=True,
)
console = Console()

DecimalsOption = Annotated[
    int | None,
    typer.Option(
        help="Decimals of the currency's minor unit (default: ISO 4217, else 2); a ledger "
        "line written with its own is read with those."
    ),
]


def contribution_table(
    run_id: str,
    method: str,
    totals: dict[str, float],
    rounds: int,
    stderr: dict[str, float] | None = None,
    intervals: dict[str, tuple[float, float]] | None = None,
    confidence: float | None = None,
) -> Table:
    """Participants by decreasing contribution, with their share of the positive total and,
    where recorded, each value's standard error and confidence interval ("exact" where the
    error is 0, "-" where none was recorded); ``rounds`` 0 for values of the whole run only
    (method "or", a vertical run's retrained coalitions). Participants whose values read
    the same to the shown five decimals share a rank (1, 2, 2, 4)."""
    span = f"summed over {rounds} round{'s' if rounds != 1 else ''}" if rounds else "whole run"
    table = Table(title=f"Contribution ({method}, {span}) - run {run_id}", title_justify="left")
    stderr = stderr or {}
    intervals = intervals or {}
    table.add_column("rank", justify="right")
    table.add_column("participant")
    table.add_column("contribution", justify="right")
    if stderr:
        table.add_column("std. error", justify="right")
        table.add_column(f"{100 * (confidence or 0.95):g}% interval", justify="right")
    table.add_column("share of positive", justify="right")
    positive = sum(max(v, 0.0) for v in totals.values())
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{value:+.5f}" for _, value in ranked]
    for (participant, value), text in zip(ranked, shown, strict=True):
        share = f"{100 * max(value, 0.0) / positive:.1f}%" if positive > 0 else "-"
        rank = shown.index(text) + 1  # values that read the same share a rank (1, 2, 2, 4)
        row = [str(rank), escape(participant), text]
        if stderr:
            error = stderr.get(participant)
            interval = intervals.get(participant)
            row.append("-" if error is None else ("exact" if error == 0 else f"{error:.5f}"))
            row.append("-" if interval is None else f"[{interval[0]:+.5f}, {interval[1]:+.5f}]")
        table.add_row(*row, share)
    return table


def ledger_table(run_id: str, entries: Sequence[LedgerEntry], decimals: int | None = None) -> Table:
    """Every ledger line of a run, amounts in major units (:func:`ledger_amount`)."""
    from rengo.tracking.contrib_records import ledger_amount

    table = Table(title=f"Ledger - run {run_id}", title_justify="left")
    for column in ("entry", "round", "participant", "kind"):
        table.add_column(column)
    table.add_column("amount", justify="right")
    table.add_column("currency")
    table.add_column("reason", overflow="fold")
    for e in entries:
        amount = ledger_amount(e, decimals)
        table.add_row(
            str(e.seq),
            "" if e.round is None else str(e.round),
            escape(e.participant),  # text from the ledger, never console markup
            escape(e.kind),
            amount,
            escape(e.currency),
            escape(e.reason or ""),
        )
    return table


def print_contribution_notes(store: RunStore, run_id: str, method: str | None = None) -> None:
    """Print how the run's ``method`` values were computed, where it recorded that
    (:func:`~rengo.tracking.contrib_records.valuation_text`), and what it recorded about
    them (:func:`~rengo.tracking.contrib_records.contribution_notes`), so whoever reads or
    pays them later sees it too."""
    from rengo.tracking.contrib_records import (
        contribution_notes,
        recorded_valuation,
        valuation_text,
    )

    valuation = None if method is None else recorded_valuation(store, run_id, method)
    if method is not None and valuation is not None:
        console.print(f"valued: {escape(valuation_text(method, valuation))}", soft_wrap=True)

    for message in contribution_notes(store, run_id):
        console.print(f"[bold yellow]note:[/] {message}")


@rewards_app.command("show")
def show(
    run_id: RunIdArgument,
    store: StoreOption = None,
    method: Annotated[
        str | None, typer.Option(help="Contribution method (default: the last recorded).")
    ] = None,
    decimals: DecimalsOption = None,
) -> None:
    """Contribution of each participant and the payouts recorded for the run."""
    from rengo.tracking.contrib_records import run_contributions

    with friendly_errors(), open_existing_store(store, read_only=True) as s:
        found = run_contributions(s, run_id, method)
        console.print(
            contribution_table(
                found.run_id,
                found.method,
                found.totals,
                len(found.per_round),
                found.stderr,
                found.intervals,
                found.confidence,
            )
        )
        print_contribution_notes(s, found.run_id, found.method)
        entries = s.ledger(found.run_id)
        if entries:
            console.print(ledger_table(found.run_id, entries, decimals))
        else:
            console.print(f"no payouts yet: `rengo rewards pay {found.run_id} --budget 1000.00`")


@rewards_app.command("pay")
def pay(
    run_id: RunIdArgument,
    budget: Annotated[
        str, typer.Option(help="Amount to distribute, in major units (e.g. 1000.00).")
    ],
    store: StoreOption = None,
    policy: Annotated[
        str,
        typer.Option(
            help="proportional (to clipped-positive contribution), equal, or stake "
            "(stake x clip(factor x contribution))."
        ),
    ] = "proportional",
    currency: Annotated[str, typer.Option(help="Currency code or unit name.")] = DEFAULT_CURRENCY,
    decimals: DecimalsOption = None,
    method: Annotated[
        str | None, typer.Option(help="Contribution method (default: the last recorded).")
    ] = None,
    per_round: Annotated[
        bool, typer.Option("--per-round", help="Split the budget equally across rounds.")
    ] = False,
    stake: Annotated[
        list[str] | None,
        typer.Option(help="NAME=AMOUNT stake of a participant (policy stake); repeat."),
    ] = None,
    factor: Annotated[str, typer.Option(help="Payout factor (policy stake).")] = "1",
    clip: Annotated[str, typer.Option(help="Clip as a fraction of stake (policy stake).")] = "0.05",
) -> None:
    """Pay the run's participants from a budget and append the payouts to the ledger."""
    from rengo.cli.amount_option import option_minor_units
    from rengo.core.errors import ConfigError
    from rengo.rewards import currency_decimals, format_minor
    from rengo.tracking.contrib_records import pay_rewards, run_contributions

    with friendly_errors(), open_existing_store(store) as s:
        places = currency_decimals(currency, decimals)
        budget_minor = option_minor_units("--budget", budget, places)
        stakes: dict[str, int] | None = None
        if stake:
            stakes = {}
            for item in stake:
                name, sep, amount = item.partition("=")
                if not sep or not name:
                    raise ConfigError(f"--stake takes NAME=AMOUNT, got {item!r}")
                if name in stakes:
                    raise ConfigError(f"--stake names {name!r} twice")
                stakes[name] = option_minor_units(f"--stake {name}", amount, places)
            participants = run_contributions(s, run_id, method).totals
            unknown = sorted(set(stakes) - set(participants))
            if unknown:  # a typo would otherwise be ignored
                raise ConfigError(
                    f"--stake for {unknown}, who have no contribution in run "
                    f"{s.resolve_run_id(run_id)}; its participants are {sorted(participants)}"
                )
        payouts = pay_rewards(
            s,
            run_id,
            policy,
            budget_minor,
            currency,
            decimals=decimals,
            method=method,
            per_round=per_round,
            stakes_minor=stakes,
            factor=factor,
            clip=clip,
        )
        paid = sum(p.amount_minor for p in payouts if p.amount_minor > 0)
        full = s.resolve_run_id(run_id)
        console.print(ledger_table(full, s.ledger(full)[-len(payouts) :], decimals))
        print_contribution_notes(s, full, run_contributions(s, full, method).method)
        payees = len({p.participant for p in payouts if p.amount_minor > 0})
        console.print(
            f"paid {format_minor(paid, places)} of {format_minor(budget_minor, places)} "
            f"{currency} to {payees} participant{'s' * (payees != 1)}"
        )
        if paid < budget_minor:  # say why the rest stays with the operator
            why = "nobody contributed positively"
            if policy == "stake" and per_round:  # a round's gains are capped by its share
                why = (
                    "with --per-round each round's gains are capped by its share of the "
                    "budget, and a round that earned less than its share leaves the rest "
                    "unpaid (a gain its share cut says so in its ledger line)"
                )
            elif policy == "stake":
                why = "stake x clip(factor x contribution) earned less than the budget, its cap"
            console.print(
                f"[bold yellow]{format_minor(budget_minor - paid, places)} {currency} of the "
                f"budget stays unpaid:[/] {why}"
            )


@rewards_app.command("export")
def export(
    run_ids: Annotated[list[str], typer.Argument(help="One or more run ids (or prefixes).")],
    csv_path: Annotated[Path, typer.Option("--csv", help="CSV file to write.")],
    store: StoreOption = None,
    decimals: DecimalsOption = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a file already there (else refuse, writing nothing).")
    ] = False,
    excel: ExcelOption = False,
    delimiter: ExportDelimiterOption = ",",
    decimal: ExportDecimalOption = ".",
) -> None:
    """Write the runs' ledger lines to a CSV an accountant can open (amounts in major units).

    An existing file is kept unless --overwrite; the run store itself is always refused.
    For Excel: --excel (and --delimiter ';' --decimal , where Excel writes 0,5).
    """
    from rengo.cli.output_paths import refuse_to_replace, writable_folder
    from rengo.tracking.contrib_records import write_ledger_csv

    with friendly_errors(), open_existing_store(store, read_only=True) as s:
        for run_id in run_ids:  # an unknown run is refused before any file is touched
            s.resolve_run_id(run_id)
        refuse_to_replace([csv_path], overwrite, option="--csv")
        writable_folder(csv_path.parent)
        count = write_ledger_csv(
            s, run_ids, csv_path, decimals, delimiter=delimiter, decimal=decimal, bom=excel
        )
        console.print(f"wrote {count} ledger lines to {csv_path}")


@rewards_app.command("totals")
def totals(
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Runs to add up (ids or prefixes); default: every run the filters pick."
        ),
    ] = None,
    store: StoreOption = None,
    kind: Annotated[str | None, typer.Option(help="Only runs of this kind.")] = None,
    name: NameOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    tz: TzOption = None,
    decimals: DecimalsOption = None,
) -> None:
    """What each participant was paid over many runs, from the ledger, exactly.

    Each total is the sum of that participant's ledger lines in the runs added (in minor
    units, so it equals the sum of what rengo rewards show gives per run); participants are
    named as the lines name them (a party renamed between runs shows under both names).

    Example: rengo rewards totals --since 2026-01-01 --until 2026-12-31 --tz UTC
    """
    from rengo.rewards.money import format_minor
    from rengo.tracking import RunFilter, payout_totals

    with friendly_errors(), open_existing_store(store, read_only=True) as s:
        wanted = RunFilter.from_text(
            kind,
            None,
            name,
            since,
            until,
            option_names=("--status", "--since", "--until"),
            zone=tz,
        )
        picked = [run.run_id for run in chosen_runs(s, run_ids, wanted)]
        found = payout_totals(s, picked, decimals)
        if not found.totals:
            console.print(f"no ledger lines in the {len(picked)} run(s) chosen")
            return
        table = Table(title=f"Payouts over {len(found.runs)} paid run(s)", title_justify="left")
        table.add_column("participant")
        table.add_column("total", justify="right")
        table.add_column("currency")
        table.add_column("runs", justify="right")
        table.add_column("lines", justify="right")
        for t in found.totals:
            table.add_row(
                escape(t.participant),
                format_minor(t.amount_minor, t.decimals),
                escape(t.currency),
                str(len(t.runs)),
                str(t.lines),
            )
        for currency, minor, places in found.currency_sums():
            table.add_row("[bold](all)[/]", format_minor(minor, places), escape(currency), "", "")
        console.print(table)
        if found.unreadable:
            console.print(
                f"[bold yellow]note:[/] {found.unreadable} ledger line(s) left out: an amount "
                "written as text that is no number"
            )
