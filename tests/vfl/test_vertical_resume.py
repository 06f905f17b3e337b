"""A vertical run interrupted after epoch k resumes from its checkpoints to the very model an
uninterrupted run trains; the coordinator's private key is never on disk in the clear; and
checkpoints that do not belong together are refused with a reason or rolled back."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vertical_split import split_columns

from rengo.core.errors import ConfigError, DataError
from rengo.core.roles import COORDINATOR
from rengo.crypto.key_storage import private_key_to_bytes
from rengo.deploy.vertical import RESUMABLE_ERRORS
from rengo.transport.channel import LocalBus, run_roles
from rengo.vfl.checkpoints import CheckpointFolder, EpochState, MissingCheckpoint
from rengo.vfl.common import PartyData, PartyTable
from rengo.vfl.hetero_linear.config import HeteroLinearConfig
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.math import adaptive_lr_scale
from rengo.vfl.hetero_poisson.config import HeteroPoissonConfig
from rengo.vfl.registry import algorithms, get_algorithm, register, unregister
from rengo.vfl.runner import (
    SimulatedRun,
    VerticalPlan,
    simulate_vertical,
    vertical_coordinator,
    vertical_party,
)

PASSPHRASE = "correct horse battery staple"
GUEST, HOSTS = "card", ("bank", "telecom")
EPOCHS = 4


def make_data(algorithm: str, rows: int = 90) -> dict[str, PartyData]:
    """Three parties' columns of one small data set; each party lacks a few customers."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 6))
    u = x @ np.array([0.8, -0.5, 0.3, 0.6, -0.4, 0.2])
    y: np.ndarray
    if algorithm == "hetero_lr":
        y = (u + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    elif algorithm == "hetero_poisson":
        y = rng.poisson(np.exp(0.3 * u)).astype(np.float64)
    else:
        y = u + rng.normal(scale=0.1, size=rows)
    return split_columns(x, y, rng, (GUEST, *HOSTS))


CONFIGS: dict[str, Any] = {
    "hetero_lr": HeteroLRConfig(
        epochs=EPOCHS, batch_size=32, key_bits=512, learning_rate=0.2, tol=0.0
    ),
    "hetero_linear": HeteroLinearConfig(
        epochs=EPOCHS, batch_size=32, key_bits=512, learning_rate=0.05, tol=0.0
    ),
    "hetero_poisson": HeteroPoissonConfig(
        epochs=EPOCHS, batch_size=32, key_bits=1024, learning_rate=0.05, tol=0.0
    ),
}


def plan_of(algorithm: str, run: str | None = "run-1", **changes: Any) -> VerticalPlan:
    config = changes.pop("config", CONFIGS[algorithm])
    return VerticalPlan(
        GUEST, HOSTS, config, seed=11, algorithm=algorithm, checkpoint_run=run, **changes
    )


def final_model(run: SimulatedRun) -> dict[str, Any]:
    guest = run.parties[GUEST].model
    return {
        "guest": (guest.weights.tobytes(), guest.intercept, guest.losses, guest.epochs_run),
        **{h: run.parties[h].model.weights.tobytes() for h in HOSTS},
        "scores": run.parties[GUEST].scores.tobytes(),  # type: ignore[union-attr]
    }


_UNINTERRUPTED: dict[str, dict[str, Any]] = {}


def uninterrupted(algorithm: str) -> dict[str, Any]:
    """The run without checkpoints (computed once per algorithm)."""
    if algorithm not in _UNINTERRUPTED:
        plan = plan_of(algorithm, run=None)
        _UNINTERRUPTED[algorithm] = final_model(
            simulate_vertical(plan, make_data(algorithm), timeout=60)
        )
    return _UNINTERRUPTED[algorithm]


def last_epoch_every_role_completed(
    folders: dict[str, CheckpointFolder], crashed: str, crashed_after: int
) -> int:
    """The epoch a resumed run rolls back to, checked against what a crash can leave.

    The crashed role kept epochs 1..k; every other role kept 1..k or 1..k-1. The label party,
    for one, saves epoch k right after telling the others to go on, and a role still
    finishing epoch k's last batch then stops at its next wait for a message that will not
    come (in simulation as deployed), before it saves epoch k.
    """
    kept = {role: f.epochs() for role, f in folders.items()}
    assert kept[crashed] == list(range(1, crashed_after + 1))
    for role, epochs in kept.items():
        assert epochs == list(range(1, len(epochs) + 1)), (role, epochs)
        assert crashed_after - 1 <= len(epochs) <= crashed_after, (role, epochs)
    return min(len(epochs) for epochs in kept.values())


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("algorithm", "who"),
    [
        ("hetero_lr", GUEST),
        ("hetero_lr", "telecom"),
        ("hetero_lr", COORDINATOR),
        ("hetero_linear", "bank"),
        ("hetero_poisson", GUEST),
    ],
)
def test_a_run_interrupted_after_epoch_k_resumes_to_the_uninterrupted_model_bit_for_bit(
    algorithm: str, who: str, tmp_path: Path, crash_after: Any
) -> None:
    data = make_data(algorithm)
    crash_after(who, 2)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(algorithm), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE)
    crash_after("nobody", 0)  # disarmed
    folders = {
        role: CheckpointFolder(tmp_path, "run-1", role, algorithm)
        for role in (COORDINATOR, GUEST, *HOSTS)
    }
    completed = last_epoch_every_role_completed(folders, crashed=who, crashed_after=2)
    resumed = simulate_vertical(
        plan_of(algorithm), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after == completed
    assert resumed.psi() is None  # the saved alignment was reused: no PSI again
    assert final_model(resumed) == uninterrupted(algorithm)
    assert {role: f.epochs() for role, f in folders.items()} == {
        role: list(range(1, EPOCHS + 1)) for role in folders
    }


ADAPTIVE = HeteroLRConfig(
    epochs=6, batch_size=25, key_bits=512, learning_rate=3.0, tol=1e-3, n_iter_no_change=1
)
"""A step so large that the loss goes up in epoch 2: the adaptive schedule halves the rate
there (and again later), before the crash below."""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("who", [GUEST, "telecom"])
def test_a_run_resumed_after_a_learning_rate_cut_goes_on_at_the_cut_rate_on_every_party(
    who: str, tmp_path: Path, crash_after: Any
) -> None:
    data = make_data("hetero_lr")
    expected = final_model(
        simulate_vertical(plan_of("hetero_lr", run=None, config=ADAPTIVE), data, timeout=60)
    )
    losses = expected["guest"][2]
    assert adaptive_lr_scale(losses[:2], 1e-3, 1, ADAPTIVE.lr_decay) == (0.5, False)
    crash_after(who, 3)
    with pytest.raises(crash_after.error):
        simulate_vertical(
            plan_of("hetero_lr", config=ADAPTIVE),
            data,
            checkpoint_dir=tmp_path,
            passphrase=PASSPHRASE,
        )
    crash_after("nobody", 0)
    resumed = simulate_vertical(
        plan_of("hetero_lr", config=ADAPTIVE), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after in (2, 3)  # after the cut of epoch 2
    assert final_model(resumed) == expected


@pytest.mark.timeout(60)
def test_roles_at_different_epochs_roll_back_to_the_last_one_every_role_completed(
    tmp_path: Path, crash_after: Any
) -> None:
    data = make_data("hetero_lr")
    crash_after(GUEST, 3)
    with pytest.raises(crash_after.error):
        simulate_vertical(
            plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    crash_after("nobody", 0)
    # the bank lost its last epoch (a restore from an older backup): it completed only 2 (a
    # role still finishing epoch 3 when the guest crashed may not have saved it at all)
    bank = CheckpointFolder(tmp_path, "run-1", "bank", "hetero_lr")
    (bank.path / "epoch-000003.npz").unlink(missing_ok=True)
    assert bank.epochs() == [1, 2]
    resumed = simulate_vertical(
        plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after == 2
    assert final_model(resumed) == uninterrupted("hetero_lr")


@pytest.mark.timeout(60)
def test_a_party_without_its_alignment_starts_every_role_over_with_psi(
    tmp_path: Path, crash_after: Any
) -> None:
    data = make_data("hetero_lr")
    crash_after("bank", 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(
            plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    crash_after("nobody", 0)
    shutil.rmtree(CheckpointFolder(tmp_path, "run-1", "telecom", "hetero_lr").path)
    resumed = simulate_vertical(
        plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after is None
    assert resumed.psi() is not None
    assert final_model(resumed) == uninterrupted("hetero_lr")


@pytest.mark.timeout(60)
def test_a_finished_runs_checkpoints_give_its_model_again_without_training(
    tmp_path: Path,
) -> None:
    data = make_data("hetero_lr")
    first = simulate_vertical(
        plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    again = simulate_vertical(
        plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert again.coordinator.resumed_after == EPOCHS
    assert not [e for e in again.transcript if e.key.startswith("train/hlr/epoch=")]
    assert final_model(again) == final_model(first) == uninterrupted("hetero_lr")


@pytest.mark.timeout(60)
def test_the_coordinators_checkpoint_never_holds_its_private_key_in_the_clear(
    tmp_path: Path,
) -> None:
    run = simulate_vertical(
        plan_of("hetero_lr"), make_data("hetero_lr"), checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    _, private = run.coordinator.keys
    secrets = [private_key_to_bytes(private)]
    for factor in (int(private.p), int(private.q)):
        secrets += [format(factor, "x").encode(), str(factor).encode()]
        secrets.append(factor.to_bytes((factor.bit_length() + 7) // 8, "big"))
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "keys.sealed" for p in on_disk)
    for path in on_disk:
        content = path.read_bytes()
        assert not any(secret in content for secret in secrets), path
        assert path.stat().st_mode & 0o077 == 0, path  # the owner's alone
    folder = CheckpointFolder(tmp_path, "run-1", COORDINATOR, "hetero_lr")
    assert folder.load_keys(PASSPHRASE) == run.coordinator.keys
    with pytest.raises(ConfigError, match="does not open with this passphrase"):
        folder.load_keys("another passphrase")
    with pytest.raises(ConfigError, match="passphrase"):
        simulate_vertical(
            plan_of("hetero_lr", run="run-2"), make_data("hetero_lr"), checkpoint_dir=tmp_path
        )


@pytest.mark.timeout(60)
def test_checkpoints_that_do_not_belong_to_the_run_are_refused_with_the_reason(
    tmp_path: Path, crash_after: Any
) -> None:
    data = make_data("hetero_lr")
    crash_after(GUEST, 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(
            plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    crash_after("nobody", 0)
    completed = last_epoch_every_role_completed(
        {
            r: CheckpointFolder(tmp_path, "run-1", r, "hetero_lr")
            for r in (COORDINATOR, GUEST, *HOSTS)
        },
        crashed=GUEST,
        crashed_after=1,
    )

    # another run's checkpoint copied in
    stolen = tmp_path / "run-2" / "bank"
    shutil.copytree(tmp_path / "run-1" / "bank", stolen)
    with pytest.raises(DataError, match="belongs to run 'run-1', not 'run-2'"):
        simulate_vertical(
            plan_of("hetero_lr", run="run-2"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    # the run resumed with other settings
    other = plan_of("hetero_lr", config=HeteroLRConfig(epochs=5, batch_size=32, key_bits=512))
    with pytest.raises(ConfigError, match=r"checkpointed with another plan .*config"):
        simulate_vertical(other, data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE)
    # a party's table changed since
    changed = dict(data)
    table = data["telecom"].table
    assert table is not None
    changed["telecom"] = PartyData(
        PartyTable(table.ids, table.features + 1.0), None, data["telecom"].score_table
    )
    with pytest.raises(DataError, match="telecom's training table changed"):
        simulate_vertical(
            plan_of("hetero_lr"), changed, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    # none of this harmed the run's own checkpoints: it still resumes to the same model
    resumed = simulate_vertical(
        plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after == completed
    assert final_model(resumed) == uninterrupted("hetero_lr")


@pytest.mark.timeout(60)
def test_a_resume_on_labels_changed_since_is_refused_and_the_run_still_resumes(
    tmp_path: Path, crash_after: Any
) -> None:
    """The alignment pinned the label party's IDs and features, not its labels: a label
    column changed in place resumed the run on other labels."""
    data = make_data("hetero_lr")
    crash_after(GUEST, 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(
            plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    crash_after("nobody", 0)
    guest = data[GUEST]
    assert guest.labels is not None
    flipped = np.asarray(guest.labels).copy()
    flipped[0] = 1 - flipped[0]
    changed = {**data, GUEST: replace(guest, labels=flipped)}
    with pytest.raises(DataError, match=f"{GUEST}'s training labels changed since run run-1"):
        simulate_vertical(
            plan_of("hetero_lr"), changed, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    resumed = simulate_vertical(
        plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert final_model(resumed) == uninterrupted("hetero_lr")


def test_only_algorithms_that_checkpoint_epochs_make_resumable_plans() -> None:
    assert all(spec.resumable for spec in algorithms().values())  # every built-in does
    # an algorithm registered without epoch checkpoints (a plug-in) is refused them
    register(replace(get_algorithm("hetero_lr"), name="no-checkpoints", resumable=False))
    try:
        with pytest.raises(ConfigError, match="no-checkpoints keeps no epoch checkpoints"):
            VerticalPlan(GUEST, HOSTS, seed=1, algorithm="no-checkpoints", checkpoint_run="r")
    finally:
        unregister("no-checkpoints")
    with pytest.raises(ConfigError, match="cannot name a checkpoint folder"):
        VerticalPlan(GUEST, HOSTS, seed=1, checkpoint_run="../etc")
    plan = plan_of("hetero_lr")
    assert VerticalPlan.from_wire(plan.to_wire()) == plan
    assert "checkpoint_run" not in plan_of("hetero_lr", run=None).to_wire()


def test_an_epoch_checkpoint_round_trips_exactly_and_is_written_atomically(
    tmp_path: Path,
) -> None:
    folder = CheckpointFolder(tmp_path, "r", "bank", "hetero_lr")
    weights = np.array([0.1, -2.5e-300, np.pi])
    folder.save_epoch(EpochState(1, {"weights": weights}, {"losses": [0.1 + 0.2], "seed": 7}))
    loaded = folder.load_epoch(1)
    assert loaded.arrays["weights"].tobytes() == weights.tobytes()
    assert loaded.values == {"losses": [0.1 + 0.2], "seed": 7}
    assert [p.name for p in folder.path.iterdir()] == ["epoch-000001.npz"]  # no temporary left
    (folder.path / "epoch-000002.npz").write_bytes(b"truncated")
    with pytest.raises(DataError, match="is damaged"):
        folder.load_epoch(2)
    with pytest.raises(DataError, match="no checkpoint of epoch 3"):
        folder.load_epoch(3)


@pytest.mark.timeout(60)
def test_a_party_without_a_checkpoint_folder_in_a_resumable_run_is_told_how_to_fix_it(
    tmp_path: Path,
) -> None:
    data = make_data("hetero_lr")
    plan = plan_of("hetero_lr")
    bus = LocalBus([COORDINATOR, *plan.parties], timeout=30)
    roles = {
        COORDINATOR: lambda ch: vertical_coordinator(
            ch, plan, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        ),
        **{
            name: (
                lambda ch, name=name: vertical_party(
                    ch, data[name], checkpoint_dir=None if name == "bank" else tmp_path
                )
            )
            for name in plan.parties
        },
    }
    with pytest.raises(ConfigError, match=r"give bank a checkpoint folder \(--checkpoints DIR"):
        run_roles(bus, roles)


@pytest.mark.timeout(120)
def test_a_resumed_run_refuses_a_party_without_its_checkpoints_and_discards_no_epoch(
    tmp_path: Path, crash_after: Any
) -> None:
    """Deployed, each party names its own folder: one given another party's folder (or an
    empty one) reports no checkpoint. Starting over would delete every role's epochs; the
    resume is refused instead, naming the party, and succeeds once it has its folder."""
    data = make_data("hetero_lr")
    crash_after(GUEST, 2)
    with pytest.raises(crash_after.error):
        simulate_vertical(
            plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
        )
    crash_after("nobody", 0)
    folders = {
        role: CheckpointFolder(tmp_path, "run-1", role, "hetero_lr")
        for role in (COORDINATOR, GUEST, *HOSTS)
    }
    kept = {role: f.epochs() for role, f in folders.items()}
    assert max(len(epochs) for epochs in kept.values()) == 2

    def resume(telecom_folder: Path) -> dict[str, Any]:
        plan = plan_of("hetero_lr")
        bus = LocalBus([COORDINATOR, *plan.parties], timeout=60)
        roles = {
            COORDINATOR: lambda ch: vertical_coordinator(
                ch, plan, checkpoint_dir=tmp_path, passphrase=PASSPHRASE, resuming=True
            ),
            **{
                name: (
                    lambda ch, name=name: vertical_party(
                        ch,
                        data[name],
                        checkpoint_dir=telecom_folder if name == "telecom" else tmp_path,
                    )
                )
                for name in plan.parties
            },
        }
        return run_roles(bus, roles)

    with pytest.raises(MissingCheckpoint, match=r"telecom kept no checkpoint of it .* completed"):
        resume(tmp_path / "elsewhere")
    assert issubclass(MissingCheckpoint, RESUMABLE_ERRORS)  # the run stays interrupted
    assert {role: f.epochs() for role, f in folders.items()} == kept  # nothing rolled back
    results = resume(tmp_path)
    assert results[COORDINATOR].resumed_after == min(len(epochs) for epochs in kept.values())
    guest = results[GUEST].model
    assert (guest.weights.tobytes(), guest.intercept, guest.losses, guest.epochs_run) == (
        uninterrupted("hetero_lr")["guest"]
    )


@pytest.mark.timeout(60)
def test_a_resume_with_other_options_names_each_option_that_differs(tmp_path: Path) -> None:
    """It said only 'it differs in config' (seen: a deployed --resume with --epochs 151 of a
    150-epoch run); the operator had to guess which of some 25 options."""
    data = make_data("hetero_lr")
    simulate_vertical(plan_of("hetero_lr"), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE)
    other = plan_of("hetero_lr", config=replace(CONFIGS["hetero_lr"], epochs=EPOCHS + 1, l2=0.5))
    with pytest.raises(ConfigError) as refused:
        simulate_vertical(other, data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE)
    assert f"config.epochs {EPOCHS}, now {EPOCHS + 1}" in str(refused.value)
    assert "config.l2 0.0, now 0.5" in str(refused.value)


@pytest.mark.timeout(120)
def test_a_newton_cg_run_resumes_with_its_conjugate_directions_bit_for_bit(
    tmp_path: Path, crash_after: Any
) -> None:
    """Newton-CG carries a search direction and ``r^T z`` from epoch to epoch: a resumed
    run that lost them restarted CG and trained another model."""
    config = replace(CONFIGS["hetero_lr"], optimizer="newton")
    data = make_data("hetero_lr")
    expected = final_model(
        simulate_vertical(plan_of("hetero_lr", run=None, config=config), data, timeout=60)
    )
    crash_after("telecom", 2)
    with pytest.raises(crash_after.error):
        simulate_vertical(
            plan_of("hetero_lr", config=config),
            data,
            checkpoint_dir=tmp_path,
            passphrase=PASSPHRASE,
        )
    crash_after("nobody", 0)  # disarmed
    resumed = simulate_vertical(
        plan_of("hetero_lr", config=config), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after >= 1
    assert final_model(resumed) == expected


@pytest.mark.timeout(120)
def test_a_resume_on_an_exposure_changed_given_or_dropped_since_is_refused(
    tmp_path: Path, crash_after: Any
) -> None:
    """The alignment kept the labels' digest but not the exposure's: a run checkpointed
    with one exposure resumed with another (or none) and mixed two models."""
    data = make_data("hetero_poisson")
    guest = data[GUEST]
    assert guest.table is not None
    exposure = np.random.default_rng(5).uniform(0.2, 1.0, len(guest.table.ids))
    exposed = {**data, GUEST: replace(guest, exposure=exposure)}
    for run, checkpointed in (("run-1", exposed), ("run-2", data)):
        crash_after(GUEST, 1)
        with pytest.raises(crash_after.error):
            simulate_vertical(
                plan_of("hetero_poisson", run=run),
                checkpointed,
                checkpoint_dir=tmp_path,
                passphrase=PASSPHRASE,
            )
    crash_after("nobody", 0)
    refusals = [
        ("run-1", 2 * exposure, "has another exposure than it was checkpointed with"),
        ("run-1", None, "was checkpointed with an exposure, but none is given now"),
        ("run-2", exposure, "was checkpointed without an exposure, but one is given now"),
    ]
    for run, given, message in refusals:
        changed = {**data, GUEST: replace(guest, exposure=given)}
        with pytest.raises(DataError, match=f"{GUEST}'s training {message} .run {run}"):
            simulate_vertical(
                plan_of("hetero_poisson", run=run),
                changed,
                checkpoint_dir=tmp_path,
                passphrase=PASSPHRASE,
            )
    resumed = simulate_vertical(
        plan_of("hetero_poisson", run="run-1"),
        exposed,
        checkpoint_dir=tmp_path,
        passphrase=PASSPHRASE,
    )
    assert resumed.coordinator.resumed_after == 1
    assert resumed.parties[GUEST].model.epochs_run == EPOCHS
