"""Horizontal federated learning: clients, client mods, strategies, round workflows, the
round loop and simulation; personalisation (FedPer, FedRep, FedBN, Ditto, FedAvg +
fine-tuning) as strategies with client mods; secure aggregation (SecAgg+,
:class:`SecAggPlus`) is one round workflow, update compression for slow or metered links
(:class:`CompressedUpdates`: the update as float16, int8 or top-k with error feedback, the
model on its way down as float16 or int8) another.

Bring your own PyTorch model with :class:`TorchClient` (``from rengo.hfl import
TorchClient``) and its helpers :func:`get_parameters`, :func:`set_parameters`,
:func:`evaluate_model`, :func:`make_mlp`, :func:`seed_torch` and :func:`resolve_device`
(a regressor: :class:`TorchRegressionClient`, :func:`evaluate_regression`). They live
in :mod:`rengo.hfl.torch_client` and :mod:`rengo.hfl.torch_regression`, loaded on first use, so
``import rengo.hfl`` never imports torch: everything else here works with numpy alone, and
the PyTorch names need the ``torch`` extra (``pip install 'rengo[torch]'``).
"""

from typing import TYPE_CHECKING, Any

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.hfl.checkpoints import CheckpointRetention
    from rengo.hfl.client import (
        Client,
        ClientFn,
        call_client,
        client_handler,
        client_seed,
        with_mods,
    )
    from rengo.hfl.compressed_exchange import CompressedUpdates
    from rengo.hfl.coordinator import (
        AbandonedAttemptObserver,
        Coordinator,
        History,
        RoundObserver,
        RoundRecord,
    )
    from rengo.hfl.early_stopping import EarlyStopping
    from rengo.hfl.failure_log import ClientFailureLog
    from rengo.hfl.linear_client import (
        LinearRegressionClient,
        linear_init,
        linear_predict,
        squared_loss_grad,
    )
    from rengo.hfl.local_training import (
        BatchTransform,
        GradientCorrection,
        LocalTraining,
        ProximalTerm,
    )
    from rengo.hfl.mods import (
        BackdoorAttack,
        CallNext,
        ClientCall,
        ClientMod,
        ClipUpdateMod,
        CompressUpdateMod,
        DecompressModelMod,
        DittoMod,
        DPClipMod,
        FedProxMod,
        FedRepMod,
        FineTuneMod,
        ForClients,
        GaussianAttack,
        LabelFlipAttack,
        LocalLayersMod,
        Mod,
        QFFLMod,
        ScaffoldMod,
        ScaledUpdateAttack,
        SignFlipAttack,
        SimulatedClientLoss,
        SimulatedDropout,
        attack_registry,
        for_clients,
        register_attack,
        register_mod,
        registered_mods,
    )
    from rengo.hfl.numpy_client import (
        LogisticRegressionClient,
        MinibatchSgdClient,
        softmax_init,
        softmax_loss_grad,
        softmax_predict,
    )
    from rengo.hfl.observer_fit import ValuedAsFedAvgWarning
    from rengo.hfl.poisson_client import (
        PoissonRegressionClient,
        poisson_loss_grad,
        poisson_predict,
    )
    from rengo.hfl.regression_scoring import REGRESSION_METRICS, regression_metrics
    from rengo.hfl.result_checks import ResultChecks
    from rengo.hfl.secagg import SecAggMod, SecAggPlus, SecAggReport
    from rengo.hfl.simulation import make_pool, simulate
    from rengo.hfl.strategy import (
        Aggregate,
        Bulyan,
        CentredClipping,
        CentredClippingState,
        ClippedDeltaSum,
        DifferentialPrivacy,
        Ditto,
        FedAdagrad,
        FedAdam,
        FedAvg,
        FedAvgFineTune,
        FedAvgM,
        FedAvgMState,
        FedBN,
        FedMedian,
        FedOpt,
        FedOptState,
        FedPer,
        FedProx,
        FedRep,
        FedTrimmedAvg,
        FedYogi,
        Krum,
        NormBoundedAvg,
        QFedAvg,
        RegisteredStrategy,
        Scaffold,
        ScaffoldState,
        ServerState,
        Strategy,
        StrategyOption,
        WeightedSum,
        cast_like,
        get_strategy,
        register_strategy,
        strategy_from_app,
        strategy_registry,
    )
    from rengo.hfl.torch_client import (
        TorchClient,
        evaluate_model,
        get_parameters,
        make_mlp,
        resolve_device,
        seed_torch,
        set_parameters,
    )
    from rengo.hfl.torch_regression import TorchRegressionClient, evaluate_regression
    from rengo.hfl.update_compression import UpdateCompression
    from rengo.hfl.workflow import FitRound, FitWorkflow, ShortRound, SingleExchange


__all__ = [
    "REGRESSION_METRICS",
    "AbandonedAttemptObserver",
    "Aggregate",
    "BackdoorAttack",
    "BatchTransform",
    "Bulyan",
    "CallNext",
    "CentredClipping",
    "CentredClippingState",
    "CheckpointRetention",
    "Client",
    "ClientCall",
    "ClientFailureLog",
    "ClientFn",
    "ClientMod",
    "ClipUpdateMod",
    "ClippedDeltaSum",
    "CompressUpdateMod",
    "CompressedUpdates",
    "Coordinator",
    "DPClipMod",
    "DecompressModelMod",
    "DifferentialPrivacy",
    "Ditto",
    "DittoMod",
    "EarlyStopping",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedAvgFineTune",
    "FedAvgM",
    "FedAvgMState",
    "FedBN",
    "FedMedian",
    "FedOpt",
    "FedOptState",
    "FedPer",
    "FedProx",
    "FedProxMod",
    "FedRep",
    "FedRepMod",
    "FedTrimmedAvg",
    "FedYogi",
    "FineTuneMod",
    "FitRound",
    "FitWorkflow",
    "ForClients",
    "GaussianAttack",
    "GradientCorrection",
    "History",
    "Krum",
    "LabelFlipAttack",
    "LinearRegressionClient",
    "LocalLayersMod",
    "LocalTraining",
    "LogisticRegressionClient",
    "MinibatchSgdClient",
    "Mod",
    "NormBoundedAvg",
    "PoissonRegressionClient",
    "ProximalTerm",
    "QFFLMod",
    "QFedAvg",
    "RegisteredStrategy",
    "ResultChecks",
    "RoundObserver",
    "RoundRecord",
    "Scaffold",
    "ScaffoldMod",
    "ScaffoldState",
    "ScaledUpdateAttack",
    "SecAggMod",
    "SecAggPlus",
    "SecAggReport",
    "ServerState",
    "ShortRound",
    "SignFlipAttack",
    "SimulatedClientLoss",
    "SimulatedDropout",
    "SingleExchange",
    "Strategy",
    "StrategyOption",
    "TorchClient",
    "TorchRegressionClient",
    "UpdateCompression",
    "ValuedAsFedAvgWarning",
    "WeightedSum",
    "attack_registry",
    "call_client",
    "cast_like",
    "client_handler",
    "client_seed",
    "evaluate_model",
    "evaluate_regression",
    "for_clients",
    "get_parameters",
    "get_strategy",
    "linear_init",
    "linear_predict",
    "make_mlp",
    "make_pool",
    "poisson_loss_grad",
    "poisson_predict",
    "register_attack",
    "register_mod",
    "register_strategy",
    "registered_mods",
    "regression_metrics",
    "resolve_device",
    "seed_torch",
    "set_parameters",
    "simulate",
    "softmax_init",
    "softmax_loss_grad",
    "softmax_predict",
    "squared_loss_grad",
    "strategy_from_app",
    "strategy_registry",
    "with_mods",
]


def _deprecated_name(name: str) -> Any:
    if name == "EXECUTORS":  # deprecated: rengo.transport.executor_names()
        from rengo.hfl import simulation

        return simulation.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__getattr__, __dir__ = lazy_exports(__name__, fallback=_deprecated_name)
