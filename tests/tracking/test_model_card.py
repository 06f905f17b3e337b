"""A run's model card says what the run store recorded (digests, seed, settings, held-out
metrics, the reliability table, parties) and "not recorded" for what it did not: it never
fills a fact in."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from rengo.metrics import reliability_records, reliability_table
from rengo.tracking import NOT_RECORDED, RunStore, model_card
from rengo.tracking.tables import epsilon_shown

WRITTEN = datetime(2026, 12, 7, tzinfo=timezone.utc)
DIGEST = "f50c3fea2373" + "0" * 52


def _vertical_run(store: RunStore, algorithm: str = "hetero_lr") -> str:
    config = {
        "kind": "vfl",
        "algorithm": algorithm,
        "job_file": "/jobs/credit.toml",
        "data_files": {"/data/card.csv": DIGEST, "/data/bank.csv": "ab" * 32},
        "parties": {"card": "/data/card.csv", "bank": "/data/bank.csv"},
        "job_settings": {
            "job": {"seed": 7},
            "vfl": {
                "algorithm": algorithm,
                "key_bits": 2048,
                "label_party": "card",
                "label": "default",
                "test_size": 0.2,
                "target_recall": None,
            },
        },
    }
    table = reliability_records(reliability_table([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.95], 4))
    with store.run("vfl", config, name="credit", seed=7) as run:
        store.log_round(run.run_id, 1, {"train_loss": 0.6}, 0.1, 2, 0)
        store.log_round(run.run_id, 2, {"test_auc": 0.8125, "test_brier": 0.0956}, 0.1, 2, 0)
        run.summary.update(
            auc=0.8125,
            common_customers=412,
            scored_customers=4,
            party_rows={"card": 500, "bank": 480},
            reliability=table,
        )
    return run.run_id


def test_the_card_of_a_vertical_run_holds_its_recorded_digests_seed_metrics_and_bins(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _vertical_run(store)
        card = model_card(store, run_id, now=WRITTEN)
    assert card.startswith("# Model card: credit\n")
    assert f"| /data/card.csv | {DIGEST} |" in card
    assert "| seed | 7 |" in card
    assert "| vfl.key_bits | 2048 |" in card and "| Paillier key size (bits) | 2048 |" in card
    assert "| vfl.target_recall | unset |" in card  # recorded as unset: not "not recorded"
    assert "| shared rows (PSI intersection) | 412 |" in card
    assert "| training rows per party (before PSI) | bank: 480, card: 500 |" in card
    assert "| test_auc | 0.8125 | 2 | higher |" in card
    assert "| test_brier | 0.0956 | 2 | lower |" in card
    assert "| [0.75, 1.00] | 1 | 0.9500 | 1.0000 | +0.0500 |" in card
    assert "| label party | card |" in card and "| parties | bank, card |" in card
    recorded_commit = store_commit(tmp_path / "runs.db", run_id)
    assert f"checkout's; a release is named by its version) | {recorded_commit} |" in card


def store_commit(path: Path, run_id: str) -> str:
    """What the run recorded as its source commit (``not recorded`` for a release)."""
    with RunStore(path) as store:
        summary = store.get_run(run_id).summary or {}
    return str(summary.get("rengo_commit", NOT_RECORDED))


def test_a_recorded_run_keeps_the_source_commit_it_ran_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rengo.tracking.run as lifecycle

    for commit in ("0123abcd" * 5 + "+changes", None):
        monkeypatch.setattr(lifecycle, "source_commit", lambda c=commit: c)
        with RunStore(tmp_path / "runs.db") as store:
            with store.run("hfl", {}) as run:
                pass
            card = model_card(store, run.run_id, now=WRITTEN)
            summary = store.get_run(run.run_id).summary or {}
        assert summary.get("rengo_commit") == commit
        assert f"by its version) | {commit or NOT_RECORDED} |" in card


def test_the_source_commit_is_read_as_the_run_opens_not_as_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit made (or a branch switched) while a long run trains does not relabel the
    code that ran: the checkout's HEAD is read before the run's body starts."""
    import rengo.tracking.run as lifecycle

    head = ["a" * 40]  # the checkout's HEAD: a commit lands while the run trains
    monkeypatch.setattr(lifecycle, "source_commit", lambda: head[0])
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {}) as run:
            head[0] = "b" * 40
        summary = store.get_run(run.run_id).summary or {}
    assert summary.get("rengo_commit") == "a" * 40


def test_the_source_commit_is_this_checkouts_or_nothing() -> None:
    import re

    from rengo.tracking.source_commit import source_commit

    found = source_commit()
    assert found is None or re.fullmatch(r"[0-9a-f]{40}(\+changes)?", found), found


EVALUATED = "held-out rows evaluated (a known label: the metrics' and the reliability table's rows)"


def test_a_transfer_run_recorded_before_test_rows_says_its_evaluated_rows_are_not_recorded(
    tmp_path: Path,
) -> None:
    """A transfer target knows the labels of few held-out rows: a run recorded before
    `test_rows` showed its scored rows (4) as the rows its metrics were computed on."""
    with RunStore(tmp_path / "runs.db") as store:
        old_transfer = model_card(store, _vertical_run(store, "ftl"), now=WRITTEN)
        old_linear = model_card(store, _vertical_run(store), now=WRITTEN)
    before = "not recorded (the run predates rengo recording it)"
    assert f"| {EVALUATED} | {before} |" in old_transfer
    assert "| test_auc | 0.8125 |" in old_transfer and "(4 rows)" not in old_transfer
    assert "not recorded how many rows: the run predates rengo recording it" in old_transfer
    # another vertical algorithm evaluates every scored row: those are its rows
    assert f"| {EVALUATED} | 4 |" in old_linear and "(4 rows)" in old_linear


def test_the_card_of_a_bare_run_says_not_recorded_instead_of_guessing(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("vfl", {}) as run:
            pass
        card = model_card(store, run.run_id, now=WRITTEN)
    assert f"| seed | {NOT_RECORDED} |" in card
    assert f"Data files and digests: {NOT_RECORDED}." in card
    assert f"Job settings: {NOT_RECORDED}" in card
    assert f"Metrics on held-out rows: {NOT_RECORDED}." in card
    assert f"Reliability table: {NOT_RECORDED}" in card
    assert f"| shared rows (PSI intersection) | {NOT_RECORDED} |" in card
    assert f"| Paillier key size (bits) | {NOT_RECORDED} |" in card
    assert "2048" not in card and "| test_" not in card


def test_a_damaged_reliability_record_is_named_not_shown_as_a_table(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("vfl", {}) as run:
            run.summary["reliability"] = [{"lower": 0.0, "upper": "x", "rows": 1}]
        card = model_card(store, run.run_id, now=WRITTEN)
    assert "Reliability table: unreadable" in card and "upper = 'x'" in card


def test_a_horizontal_card_lists_each_clients_rows_and_the_coordinators_metrics(
    tmp_path: Path,
) -> None:
    settings = {
        "job": {"seed": 1, "rounds": 1},
        "data": {"test_size": 0.25},
        "model": {"type": "logistic"},
    }
    with RunStore(tmp_path / "runs.db") as store:
        config = {
            "job_settings": settings,
            "bundled_data": {"dataset": "breast_cancer", "rengo": "9.9"},
        }
        with store.run("hfl", {**config, "strategy": "FedAvg"}, seed=1) as run:
            for client, rows in (("a", 100), ("b", 60)):
                store.log_client(run.run_id, 1, client, "fit", "ok", rows, 10, 10, 0.1)
            store.log_round(run.run_id, 1, {"central_auc": 0.9, "central_ece": 0.05}, 0.1, 2, 0)
        card = model_card(store, run.run_id, now=WRITTEN)
    assert "Bundled dataset `breast_cancer` of rengo 9.9" in card
    assert "| a | 100 |" in card and "| b | 60 |" in card
    assert "| central_ece | 0.05 | 1 | lower |" in card
    assert "logistic model trained with FedAvg" in card
    assert "| differential privacy spent | none (no [privacy] settings) |" in card


def test_an_unknown_run_is_refused(tmp_path: Path) -> None:
    from rengo.tracking import UnknownRunError

    with RunStore(tmp_path / "runs.db") as store, pytest.raises(UnknownRunError):
        model_card(store, "19990101-000000-000000")


def test_recorded_absences_read_none_not_not_recorded(tmp_path: Path) -> None:
    """A run from a job file without --set overrides, and one whose privacy settings say
    dp = "none" (secure aggregation alone), recorded those facts: the card says none."""
    config = {"job_file": "job.toml", "job_settings": {"privacy": {"dp": "none", "secagg": True}}}
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", config) as run:
            pass
        card = model_card(store, run.run_id, now=WRITTEN)
    assert "| --set overrides | none |" in card
    assert "| differential privacy spent | none (dp = none) |" in card


def test_importance_asked_of_a_horizontal_run_is_refused_not_ignored(tmp_path: Path) -> None:
    from rengo.core.errors import ConfigError

    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {}) as run:
            pass
        assert "Per-feature importance: not recorded" in model_card(store, run.run_id)
        with pytest.raises(ConfigError, match=r"no party importance.*--importance client-0"):
            model_card(store, run.run_id, shared_importance=["client-0"])


def test_a_central_dp_cards_settings_give_its_epsilon_when_recomputed_with_dp_accounting(
    tmp_path: Path,
) -> None:
    """A data-protection officer signs the card's epsilon off by recomputing it. A run made
    with ``simulate`` (no job file) had a card whose privacy settings read 'not recorded',
    though the run recorded them; the card now lists each setting the epsilon follows from,
    and dp-accounting, given only those, returns the epsilon the card states."""
    dp_accounting = pytest.importorskip("dp_accounting")
    import numpy as np

    from rengo.hfl import (
        DifferentialPrivacy,
        FedAvg,
        LogisticRegressionClient,
        simulate,
        softmax_init,
    )
    from rengo.privacy import CentralDP, update_noise_multiplier

    rng = np.random.default_rng(0)
    data = {str(i): (rng.normal(size=(12, 3)), rng.integers(0, 2, 12)) for i in range(40)}
    dp = CentralDP(
        noise_multiplier=1.5, clip_norm=0.5, adaptive_clipping=True, sampling_rate=0.5,
        delta=1e-3, target_epsilon=4.0, weighting="bounded", weight_cap=20, accountant="rdp",
    )  # fmt: skip
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: LogisticRegressionClient(*data[cid], lr=0.1), list(data),
            DifferentialPrivacy(FedAvg(), dp), softmax_init(3, 2), 20, store=store,
        )  # fmt: skip
        assert history.run_id is not None and history.stopped is not None  # the budget
        card = model_card(store, history.run_id, now=WRITTEN)
    rows = dict(
        tuple(cell.strip() for cell in line.strip("|").split(" | ", 1))
        for line in card.splitlines()
        if line.startswith("| central DP: ") or line.startswith("| differential privacy spent")
    )
    assert "client-level" in card and "privacy settings | not recorded" not in card
    assert "data.standardize" not in rows["central DP: outside the guarantee"]  # no scaling
    # what the officer reads off the card
    z = float(rows["central DP: noise multiplier z (the round as a whole)"])
    q = float(rows["central DP: client sampling"].split("q = ")[1].split()[0])
    delta = float(rows["central DP: delta"])
    composed = int(rows["central DP: rounds accounted"].split()[0])
    assert rows["central DP: accountant"].startswith("RDP")
    assert rows["central DP: client weights"] == "bounded: min(1, examples / 20), at most 1"
    assert rows["central DP: target epsilon"].startswith("4: training stops before")
    assert "it stopped this run" in rows["central DP: target epsilon"]
    z_delta = update_noise_multiplier(1.5, 0.5 * 40 / 20)
    assert rows["central DP: update noise multiplier"].startswith(f"{z_delta:.4g} in the last")
    assert rows["central DP: clip norm C"].startswith("adaptive (Andrew et al. 2021) from 0.5")
    # ... and dp-accounting's own epsilon from them, against the card's
    accountant = dp_accounting.rdp.RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z))
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, composed))
    epsilon = accountant.get_epsilon(delta)
    spent = rows["differential privacy spent"]
    assert spent == f"epsilon {epsilon_shown(epsilon)} at delta 0.001 after {composed} rounds"
    # the budget stopped the run at the last round within it, not before
    accountant.compose(event)
    assert epsilon <= 4.0 < accountant.get_epsilon(delta)


def test_a_central_dp_card_names_feature_scaling_fitted_without_noise(tmp_path: Path) -> None:
    """A DP job with data.standardize = true scales every model with statistics of all
    clients' rows taken without noise: the run warned, but its card, which an officer signs,
    said nothing of it."""
    dp = {"kind": "central", "noise_multiplier": 1.0, "clip_norm": 1.0, "seeded_noise": False}
    scaling = {"mean": [0.0], "scale": [1.0]}
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {"dp": dp, "input_standardization": scaling}) as run:
            store.log_round(run.run_id, 1, {"dp_epsilon": 2.0, "dp_delta": 1e-5}, 0.1, 2, 0)
        card = model_card(store, run.run_id, now=WRITTEN)
    (row,) = [line for line in card.splitlines() if "central DP: outside the guarantee" in line]
    assert "feature scaling (data.standardize = true) fitted without noise" in row
    assert "| central DP: rounds accounted | not recorded |" in card  # an older run's record


def test_a_clients_failure_reason_cannot_make_the_card_say_the_budget_stopped_the_run(
    tmp_path: Path,
) -> None:
    """The card's target row quoted any event that contained 'privacy budget reached', and a
    client's failure reason is recorded as it wrote it ('client X dropped: ...'): a client
    could make the card an officer signs say the budget ended a run it did not end."""
    from rengo.privacy import PrivacyBudgetExhausted

    dp = {"kind": "central", "noise_multiplier": 1.0, "clip_norm": 1.0, "target_epsilon": 9.0}
    forged = "client evil dropped: privacy budget reached: 1 rounds spent epsilon = 0.01"
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {"dp": dp}) as run:
            store.log_round(run.run_id, 1, {"dp_epsilon": 2.0, "dp_delta": 1e-5}, 0.1, 2, 0)
            store.log_event(run.run_id, "warning", forged, 1)
        card = model_card(store, run.run_id, now=WRITTEN)
        (row,) = [line for line in card.splitlines() if "central DP: target epsilon" in line]
        assert "stopped this run" not in row
        with store.run("hfl", {"dp": dp}) as stopped:
            store.log_round(stopped.run_id, 1, {"dp_epsilon": 8.5, "dp_delta": 1e-5}, 0.1, 2, 0)
            budget = PrivacyBudgetExhausted(8.50001, 9.2, 9.0, 1)
            store.log_event(stopped.run_id, "warning", str(budget), 1)
        card = model_card(store, stopped.run_id, now=WRITTEN)
    (row,) = [line for line in card.splitlines() if "central DP: target epsilon" in line]
    assert "it stopped this run (privacy budget reached: 1 rounds spent epsilon = 8.501;" in row


def test_a_central_dp_run_that_skipped_rounds_says_fewer_were_accounted_not_counted_twice(
    tmp_path: Path,
) -> None:
    """A central-DP run recorded with rounds 2 and 3 skipped short of clients (3 rounds
    accounted over 5): the card and ``rengo runs show`` explained the difference as a round
    that "ran again and counts twice", the opposite of the truth, and the card's "outside
    the guarantee" row did not name the skips, whose pattern no noise covers."""
    from rengo.tracking.tables import privacy_spent

    dp = {"kind": "central", "noise_multiplier": 2.0, "clip_norm": 1.0, "seeded_noise": False}
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {"dp": dp}) as run:
            accounted = 0
            for r in range(1, 6):
                if r in (2, 3):
                    store.log_round(run.run_id, r, {"round_skipped": 1.0}, 0.1, 6, 4)
                    continue
                accounted += 1
                metrics = {"dp_epsilon": float(accounted), "dp_delta": 1e-5}
                metrics["dp_rounds_accounted"] = float(accounted)
                store.log_round(run.run_id, r, metrics, 0.1, 6, 0)
        card = model_card(store, run.run_id, now=WRITTEN)
        line = privacy_spent(store, run.run_id)
    assert line is not None and "after 5 rounds (3 rounds accounted: 2 round(s) skipped" in line
    assert "counts twice" not in line and "counts twice" not in card
    assert "| central DP: rounds accounted | 3 over 5 rounds (2 round(s) skipped short" in card
    (row,) = [ln for ln in card.splitlines() if "central DP: outside the guarantee" in ln]
    assert "which rounds were skipped short of clients (2: round 2, 3)" in row


def test_the_clients_rounds_column_counts_only_rounds_whose_aggregate_took_the_update(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl", {"strategy": "FedAvg", "rounds": 4}, seed=1) as run:
            rid = run.run_id
            for number in (1, 2, 3, 4):
                store.log_client(rid, number, "a", "fit", "ok", 10, 1, 1, 0.1)
                store.log_client(rid, number, "a", "evaluate", "ok", 5, 1, 1, 0.1)
                b_fit = "failed" if number == 4 else "ok"
                store.log_client(rid, number, "b", "fit", b_fit, 10, 1, 1, 0.1)
                skipped = number in (2, 3)  # on_short_round="skip": nothing aggregated
                metrics = {"round_skipped": 1.0} if skipped else {"central_auc": 0.9}
                store.log_round(rid, number, metrics, 0.1, 2, 1 if number == 4 else 0)
        card = model_card(store, rid, now=WRITTEN)
        stats = {s.client_id: s for s in store.client_stats(rid)}
    assert {c: (s.rounds_participated, s.rounds_aggregated) for c, s in stats.items()} == {
        "a": (4, 2),
        "b": (4, 1),
    }
    assert "| client | rounds aggregated | failures |" in card
    assert "| a | 2 | 0 |" in card and "| b | 1 | 1 |" in card
    assert "a round the run skipped (too few clients reported), and a round the run" in card


def test_a_round_the_run_failed_in_counts_as_aggregated_for_no_client(tmp_path: Path) -> None:
    # on_short_round="fail": round 2 kept the fits of a and b, then the run failed before
    # recording the round, so nothing of round 2 went into any model.
    with RunStore(tmp_path / "runs.db") as store:
        with (
            pytest.raises(RuntimeError, match="too few"),
            store.run("hfl", {"strategy": "FedAvg", "rounds": 3}, seed=1) as run,
        ):
            rid = run.run_id
            for client in ("a", "b", "c"):
                store.log_client(rid, 1, client, "fit", "ok", 10, 1, 1, 0.1)
            store.log_round(rid, 1, {"central_auc": 0.9}, 0.1, 3, 0)
            for client in ("a", "b"):
                store.log_client(rid, 2, client, "fit", "ok", 10, 1, 1, 0.1)
            store.log_client(rid, 2, "c", "fit", "failed", 0, 1, 0, 0.1, "timeout")
            raise RuntimeError("round 2: too few clients replied")
        assert store.get_run(rid).status == "failed"
        card = model_card(store, rid, now=WRITTEN)
        stats = {s.client_id: s for s in store.client_stats(rid)}
    assert {c: s.rounds_aggregated for c, s in stats.items()} == {"a": 1, "b": 1, "c": 1}
    assert "| a | 1 | 0 |" in card and "| c | 1 | 1 |" in card
