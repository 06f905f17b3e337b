"""rengo.tracking.mirrors: copy rengo runs into MLflow and TensorBoard, live or afterwards.

``simulate(..., store=MirroringStore(path, mirrors=[MlflowMirror(), TensorBoardMirror()]))``
mirrors a run as it trains; :func:`mirror_run` (``rengo runs mirror RUN --to mlflow``)
replays a recorded one. Both mirrors are optional extras (``rengo[mlflow]``,
``rengo[tensorboard]``), imported only when used.
"""

from rengo.tracking.mirrors.base import (
    MirroringStore,
    RunMirror,
    flat_params,
    mirror_run,
    round_scalars,
)
from rengo.tracking.mirrors.mlflow_mirror import MlflowMirror
from rengo.tracking.mirrors.tensorboard_mirror import TensorBoardMirror, run_folder_name

TARGETS = ("mlflow", "tensorboard")
"""Names accepted by :func:`make_mirror` (and ``--to`` / ``--mirror`` on the CLI)."""


def make_mirror(target: str, location: str | None = None, **options: object) -> RunMirror:
    """An MLflow mirror (``location`` = tracking URI) or a TensorBoard one (``location`` =
    log folder); None puts either beside the run store."""
    if target == "mlflow":
        return MlflowMirror(location, **options)  # type: ignore[arg-type]
    if target == "tensorboard":
        return TensorBoardMirror(location)
    from rengo.core.errors import ConfigError

    raise ConfigError(f"unknown mirror {target!r}; choose one of {', '.join(TARGETS)}")


__all__ = [
    "TARGETS",
    "MirroringStore",
    "MlflowMirror",
    "RunMirror",
    "TensorBoardMirror",
    "flat_params",
    "make_mirror",
    "mirror_run",
    "round_scalars",
    "run_folder_name",
]
