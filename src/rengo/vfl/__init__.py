"""Vertical federated learning: PSI, one runner for every algorithm, hetero LR, hetero
linear and Poisson regression, SecureBoost.

An algorithm is described once and registered (:mod:`rengo.vfl.registry`); the vertical
runner (:mod:`rengo.vfl.runner`) aligns rows by PSI, trains and scores with its role
functions, which talk only through a :class:`rengo.transport.Channel`, so the same code
runs in simulation (:class:`HeteroLogisticRegression`, :class:`HeteroSecureBoost`,
:func:`simulate_vertical`) and deployed (``rengo vfl coordinator`` / ``rengo vfl party``).
:func:`information_value` gives every party's columns' WOE and IV (FATE's
``HeteroFeatureBinning``), :func:`select_by_iv` FATE's selection by IV, and
:class:`SelectionSettings` makes it a step of a vertical run (``fit(..., selection=...)``).

Layout: :mod:`rengo.vfl.common` (party tables, vertical datasets, batch order),
:mod:`rengo.vfl.psi` (ECDH-PSI), :mod:`rengo.vfl.hetero_lr` (hetero LR),
:mod:`rengo.vfl.secureboost` (SecureBoost), :mod:`rengo.vfl.splitnn` (split learning; needs
the ``torch`` extra only to train), the registry, the runner and the generic estimator.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports
from rengo.vfl import legacy as _legacy  # noqa: F401  (old module paths, with a warning)

if TYPE_CHECKING:
    from rengo.vfl.checkpoints import CheckpointFolder, EpochCheckpoints, EpochState
    from rengo.vfl.common import (
        HeldOutRule,
        PartyData,
        PartyTable,
        VerticalDataset,
        align_rows,
        as_vertical_dataset,
        batch_order,
    )
    from rengo.vfl.estimator import VerticalEstimator
    from rengo.vfl.hetero_binning import (
        FeatureIV,
        information_value,
        information_value_guest,
        information_value_host,
        receive_selection,
        select_by_iv,
        send_selection,
        woe_and_iv,
    )
    from rengo.vfl.hetero_contribution import (
        CoalitionScore,
        CoalitionValue,
        guest_alone_scores,
        train_guest_alone,
    )
    from rengo.vfl.hetero_linear import HETERO_LINEAR, HeteroLinearConfig, HeteroLinearRegression
    from rengo.vfl.hetero_lr import (
        HETERO_LR,
        CoordinatorReport,
        GuestModel,
        HeteroLogisticRegression,
        HeteroLRConfig,
        HostModel,
        hetero_lr_coordinator,
        hetero_lr_guest,
        hetero_lr_host,
        hetero_lr_predict_coordinator,
        hetero_lr_predict_guest,
        hetero_lr_predict_host,
    )
    from rengo.vfl.hetero_lr.config import LinearModelConfig
    from rengo.vfl.hetero_lr.estimator import CoordinatedLinearModel
    from rengo.vfl.hetero_poisson import (
        HETERO_POISSON,
        HeteroPoissonConfig,
        HeteroPoissonRegression,
    )
    from rengo.vfl.predictions import VerticalPredictions
    from rengo.vfl.progress import (
        ProgressFn,
        RichVerticalProgress,
        TrainingReporter,
        VerticalProgress,
        progress_display,
    )
    from rengo.vfl.psi import (
        PSIAlignment,
        PSIResult,
        align_csv,
        normalise_ids,
        private_set_intersection,
        psi_follower,
        psi_leader,
        require_nonempty,
    )
    from rengo.vfl.registry import (
        AlignedData,
        KeySpec,
        Models,
        RoleContext,
        Roles,
        RoleState,
        VerticalAlgorithm,
        algorithms,
        get_algorithm,
        register,
        unregister,
    )
    from rengo.vfl.runner import (
        SimulatedRun,
        VerticalCoordinatorOutcome,
        VerticalPartyResult,
        VerticalPlan,
        receive_plan,
        simulate_vertical,
        vertical_coordinator,
        vertical_party,
    )
    from rengo.vfl.secureboost import (
        SECUREBOOST,
        HeteroSecureBoost,
        SecureBoostConfig,
        SecureBoostGuestModel,
        SecureBoostHostModel,
    )
    from rengo.vfl.selection_settings import JobSelection, SelectionSettings
    from rengo.vfl.splitnn import (
        SPLITNN,
        SplitNNClassifier,
        SplitNNConfig,
        SplitNNFeatureModel,
        SplitNNLabelModel,
    )


__all__ = [
    "HETERO_LINEAR",
    "HETERO_LR",
    "HETERO_POISSON",
    "SECUREBOOST",
    "SPLITNN",
    "AlignedData",
    "CheckpointFolder",
    "CoalitionScore",
    "CoalitionValue",
    "CoordinatedLinearModel",
    "CoordinatorReport",
    "EpochCheckpoints",
    "EpochState",
    "FeatureIV",
    "GuestModel",
    "HeldOutRule",
    "HeteroLRConfig",
    "HeteroLinearConfig",
    "HeteroLinearRegression",
    "HeteroLogisticRegression",
    "HeteroPoissonConfig",
    "HeteroPoissonRegression",
    "HeteroSecureBoost",
    "HostModel",
    "JobSelection",
    "KeySpec",
    "LinearModelConfig",
    "Models",
    "NotFittedError",
    "PSIAlignment",
    "PSIResult",
    "PartyData",
    "PartyTable",
    "ProgressFn",
    "RichVerticalProgress",
    "RoleContext",
    "RoleState",
    "Roles",
    "SecureBoostConfig",
    "SecureBoostGuestModel",
    "SecureBoostHostModel",
    "SelectionSettings",
    "SimulatedRun",
    "SplitNNClassifier",
    "SplitNNConfig",
    "SplitNNFeatureModel",
    "SplitNNLabelModel",
    "TrainingReporter",
    "VerticalAlgorithm",
    "VerticalCoordinatorOutcome",
    "VerticalDataset",
    "VerticalEstimator",
    "VerticalPartyResult",
    "VerticalPlan",
    "VerticalPredictions",
    "VerticalProgress",
    "algorithms",
    "align_csv",
    "align_rows",
    "as_vertical_dataset",
    "batch_order",
    "get_algorithm",
    "guest_alone_scores",
    "hetero_lr_coordinator",
    "hetero_lr_guest",
    "hetero_lr_host",
    "hetero_lr_predict_coordinator",
    "hetero_lr_predict_guest",
    "hetero_lr_predict_host",
    "information_value",
    "information_value_guest",
    "information_value_host",
    "normalise_ids",
    "private_set_intersection",
    "progress_display",
    "psi_follower",
    "psi_leader",
    "receive_plan",
    "receive_selection",
    "register",
    "require_nonempty",
    "select_by_iv",
    "send_selection",
    "simulate_vertical",
    "train_guest_alone",
    "unregister",
    "vertical_coordinator",
    "vertical_party",
    "woe_and_iv",
]

# --- Deprecated (seams-packages): the credit-default story moved to rengo.showcase. ----------
# Old paths keep working for one release with a DeprecationWarning; resolved lazily, so vfl
# never imports the showcase layer. Remove this block in rengo 0.3.
from rengo.core.deprecation import alias_moved_modules, moved_names

alias_moved_modules({"rengo.vfl.hetero_credit_story": "rengo.showcase.credit_default"})

# NotFittedError subclasses scikit-learn's: rengo.vfl.estimator makes it when first asked
# for, so that importing rengo.vfl does not import scikit-learn (~2 s).
if TYPE_CHECKING:
    from rengo.vfl.estimator import NotFittedError

__getattr__, __dir__ = lazy_exports(
    __name__,
    fallback=moved_names(
        __name__,
        dict.fromkeys(
            ("CreditConsortium", "credit_consortium", "run_credit_default"), "rengo.showcase"
        ),
    ),
)
