"""Datasets for federated learning: loaders, train/test splitting, partitioners, vertical splits.

Tables are :class:`Dataset` objects (numpy ``X``, ``y``, names, optional row ids). Horizontal
partitioners return one index array per client; :func:`federate` turns a table into a
:class:`FederatedDataset`; :func:`vertical_split` makes per-party column tables,
:func:`transfer_split` a two-party transfer-learning scenario.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

# Imported now: a lazy name equal to a submodule's would be replaced by that submodule
# whenever the submodule is imported first.
from rengo.data.partition import partition

if TYPE_CHECKING:
    from rengo.data.bundled import (
        DATASETS,
        dataset_names,
        load_breast_cancer,
        load_credit_default,
        load_dataset,
        load_diabetes,
        load_digits,
        load_iris,
        load_wine,
    )
    from rengo.data.categorical import CategoricalEncoding
    from rengo.data.csv_table import load_csv, save_csv
    from rengo.data.dataset import (
        Dataset,
        Standardization,
        fit_standardization,
        standardize,
        train_test_split,
    )
    from rengo.data.federated import (
        ClientSummary,
        FederatedDataset,
        federate,
        from_partition,
        label_entropy,
    )
    from rengo.data.file_digest import file_sha256
    from rengo.data.idx import load_idx, read_idx, write_idx
    from rengo.data.labels import encode_labels
    from rengo.data.parquet_table import load_parquet, save_parquet
    from rengo.data.partition import (
        PARTITION_SCHEMES,
        check_partition,
        dirichlet_partition,
        iid_partition,
        partition_options,
        quantity_skew_partition,
        shard_partition,
        target_bins,
    )
    from rengo.data.seeding import Seed, as_generator
    from rengo.data.shared import (
        fate_table_names,
        load_fate_table,
        load_femnist,
        load_mnist_test,
        load_uci_adult,
        shared_data_dir,
    )
    from rengo.data.target_scaling import TargetMoments, TargetScaling
    from rengo.data.transfer import TransferParty, TransferSplit, transfer_split
    from rengo.data.vertical import VerticalParty, vertical_split


__all__ = [
    "DATASETS",
    "PARTITION_SCHEMES",
    "CategoricalEncoding",
    "ClientSummary",
    "Dataset",
    "FederatedDataset",
    "Seed",
    "Standardization",
    "TargetMoments",
    "TargetScaling",
    "TransferParty",
    "TransferSplit",
    "VerticalParty",
    "as_generator",
    "check_partition",
    "dataset_names",
    "dirichlet_partition",
    "encode_labels",
    "fate_table_names",
    "federate",
    "file_sha256",
    "fit_standardization",
    "from_partition",
    "iid_partition",
    "label_entropy",
    "load_breast_cancer",
    "load_credit_default",
    "load_csv",
    "load_dataset",
    "load_diabetes",
    "load_digits",
    "load_fate_table",
    "load_femnist",
    "load_idx",
    "load_iris",
    "load_mnist_test",
    "load_parquet",
    "load_uci_adult",
    "load_wine",
    "partition",
    "partition_options",
    "quantity_skew_partition",
    "read_idx",
    "save_csv",
    "save_parquet",
    "shard_partition",
    "shared_data_dir",
    "standardize",
    "target_bins",
    "train_test_split",
    "transfer_split",
    "vertical_split",
    "write_idx",
]

__getattr__, __dir__ = lazy_exports(__name__)
