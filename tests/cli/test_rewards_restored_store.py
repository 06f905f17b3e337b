"""A run store restored from a backup taken before a payment must not pay that run again:
``runs.db.payments`` beside the store witnesses every payment after the ledger has it."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rengo.cli.rewards import rewards_app
from rengo.tracking import RunStore, pay_rewards

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(rewards_app, name="rewards")


def _valued_run(path: Path) -> str:
    with RunStore(path) as store:
        run = store.start_run("hfl", {}, name="fed")
        for who, value in {"alice": 0.12, "bob": 0.06}.items():
            store.log_contribution(run, 1, who, "gtg", value)
            store.log_contribution(run, None, who, "gtg", value)
        store.finish_run(run, "completed")
    return run


def _restore(backup: Path, store: Path) -> None:
    for name in (store.name, f"{store.name}-wal", f"{store.name}-shm"):
        (store.parent / name).unlink(missing_ok=True)
    shutil.copy2(backup, store)


def test_a_store_restored_from_before_a_payment_refuses_to_pay_that_run_again(
    tmp_path: Path,
) -> None:
    """Backed up, paid, restored from the backup: `rengo rewards pay` paid the run a second
    time (exit 0, 'paid 100.00 of 100.00 credits'), the first payment's record gone."""
    store = tmp_path / "runs.db"
    run = _valued_run(store)
    shutil.copy2(store, tmp_path / "before.db")  # closed: the whole store is in runs.db
    pay = ["rewards", "pay", run, "--budget", "100.00", "--store", str(store)]
    paid = runner.invoke(app, pay)
    assert paid.exit_code == 0, paid.output
    _restore(tmp_path / "before.db", store)
    again = runner.invoke(app, pay)
    said = " ".join(again.output.split())
    assert again.exit_code == 2, said
    assert f"run {run} was paid before" in said and "paying again would pay twice" in said
    with RunStore(store) as s:
        assert s.ledger(run) == []


def test_a_payment_the_witness_records_is_refused_only_where_the_ledger_lacks_it(
    tmp_path: Path,
) -> None:
    """Another run of the restored store, never paid, is paid as before; the witness file
    is readable by its owner only."""
    store = tmp_path / "runs.db"
    paid_run = _valued_run(store)
    other = _valued_run(store)
    with RunStore(store) as s:
        s.backup(tmp_path / "before.db")
    pay = ["rewards", "pay", "--budget", "100.00", "--store", str(store)]
    assert runner.invoke(app, [*pay[:2], paid_run, *pay[2:]]).exit_code == 0
    _restore(tmp_path / "before.db", store)
    fresh = runner.invoke(app, [*pay[:2], other, *pay[2:]])
    assert fresh.exit_code == 0, fresh.output
    witness = tmp_path / "runs.db.payments"
    assert oct(witness.stat().st_mode & 0o777) == "0o600"
    assert paid_run in witness.read_text() and other in witness.read_text()


def test_a_payment_stopped_by_ctrl_c_in_its_transaction_is_still_recorded_in_the_witness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGINT that lands inside the payment's transaction is acted on after COMMIT: the
    ledger holds the payment, and runs.db.payments must too, or a store restored from a
    backup taken before it pays the run again (before: no witness line, paid twice)."""
    store = tmp_path / "runs.db"
    run = _valued_run(store)
    with RunStore(store) as s:
        s.backup(tmp_path / "before.db")
    checked = RunStore._refuse_paid_before_restore

    def ctrl_c_inside(self: RunStore, run_id: str, rounds: set[int | None]) -> None:
        checked(self, run_id, rounds)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(RunStore, "_refuse_paid_before_restore", ctrl_c_inside)
    with pytest.raises(KeyboardInterrupt), RunStore(store) as s:
        pay_rewards(s, run, "proportional", 10000)
    monkeypatch.undo()
    with RunStore(store) as s:
        assert len(s.ledger(run)) == 2  # the payment committed before the signal acted
    _restore(tmp_path / "before.db", store)
    again = runner.invoke(app, ["rewards", "pay", run, "--budget", "100.00", "--store", str(store)])
    assert again.exit_code == 2, again.output
    assert "paying again would pay twice" in " ".join(again.output.split())


def test_a_witness_line_cut_short_does_not_swallow_the_next_payments_line(
    tmp_path: Path,
) -> None:
    """A crash or a full disk left the witness's last line without its end; the next
    payment's line must start on a line of its own, or it is glued to the broken one,
    skipped, and the run is paid twice after a restore."""
    store = tmp_path / "runs.db"
    run = _valued_run(store)
    with RunStore(store) as s:
        s.backup(tmp_path / "before.db")
    witness = tmp_path / "runs.db.payments"
    witness.write_text('{"run_id": "20000101-000000-aaaaaa", "round": null, "paid_')
    pay = ["rewards", "pay", run, "--budget", "100.00", "--store", str(store)]
    assert runner.invoke(app, pay).exit_code == 0
    _restore(tmp_path / "before.db", store)
    again = runner.invoke(app, pay)
    assert again.exit_code == 2, again.output
    assert f"run {run} was paid before" in " ".join(again.output.split())


@pytest.mark.parametrize("round_text", ["[2]", '"2"', "2.0", "true", "-1"])
def test_a_hand_edited_witness_line_of_wrong_types_is_refused_naming_its_file_and_line(
    tmp_path: Path, round_text: str
) -> None:
    """A round written as a list crashed the payment with a TypeError traceback; one written
    as text was silently never matched: each is refused, naming the file and line, and
    nothing is paid."""
    store = tmp_path / "runs.db"
    run = _valued_run(store)
    witness = tmp_path / "runs.db.payments"
    witness.write_text(
        '{"run_id": "20000101-000000-aaaaaa", "round": 1, "paid_at": "x"}\n'
        f'{{"run_id": "{run}", "round": {round_text}, "paid_at": "x"}}\n'
    )
    paid = runner.invoke(app, ["rewards", "pay", run, "--budget", "100.00", "--store", str(store)])
    said = " ".join(paid.output.split())
    assert paid.exit_code == 2, said
    assert paid.exception is None or isinstance(paid.exception, SystemExit)
    assert f"{witness} line 2 is not a payment record" in said
    with RunStore(store) as s:
        assert s.ledger(run) == []
