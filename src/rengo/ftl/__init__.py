"""Secure federated transfer learning: different features, different labels, a few shared rows.

Liu, Kang, Xing, Chen and Yang, "A Secure Federated Transfer Learning Framework" (IEEE
Intelligent Systems 2020). A source with labelled rows and a target with different
features and few or no labels share a small set of customers (found by PSI). Each trains its
own PyTorch encoder into a common space; the source's translator ``Phi`` turns the target's
representations into predictions, so the target can score rows the source never saw.
Homomorphic mode exchanges only Paillier-encrypted terms and masked values; plaintext mode is
for parties that trust each other. Binary and multiclass objectives; several local steps per
exchange (communication-efficient); federated prediction that never sends ``Phi`` (the
target can compute it from ``dim`` of its scores: see :mod:`rengo.ftl.predict`).

It is a vertical algorithm (``"ftl"``), so it runs in simulation (:class:`TransferClassifier`),
from a job file (``rengo run`` with ``[vfl] algorithm = "ftl"``) and deployed (``rengo vfl
coordinator`` / ``rengo vfl party``) through the one vertical runner. Personalised
horizontal learning (FedPer, FedRep, Ditto, FedBN) lives with :mod:`rengo.hfl`.

The encoders need PyTorch (the ``torch`` extra); importing this package does not.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.ftl.algorithm import FTL, make_source_keypair
    from rengo.ftl.config import Objective, Security, TransferConfig
    from rengo.ftl.estimator import TransferClassifier
    from rengo.ftl.exposure import GradientExposureWarning, gradient_exposure
    from rengo.ftl.math import class_probabilities, label_names, taylor_loss, translator
    from rengo.ftl.predict import ftl_predict_source, ftl_predict_target
    from rengo.ftl.roles import (
        EncoderSpec,
        SourceModel,
        TargetModel,
        TransferReport,
        ftl_coordinator,
        ftl_source,
        ftl_target,
    )


__all__ = [
    "FTL",
    "EncoderSpec",
    "GradientExposureWarning",
    "Objective",
    "Security",
    "SourceModel",
    "TargetModel",
    "TransferClassifier",
    "TransferConfig",
    "TransferReport",
    "class_probabilities",
    "ftl_coordinator",
    "ftl_predict_source",
    "ftl_predict_target",
    "ftl_source",
    "ftl_target",
    "gradient_exposure",
    "label_names",
    "make_source_keypair",
    "taylor_loss",
    "translator",
]

__getattr__, __dir__ = lazy_exports(__name__)
