"""``[privacy] secagg = true``: the job runs its rounds through SecAgg+ with the secagg_* options,
alone or with client-clipped central DP; bad keys name the fix."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import DifferentialPrivacy, ResultChecks, SecAggPlus, simulate
from rengo.jobs import build_hfl_job, parse_job
from rengo.privacy import SecAgg

BASE = {
    "data": {"dataset": "iris"},
    "partition": {"num_clients": 5},
    "model": {"type": "logistic"},
}


def test_secagg_true_builds_the_secagg_workflow_with_its_options() -> None:
    spec = parse_job(
        {**BASE, "privacy": {"secagg": True, "secagg_neighbours": 2, "secagg_threshold": 0.6}}
    )
    job = build_hfl_job(spec)
    assert isinstance(job.workflow, SecAggPlus)
    assert job.workflow.config == SecAgg(neighbours=2, threshold=0.6)
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 1,
        workflow=job.workflow,
    )  # fmt: skip
    assert not history.rounds[0].failures


def test_a_signed_secagg_job_simulates_with_a_throwaway_ca_per_run() -> None:
    spec = parse_job({**BASE, "privacy": {"secagg": True, "secagg_signed": True}})
    job = build_hfl_job(spec)
    assert isinstance(job.workflow, SecAggPlus) and job.workflow.ca is None  # deployed: real CA
    mods, workflow = job.for_simulation()
    assert isinstance(workflow, SecAggPlus) and workflow.ca is not None
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 1,
        workflow=workflow, client_mods=mods,
    )  # fmt: skip
    assert not history.rounds[0].failures and workflow.last.signed


def test_without_secagg_the_default_workflow_runs() -> None:
    assert build_hfl_job(parse_job(BASE)).workflow is None


def test_secagg_with_client_clipped_central_dp() -> None:
    privacy = {"dp": "central", "clip_at": "client", "secagg": True, "secagg_quantisation_bits": 20}
    job = build_hfl_job(parse_job({**BASE, "privacy": privacy}))
    assert isinstance(job.strategy, DifferentialPrivacy)
    assert isinstance(job.workflow, SecAggPlus)
    assert job.workflow.config.quantisation_bits == 20


@pytest.mark.parametrize(
    ("privacy", "match"),
    [
        ({"secagg_neighbours": 4}, "need privacy.secagg = true"),
        ({"secagg": "yes"}, "use true or false"),
        ({"secagg": True, "secagg_treshold": 0.5}, "threshold"),
        ({"secagg": True, "secagg_neighbours": 1}, "neighbours"),
        ({"dp": "central", "secagg": True}, "clip_at = 'client'"),
    ],
)
def test_bad_secagg_keys_name_the_fix(privacy, match) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_job({**BASE, "privacy": privacy})


def test_per_update_result_checks_under_secagg_are_refused_not_silently_off() -> None:
    raw = {**BASE, "privacy": {"secagg": True}, "result_checks": {"max_update_norm_ratio": 5.0}}
    with pytest.raises(ConfigError, match="max_update_norm_ratio compares each update"):
        parse_job(raw)
    allowed = {**BASE, "privacy": {"secagg": True}, "result_checks": {"max_claimed_examples": 9}}
    spec = parse_job(allowed)  # no per-update comparison: accepted, its median rules off
    assert spec.result_checks == ResultChecks(
        max_claimed_examples=9, max_weight_ratio=None, max_update_norm_ratio=None
    )
    job = build_hfl_job(spec)
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 1,
        workflow=job.workflow, checks=spec.result_checks,
    )  # fmt: skip
    assert not history.rounds[0].failures


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        ({"strategy": {"name": "fedmedian"}, "privacy": {"secagg": True}}, "releases only the sum"),
        ({"strategy": {"name": "scaffold"}, "privacy": {"secagg": True}}, "releases only the sum"),
        ({"strategy": {"name": "krum"}, "privacy": {"dp": "central"}}, "averaging strategy"),
        ({"strategy": {"name": "fedtrimmedavg"}, "privacy": {"dp": "central"}}, "averaging"),
    ],
)
def test_a_strategy_its_privacy_cannot_run_is_refused_when_the_job_is_built(
    sections, match
) -> None:
    spec = parse_job({**BASE, "partition": {"num_clients": 9}, **sections})
    with pytest.raises(ConfigError, match=rf"<dict>: \[strategy\] with \[privacy\]: .*{match}"):
        build_hfl_job(spec)


def test_rengo_run_refuses_conflicting_sections_without_recording_a_run(tmp_path) -> None:
    from typer.testing import CliRunner

    from rengo.cli.main import app
    from rengo.tracking import RunStore

    job = tmp_path / "job.toml"
    job.write_text(
        '[data]\ndataset = "iris"\n[partition]\nnum_clients = 9\n[model]\ntype = "logistic"\n'
        '[strategy]\nname = "krum"\n[privacy]\ndp = "central"\n'
    )
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(store)])
    assert result.exit_code != 0
    assert "averaging strategy" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    if store.exists():
        with RunStore(store) as opened:
            assert opened.list_runs() == []


def test_contribution_or_under_secagg_is_refused_when_the_job_is_parsed() -> None:
    """Method "or" rebuilds models from every client's update, which SecAgg+ hides: the job
    used to be accepted and the run failed only after round 1 had trained."""
    raw = {**BASE, "privacy": {"secagg": True}, "contribution": {"method": "or"}}
    with pytest.raises(ConfigError) as refused:
        parse_job(raw)
    message = " ".join(str(refused.value).split())
    assert "contribution.method = 'or'" in message and "privacy.secagg = true" in message
    assert "use a per-round method (gtg, mr, tmc, loo)" in message
    for method in ("auto", "gtg", "mr", "tmc", "loo"):  # these fall back to group level
        parse_job({**BASE, "privacy": {"secagg": True}, "contribution": {"method": method}})
    parse_job({**BASE, "contribution": {"method": "or"}})  # without secagg "or" runs


@pytest.mark.parametrize("policy", ["proportional", None])
def test_a_budget_paid_by_contribution_under_secagg_is_refused_when_the_job_is_parsed(
    policy: str | None,
) -> None:
    """Under SecAgg+ every round is valued at group level, so a proportional budget split
    the pool equally and its ledger lines called the equal shares "gtg contribution"."""
    section = {"method": "gtg", "budget": "1000.00", **({"policy": policy} if policy else {})}
    with pytest.raises(ConfigError) as refused:
        parse_job({**BASE, "privacy": {"secagg": True}, "contribution": section})
    message = " ".join(str(refused.value).split())
    assert "contribution.budget with policy = 'proportional'" in message
    assert 'contribution.policy = "equal"' in message
    equal = {**section, "policy": "equal"}
    parse_job({**BASE, "privacy": {"secagg": True}, "contribution": equal})  # says what it is
    parse_job({**BASE, "privacy": {"secagg": True}, "contribution": {"method": "gtg"}})
    parse_job({**BASE, "contribution": section})  # without secagg values are per client


def test_a_signed_secagg_job_applies_its_robust_attack_as_an_unsigned_one_does() -> None:
    """The signing mod sits after the job's attack mods: the signed simulation skipped them
    (iris, 6 clients, 3 sign_flip attackers, 2 rounds: central accuracy 0.7333 signed,
    0.6333 unsigned), so its results were recorded without the attack."""
    import numpy as np

    def final(signed: bool, attack: bool) -> list[np.ndarray]:
        raw: dict[str, object] = {
            **BASE,
            "partition": {"num_clients": 6},
            "privacy": {"secagg": True, "secagg_signed": signed},
        }
        if attack:
            raw["robust"] = {"attack": "sign_flip", "attackers": 3}
        job = build_hfl_job(parse_job(raw))
        mods, workflow = job.for_simulation()
        history = simulate(
            job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 2,
            workflow=workflow, client_mods=mods, seed=0,
        )  # fmt: skip
        return list(history.parameters)

    signed = final(True, True)
    for a, b in zip(signed, final(False, True), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b) for a, b in zip(signed, final(True, False), strict=True)
    )  # and the attack did change the model
