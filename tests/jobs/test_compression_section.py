"""``[compression]``: a job's clients send their updates compressed through the
CompressedUpdates workflow; combinations that cannot work are refused naming the fix, and a
key the chosen codec does not read warns."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import CompressedUpdates, UpdateCompression, simulate
from rengo.jobs import build_hfl_job, parse_job
from rengo.jobs.build import job_settings

BASE = {
    "data": {"dataset": "iris"},
    "partition": {"num_clients": 4},
    "model": {"type": "logistic"},
}


@pytest.mark.parametrize(
    ("section", "mods"),
    [
        ({"update": "topk", "fraction": 0.2}, ("compress_update",)),
        ({"model": "int8", "chunk": 8}, ("decompress_model",)),  # the model alone
    ],
)
def test_the_compression_section_builds_the_compressed_workflow_and_runs(
    section: dict[str, object], mods: tuple[str, ...]
) -> None:
    spec = parse_job({**BASE, "compression": section})
    job = build_hfl_job(spec)
    assert isinstance(job.workflow, CompressedUpdates)
    assert job.workflow.settings == UpdateCompression(**section)  # type: ignore[arg-type]
    assert job.workflow.client_mods() == mods
    recorded = job_settings(spec)["compression"]  # a resume must match it
    assert all(recorded[key] == value for key, value in section.items())
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 2,
        workflow=job.workflow,
    )  # fmt: skip
    assert not any(r.failures for r in history.rounds)


def test_update_none_and_no_section_run_the_default_workflow() -> None:
    assert build_hfl_job(parse_job({**BASE, "compression": {"update": "none"}})).workflow is None
    assert "compression" not in job_settings(parse_job(BASE))  # earlier runs' records match


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"compression": {"update": "int4"}}, r"compression\.update"),
        ({"compression": {"update": "topk", "fraction": 0}}, r"compression\.fraction"),
        ({"compression": {"update": "int8", "chunk": 0}}, r"compression\.chunk"),
        ({"compression": {"update": "topk", "ratio": 0.1}}, r"ratio"),
        (
            {"compression": {"update": "int8"}, "privacy": {"secagg": True}},
            "secure aggregation already quantises",
        ),
        (
            {"compression": {"update": "float16"}, "strategy": {"name": "qfedavg"}},
            "q-FedAvg's clients send their step",
        ),
        ({"compression": {"model": "topk"}}, r"compression\.model"),  # float16 or int8 only
        (
            {"compression": {"update": "topk", "model": "float16"}, "privacy": {"secagg": True}},
            "compression.update = 'topk' with privacy.secagg",
        ),
        (
            {"compression": {"model": "int8"}, "strategy": {"name": "qfedavg"}},
            "compression.model = 'int8' with strategy.name = 'qfedavg'",
        ),
    ],
)
def test_bad_or_conflicting_compression_settings_are_refused_naming_the_key(
    extra: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_job({**BASE, **extra})


def test_a_key_the_codec_does_not_read_warns() -> None:
    with pytest.warns(UserWarning, match=r"compression\.fraction is ignored with"):
        parse_job({**BASE, "compression": {"update": "int8", "fraction": 0.1}})


def test_a_job_without_the_model_key_records_none_so_its_older_runs_still_resume() -> None:
    spec = parse_job({**BASE, "compression": {"update": "topk"}})
    assert "model" not in job_settings(spec)["compression"]


def test_chunk_is_read_by_an_int8_model_and_ignored_by_a_float16_one() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_job({**BASE, "compression": {"update": "topk", "model": "int8", "chunk": 64}})
    with pytest.warns(UserWarning, match=r"compression\.chunk is ignored with"):
        parse_job({**BASE, "compression": {"model": "float16", "chunk": 64}})
