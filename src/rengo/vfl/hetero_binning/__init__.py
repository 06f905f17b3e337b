"""Weight of evidence and information value across parties, and feature selection by IV.

FATE's first two steps of a vertical credit pipeline (``HeteroFeatureBinning``,
``HeteroFeatureSelection``): the label party learns every column's WOE per bin and IV, a
feature party's from encrypted label sums over its bins
(:mod:`rengo.vfl.hetero_binning.protocol` says what each party learns), and columns whose IV
is too small can be dropped before training.
"""

from rengo.vfl.hetero_binning.guest import information_value_guest, send_selection
from rengo.vfl.hetero_binning.host import information_value_host, receive_selection
from rengo.vfl.hetero_binning.simulation import (
    BinningSettings,
    InformationValueRun,
    information_value,
    run_information_value,
)
from rengo.vfl.hetero_binning.woe import (
    DEFAULT_ADJUSTMENT_FACTOR,
    FeatureIV,
    select_by_iv,
    woe_and_iv,
)

__all__ = [
    "DEFAULT_ADJUSTMENT_FACTOR",
    "BinningSettings",
    "FeatureIV",
    "InformationValueRun",
    "information_value",
    "information_value_guest",
    "information_value_host",
    "receive_selection",
    "run_information_value",
    "select_by_iv",
    "send_selection",
    "woe_and_iv",
]
