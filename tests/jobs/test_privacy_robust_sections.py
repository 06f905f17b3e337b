"""[privacy] and [robust] job sections: keys come from CentralDP / LocalDP and the attack
registry, errors name the key and the fix, and the built job is private / attacked."""

from __future__ import annotations

import warnings

import pytest

from rengo.core.errors import ConfigError
from rengo.core.options import option_specs
from rengo.hfl import DifferentialPrivacy
from rengo.hfl.mods.attacks import ForClients, LabelFlipAttack, SignFlipAttack
from rengo.jobs import build_hfl_job, parse_job
from rengo.jobs.privacy_spec import privacy_keys
from rengo.privacy import CentralDP, LocalDP

BASE = {
    "data": {"dataset": "iris"},
    "partition": {"num_clients": 5},
    "model": {"type": "logistic"},
}


def test_privacy_keys_are_the_config_fields() -> None:
    assert privacy_keys("central") == tuple(s.name for s in option_specs(CentralDP))
    assert privacy_keys("local") == tuple(s.name for s in option_specs(LocalDP))


def test_central_dp_wraps_the_strategy() -> None:
    spec = parse_job(
        {**BASE, "privacy": {"dp": "central", "noise_multiplier": 0.7, "target_epsilon": 5}}
    )
    job = build_hfl_job(spec)
    assert isinstance(job.strategy, DifferentialPrivacy)
    assert job.strategy.dp == CentralDP(noise_multiplier=0.7, target_epsilon=5.0)
    assert job.strategy.strategy.on_fit_config is not None  # the training config reaches it


@pytest.mark.parametrize(
    ("privacy", "match"),
    [
        ({"dp": "central", "noise_multipler": 1.0}, "did you mean 'noise_multiplier'"),
        ({"dp": "central", "clip_norm": -1.0}, "privacy.clip_norm must be > 0"),
        ({"dp": "centre"}, "choose one of none, central, local"),
        ({"noise_multiplier": 1.0}, "need privacy.dp"),
        ({"dp": "local"}, 'needs model.type = "mlp"'),
    ],
)
def test_bad_privacy_sections_name_the_fix(privacy, match) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_job({**BASE, "privacy": privacy})


def test_robust_section_installs_the_attack_on_the_last_clients() -> None:
    spec = parse_job({**BASE, "robust": {"attack": "sign_flip", "attackers": 2, "scale": 5}})
    job = build_hfl_job(spec)
    (mod,) = job.client_mods
    assert isinstance(mod, ForClients)
    assert mod.mod == SignFlipAttack(scale=5.0)
    assert mod.clients == set(job.client_ids[-2:])


@pytest.mark.parametrize(
    ("robust", "match"),
    [
        ({"attack": "signflip"}, "robust.attack: unknown attack 'signflip'; did you mean"),
        ({"attack": "sign_flip", "scael": 2}, "did you mean 'scale'"),
        ({"attack": "gaussian", "stddev": 0}, "robust.stddev must be > 0"),
        ({"attackers": 2}, "needs attack ="),
        ({"attack": "sign_flip", "attackers": []}, "attackers is empty"),
    ],
)
def test_bad_robust_sections_name_the_fix(robust, match) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_job({**BASE, "robust": robust})


def test_label_flipping_flips_within_the_datasets_own_classes() -> None:
    """Iris has 3 classes: the attack's default of 10 would index past them and every
    attacker would fail (a silent dropout instead of an attack)."""
    job = build_hfl_job(parse_job({**BASE, "robust": {"attack": "label_flip", "attackers": 1}}))
    (mod,) = job.client_mods
    assert isinstance(mod, ForClients) and mod.mod == LabelFlipAttack(num_classes=3)
    wrong = {**BASE, "robust": {"attack": "label_flip", "num_classes": 10}}
    with pytest.raises(ConfigError, match="num_classes = 10, but the dataset has 3 classes"):
        build_hfl_job(parse_job(wrong))


def test_a_strategy_that_needs_more_clients_than_the_job_has_is_refused_before_training() -> None:
    spec = parse_job({**BASE, "strategy": {"name": "bulyan", "num_byzantine": 1}})
    with pytest.raises(
        ConfigError, match=r"Bulyan needs 7 clients available per round .*Bulyan: 4"
    ):
        build_hfl_job(spec)
    seven = {**BASE, "partition": {"num_clients": 7}, "strategy": {"name": "bulyan"}}
    assert build_hfl_job(parse_job(seven)).strategy.min_fit_clients == 7
    krum = {**BASE, "strategy": {"name": "krum", "num_byzantine": 2}}  # 5 clients, 7 needed
    with pytest.raises(ConfigError, match=r"Krum needs 7 clients available .*Krum: 2 num_byz"):
        build_hfl_job(parse_job(krum))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"target_label": 99}, r"robust.target_label = 99 is not one of the dataset's classes"),
        ({"target_label": -1}, r"target_label must be a class, >= 0"),
        ({"trigger_size": 50}, r"robust.trigger_size = 50 exceeds the dataset's 4 features"),
    ],
)
def test_a_backdoor_that_cannot_exist_in_the_data_is_refused(
    options: dict[str, int], match: str
) -> None:
    """Target 99 on iris made the attackers fail every round (IndexError) and the run was
    recorded completed with no attack; -1 silently targeted the last class."""
    job = {**BASE, "robust": {"attack": "backdoor", "attackers": 1, **options}}
    with pytest.raises(ConfigError, match=match):
        build_hfl_job(parse_job(job))


def test_a_table_with_one_class_is_refused_before_training(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It trained to accuracy 1 and loss 0 and was recorded as a completed run."""
    table = tmp_path / "one.csv"
    table.write_text("a,b,y\n" + "".join(f"{i},{i % 3},1\n" for i in range(40)))
    job = {**BASE, "data": {"dataset": "csv", "path": str(table), "label": "y"}}
    with pytest.raises(ConfigError, match=r"a classifier needs at least 2 classes; .* has 1"):
        build_hfl_job(parse_job(job))


def test_attackers_that_are_not_clients_are_named_with_the_job_and_its_client_ids() -> None:
    job = {**BASE, "robust": {"attack": "sign_flip", "attackers": ["6", "7"]}}
    with pytest.raises(ConfigError, match=r"<dict>: robust.attackers \['6', '7'\] are not") as e:
        build_hfl_job(parse_job(job))
    assert "its clients are client-0, client-1, client-2, ..." in str(e.value)


def test_median_result_checks_are_refused_under_central_dp_and_off_by_default() -> None:
    from rengo.hfl import ResultChecks

    raw = {
        **BASE,
        "privacy": {"dp": "central"},
        "result_checks": {"max_update_norm_ratio": 5.0},
    }
    with pytest.raises(ConfigError, match=r"result_checks\.max_update_norm_ratio .*central DP"):
        parse_job(raw)
    kept = {**BASE, "privacy": {"dp": "central"}, "result_checks": {"max_claimed_examples": 9}}
    assert parse_job(kept).result_checks == ResultChecks(
        max_claimed_examples=9, max_weight_ratio=None, max_update_norm_ratio=None
    )


@pytest.mark.parametrize("dp", ["central", "local"])
def test_pooled_feature_scaling_under_dp_is_flagged_as_outside_epsilon(dp: str) -> None:
    """A DP job with data.standardize (the default) scaled every client's features by the
    mean and spread of all clients' training rows - un-noised, recorded in the run config and
    shaping every released model - and said nothing: epsilon does not cover them."""
    model = {"type": "mlp"} if dp == "local" else BASE["model"]
    job = {**BASE, "model": model, "privacy": {"dp": dp}}
    with pytest.warns(UserWarning, match="the reported epsilon does not cover them"):
        build_hfl_job(parse_job(job))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_hfl_job(parse_job({**job, "data": {**BASE["data"], "standardize": False}}))
        build_hfl_job(parse_job(BASE))  # no DP: nothing to cover
