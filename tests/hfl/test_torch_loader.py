"""A client's DataLoader restricted by a sampler (one shared ``Dataset``, each client or split
its own indices, a common PyTorch habit): the client counts only the rows the sampler picks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.data import (  # noqa: E402
    BatchSampler,
    DataLoader,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
)

from rengo.hfl.torch_client import TorchClient, get_parameters  # noqa: E402

X = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0).long()
SHARED = TensorDataset(X, Y)


def test_a_subset_sampler_clients_example_count_is_its_own_rows() -> None:
    """FedAvg weights clients by this count: it was the shared dataset's 100 rows for a
    client that trains on 10, so every client of one table weighed the same."""
    loader = DataLoader(SHARED, batch_size=4, sampler=SubsetRandomSampler(range(10)))
    model = nn.Linear(4, 2)
    result = TorchClient(model, loader).fit(get_parameters(model), {"seed": 0})
    assert result.num_examples == 10


@pytest.mark.parametrize(
    ("loader", "rows"),
    [
        (DataLoader(SHARED, batch_size=8, shuffle=True), 100),
        (DataLoader(SHARED, batch_size=8, drop_last=True), 100),
        (DataLoader(SHARED, batch_size=None, sampler=SubsetRandomSampler(range(7))), 7),
        (DataLoader(SHARED, batch_sampler=BatchSampler(SequentialSampler(range(5)), 2, False)), 5),
    ],
)
def test_loader_rows_are_the_rows_its_sampler_draws_from(loader: DataLoader, rows: int) -> None:
    from rengo.hfl.torch_loader import loader_rows

    assert loader_rows(loader) == rows


def test_loader_rows_fall_back_to_the_dataset_for_a_custom_batch_sampler() -> None:
    from rengo.hfl.torch_loader import loader_rows

    loader = DataLoader(SHARED, batch_sampler=[[0, 1], [2, 3]])
    assert loader_rows(loader) == len(SHARED)
