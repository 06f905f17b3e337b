"""rengo.tracking: the run store - every run, round, client result, event, checkpoint, ledger
line and contribution score in an embedded SQLite file, plus plots and tables of them.

The store lives at ``./rengo-runs/runs.db`` unless a path or ``$RENGO_STORE`` says otherwise.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.tracking.client_spread import (
        ClientMetricSummary,
        MetricSpread,
        client_metric_spread,
        client_metric_summary,
    )
    from rengo.tracking.column_importance import ColumnImportance, PartyImportance, party_importance
    from rengo.tracking.comparison_output import comparison_table, write_comparison_csv
    from rengo.tracking.contrib_records import (
        pay_rewards,
        record_contributions,
        run_contributions,
        write_ledger_csv,
    )
    from rengo.tracking.errors import (
        AmbiguousRunError,
        RunDeletedError,
        StoreBusyError,
        StoreClosedError,
        StoreCorruptError,
        StoreReadOnlyError,
        StoreReplacedError,
        StoreUnwritableError,
        UnknownRunError,
    )
    from rengo.tracking.ledger_totals import PayoutTotal, PayoutTotals, payout_totals
    from rengo.tracking.location import ENV_VAR, resolve_store_path
    from rengo.tracking.model_export import (
        PartyCategories,
        StoredSecureBoost,
        VerticalParts,
        load_secureboost,
        load_vertical_parts,
    )
    from rengo.tracking.party_changes import PartyChange, recorded_party_changes
    from rengo.tracking.party_requests import PartyRequest, recorded_party_requests
    from rengo.tracking.plots import (
        metric_family,
        plot_client_metrics,
        plot_comparison,
        plot_run,
        plot_runs,
    )
    from rengo.tracking.records import (
        ClientRecord,
        ClientStats,
        ContributionRecord,
        EventRecord,
        LedgerEntry,
        LedgerLine,
        PartyPresence,
        RoundRecord,
        RunInfo,
    )
    from rengo.tracking.revoked_parties import RevokedParty, recorded_revocations
    from rengo.tracking.round_clients import round_clients_table
    from rengo.tracking.run import Run, open_run
    from rengo.tracking.run_card import NOT_RECORDED, model_card
    from rengo.tracking.run_comparison import (
        ComparedRun,
        Comparison,
        SettingGroup,
        compare_runs,
        repeat_command,
    )
    from rengo.tracking.run_filter import RunFilter
    from rengo.tracking.schema import SCHEMA_VERSION
    from rengo.tracking.store import RunStore
    from rengo.tracking.tables import leaderboard_table, run_detail, runs_table, study_table
    from rengo.tracking.tournament_records import RUN_KIND as TOURNAMENT_RUN_KIND
    from rengo.tracking.tournament_records import record_tournament_round, tournament_summary


__all__ = [
    "ENV_VAR",
    "NOT_RECORDED",
    "SCHEMA_VERSION",
    "TOURNAMENT_RUN_KIND",
    "AmbiguousRunError",
    "ClientMetricSummary",
    "ClientRecord",
    "ClientStats",
    "ColumnImportance",
    "ComparedRun",
    "Comparison",
    "ContributionRecord",
    "EventRecord",
    "LedgerEntry",
    "LedgerLine",
    "MetricSpread",
    "PartyCategories",
    "PartyChange",
    "PartyImportance",
    "PartyPresence",
    "PartyRequest",
    "PayoutTotal",
    "PayoutTotals",
    "RevokedParty",
    "RoundRecord",
    "Run",
    "RunDeletedError",
    "RunFilter",
    "RunInfo",
    "RunStore",
    "SettingGroup",
    "StoreBusyError",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreReadOnlyError",
    "StoreReplacedError",
    "StoreUnwritableError",
    "StoredSecureBoost",
    "UnknownRunError",
    "VerticalParts",
    "client_metric_spread",
    "client_metric_summary",
    "compare_runs",
    "comparison_table",
    "leaderboard_table",
    "load_secureboost",
    "load_vertical_parts",
    "metric_family",
    "model_card",
    "open_run",
    "party_importance",
    "pay_rewards",
    "payout_totals",
    "plot_client_metrics",
    "plot_comparison",
    "plot_run",
    "plot_runs",
    "record_contributions",
    "record_tournament_round",
    "recorded_party_changes",
    "recorded_party_requests",
    "recorded_revocations",
    "repeat_command",
    "resolve_store_path",
    "round_clients_table",
    "run_contributions",
    "run_detail",
    "runs_table",
    "study_table",
    "tournament_summary",
    "write_comparison_csv",
    "write_ledger_csv",
]

__getattr__, __dir__ = lazy_exports(__name__)
