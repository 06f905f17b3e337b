"""Job files: parse and validate a TOML run description, and build what it describes."""

from rengo.jobs.build import (
    STRATEGY_CLASSES,
    HflJob,
    build_federation,
    build_hfl_job,
    build_strategy,
    load_job_dataset,
)
from rengo.jobs.spec import JobSpec, VflSection, load_job, parse_job
from rengo.jobs.state_dict import model_state_dict
from rengo.jobs.vertical import VerticalJob, build_vertical_job, run_vertical_job

__all__ = [
    "STRATEGY_CLASSES",
    "HflJob",
    "JobSpec",
    "VerticalJob",
    "VflSection",
    "build_federation",
    "build_hfl_job",
    "build_strategy",
    "build_vertical_job",
    "load_job",
    "load_job_dataset",
    "model_state_dict",
    "parse_job",
    "run_vertical_job",
]
