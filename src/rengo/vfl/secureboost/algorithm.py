"""SecureBoost's description for the vertical runner (registered on import as ``"secureboost"``).

The label party holds the Paillier key pair by default and needs no third party: the
coordinator only organises the run and hears how many trees were grown. With
``key_holder = "coordinator"`` the coordinator makes the keys and decrypts masked sums.
Prediction returns P(y = 1), class probabilities or values, by the objective. Runs are
resumable: every role checkpoints each completed tree (:mod:`rengo.vfl.secureboost.resume`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.core.options import Scalar
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair
from rengo.transport.channel import Channel
from rengo.vfl.registry import (
    AlignedData,
    KeySpec,
    Models,
    Output,
    RoleContext,
    RoleKind,
    Roles,
    RoleState,
    VerticalAlgorithm,
    register,
)
from rengo.vfl.secureboost.boosting import EPOCH_UNIT
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.coordinator import secureboost_coordinator
from rengo.vfl.secureboost.guest import secureboost_guest
from rengo.vfl.secureboost.host import secureboost_host
from rengo.vfl.secureboost.local import train_alone
from rengo.vfl.secureboost.model import (
    SecureBoostGuestModel,
    SecureBoostHostModel,
    SecureBoostReport,
)
from rengo.vfl.secureboost.predict import secureboost_predict_guest, secureboost_predict_host

Keypair = tuple[PaillierPublicKey, PaillierPrivateKey]


def make_keypair(config: SecureBoostConfig, seed: int | None) -> Keypair:
    """The key holder's key pair of ``config.key_bits`` (``seed``: tests only)."""
    return generate_paillier_keypair(config.key_bits, seed=seed)


def key_holder(config: SecureBoostConfig) -> RoleKind:
    """The label party, or the coordinator when the config says so."""
    return "coordinator" if config.key_holder == "coordinator" else "label_party"


def output(config: SecureBoostConfig) -> Output:
    """P(y = 1) for binary, class probabilities for multiclass, values for regression."""
    if config.objective == "binary":
        return "probability"
    return "probabilities" if config.objective == "multiclass" else "values"


def _train_coordinator(
    channel: Channel,
    ctx: RoleContext[SecureBoostConfig],
    data: AlignedData | None,
    state: RoleState,
) -> SecureBoostReport:
    return secureboost_coordinator(
        channel,
        ctx.parties,
        ctx.label_party,
        ctx.config,
        keys=state.keys,
        checkpoints=ctx.checkpoints,
        progress=ctx.progress,
    )


def _train_guest(
    channel: Channel,
    ctx: RoleContext[SecureBoostConfig],
    data: AlignedData | None,
    state: RoleState,
) -> SecureBoostGuestModel:
    assert data is not None and data.aligned_labels is not None
    _require_labels_present(channel.name, data)
    return secureboost_guest(
        channel,
        data.features,
        data.aligned_labels,
        ctx.hosts,
        ctx.config,
        keys=state.keys,
        coordinator=ctx.coordinator,
        seed=ctx.seed,
        progress=ctx.progress,
        checkpoints=ctx.checkpoints,
        feature_names=data.feature_names,
    )


def _require_labels_present(party: str, data: AlignedData) -> None:
    """Refuse aligned rows without a label (NaN or infinite), naming how many and the
    lowest such row of the label party's own table, by its ID and its row counted from 1
    as for an empty feature cell (the row its caller can find; the aligned order is
    PSI's). Text labels are left to the objective's check, which names them.

    Raises
    ------
    DataError
        Naming the party, the count and the first such row of its table.
    """
    try:
        values = np.asarray(data.aligned_labels, dtype=np.float64)
    except (TypeError, ValueError):
        return
    if values.ndim != 1:
        return
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.asarray(data.rows)[bad].min())  # this error stays with the party
        raise DataError(
            f"{party}: {int(bad.sum())} of the {len(values)} aligned rows have no label "
            f"(NaN or infinite), the first at ID {np.asarray(data.table.ids)[first]!s}, "
            f"row {first + 1} of its table; drop those rows or fill their labels before "
            "training"
        )


def _train_host(
    channel: Channel,
    ctx: RoleContext[SecureBoostConfig],
    data: AlignedData | None,
    state: RoleState,
) -> SecureBoostHostModel:
    assert data is not None
    return secureboost_host(
        channel,
        data.features,
        ctx.label_party,
        ctx.config,
        coordinator=ctx.coordinator,
        checkpoints=ctx.checkpoints,
    )


def _predict_guest(
    channel: Channel,
    ctx: RoleContext[SecureBoostConfig],
    data: AlignedData | None,
    state: RoleState,
) -> np.ndarray:
    assert data is not None
    return secureboost_predict_guest(channel, data.features, state.model, ctx.hosts)


def _predict_host(
    channel: Channel,
    ctx: RoleContext[SecureBoostConfig],
    data: AlignedData | None,
    state: RoleState,
) -> None:
    assert data is not None
    secureboost_predict_host(channel, data.features, state.model, ctx.label_party)


def _describe(report: Any) -> str:
    if isinstance(report, SecureBoostReport):
        return f"trained {report.trees} trees"
    return "trained"


def _summary(training: Any, scoring: Any) -> dict[str, Scalar]:
    if isinstance(training, SecureBoostReport):
        return {"trees": training.trees, "decrypted_values": training.decrypted_values}
    return {}


SECUREBOOST: VerticalAlgorithm[SecureBoostConfig] = register(
    VerticalAlgorithm(
        name="secureboost",
        title="SecureBoost (lossless vertical gradient-boosted trees)",
        config_type=SecureBoostConfig,
        train=Roles(
            coordinator=_train_coordinator, label_party=_train_guest, feature_party=_train_host
        ),
        predict=Roles(label_party=_predict_guest, feature_party=_predict_host),
        models=Models(
            label_party=SecureBoostGuestModel,
            feature_party=SecureBoostHostModel,
            coordinator=SecureBoostReport,
        ),
        # scoring walks the trees: each feature party answers which way its own splits send
        # a row, in the clear (no ciphertext), so a scoring-only run makes no key pair
        keys=KeySpec(make=make_keypair, holder=key_holder, scoring=lambda config: False),
        output=output,
        describe=_describe,
        summary=_summary,
        missing_values=True,
        alone=train_alone,
        resumable=True,
        epoch_unit=EPOCH_UNIT,
    )
)
