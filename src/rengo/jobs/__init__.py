"""Job files: parse and validate a TOML run description, and build what it describes."""

from typing import TYPE_CHECKING, Any

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.jobs.build import (
        HflJob,
        build_federation,
        build_hfl_job,
        build_strategy,
        load_job_dataset,
        run_observers,
    )
    from rengo.jobs.contribution import ContributionSettings, contribution_tracker
    from rengo.jobs.overrides import apply_overrides
    from rengo.jobs.spec import JobSpec, load_job, parse_job
    from rengo.jobs.state_dict import model_state_dict
    from rengo.jobs.vertical import (
        VerticalJob,
        build_vertical_job,
        job_plan,
        party_data,
        run_vertical_job,
    )
    from rengo.jobs.vertical_spec import VflSection


__all__ = [
    "ContributionSettings",
    "HflJob",
    "JobSpec",
    "VerticalJob",
    "VflSection",
    "apply_overrides",
    "build_federation",
    "build_hfl_job",
    "build_strategy",
    "build_vertical_job",
    "contribution_tracker",
    "job_plan",
    "load_job",
    "load_job_dataset",
    "model_state_dict",
    "parse_job",
    "party_data",
    "run_observers",
    "run_vertical_job",
]


def _deprecated_name(name: str) -> Any:
    if name == "STRATEGY_CLASSES":  # deprecated: rengo.hfl.strategy_registry()
        from rengo.jobs import build

        return build.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__getattr__, __dir__ = lazy_exports(__name__, fallback=_deprecated_name)
