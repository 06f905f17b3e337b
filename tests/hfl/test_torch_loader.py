"""A client's DataLoader restricted by a sampler (one shared ``Dataset``, each client or split
its own indices, a common PyTorch habit): the client counts, and DP-SGD reads, only the rows
the sampler picks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.data import (  # noqa: E402
    BatchSampler,
    DataLoader,
    Dataset,
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


class _Recorded(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The shared table, noting every row read."""

    def __init__(self) -> None:
        self.read: set[int] = set()

    def __len__(self) -> int:
        return len(Y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.read.add(int(i))
        return X[i], Y[i]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dp_sgd_refuses_a_sampler_its_poisson_batches_would_not_keep_to() -> None:
    """Opacus draws Poisson batches over all of ``loader.dataset``: a DP client of rows 0..19
    read 150 of the table's 100+ rows, others' among them, silently."""
    pytest.importorskip("opacus")
    from rengo.core.errors import ConfigError
    from rengo.privacy import LocalDP

    loader = DataLoader(_Recorded(), batch_size=10, sampler=SubsetRandomSampler(range(20)))
    with pytest.raises(ConfigError, match=r"SubsetRandomSampler.*Subset\(dataset, indices\)"):
        TorchClient(nn.Linear(4, 2), loader, dp=LocalDP(delta=1e-3))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dp_sgd_over_a_subset_reads_only_the_clients_rows() -> None:
    pytest.importorskip("opacus")
    from torch.utils.data import Subset

    from rengo.privacy import LocalDP

    table = _Recorded()
    loader = DataLoader(Subset(table, range(20)), batch_size=10, shuffle=True)
    model = nn.Linear(4, 2)
    client = TorchClient(model, loader, dp=LocalDP(delta=1e-3, seeded_noise=True))
    result = client.fit(get_parameters(model), {"seed": 0})
    assert table.read and table.read <= set(range(20))
    assert result.num_examples == 20


class _Dicts(Dataset[dict[str, torch.Tensor]]):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": X[i], "y": Y[i]}


class _Triples(Dataset[tuple[torch.Tensor, torch.Tensor, int]]):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return X[i], Y[i], i


@pytest.mark.parametrize(
    ("dataset", "what"),
    [(_Dicts(), r"a dict with keys \['x', 'y'\]"), (_Triples(), "a list of 3 items")],
)
@pytest.mark.parametrize("stage", ["fit", "evaluate"])
def test_batches_that_are_not_input_label_pairs_are_named(
    dataset: Dataset[object], what: str, stage: str
) -> None:
    """A dict batch failed inside the model ('linear(): argument 'input' must be Tensor, not
    str'), a triple with 'too many values to unpack'."""
    model = nn.Linear(4, 2)
    client = TorchClient(model, DataLoader(dataset, batch_size=4))
    with pytest.raises(TypeError, match=rf"\(inputs, labels\) batches.*yielded {what}"):
        getattr(client, stage)(get_parameters(model), {})


def _loader_with_workers(cid: str) -> TorchClient:
    rows = slice(int(cid) * 16, (int(cid) + 1) * 16)
    loader = DataLoader(TensorDataset(X[rows], Y[rows]), batch_size=4, shuffle=True, num_workers=1)
    torch.manual_seed(0)
    return TorchClient(nn.Linear(4, 2), loader, lr=0.1)


def test_a_loader_with_worker_processes_trains_on_the_process_executor_as_on_serial() -> None:
    """The process executor's workers were daemonic, so every client whose DataLoader has
    num_workers > 0 failed: 'daemonic processes are not allowed to have children'."""
    import numpy as np

    from rengo.hfl import FedAvg, simulate

    torch.manual_seed(0)
    start = get_parameters(nn.Linear(4, 2))
    models = [
        simulate(_loader_with_workers, 2, FedAvg(), start, 2, seed=1, executor=ex).parameters
        for ex in ("serial", "process")
    ]
    assert all(np.array_equal(a, b) for a, b in zip(*models, strict=True))


class _Stream(torch.utils.data.IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    """30 rows, streamed without a length."""

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(30):
            yield X[i], Y[i]


def test_a_stream_without_a_length_trains_and_counts_the_rows_an_epoch_read() -> None:
    """An IterableDataset client failed to train: "object of type '_Stream' has no len()"."""
    model = nn.Linear(4, 2)
    client = TorchClient(model, DataLoader(_Stream(), batch_size=8), local_epochs=2)
    assert client.fit(get_parameters(model), {"seed": 0}).num_examples == 30


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dp_sgd_refuses_a_stream_saying_it_needs_rows_by_index() -> None:
    """Refusing it raised a TypeError from its own message (len() of the stream)."""
    pytest.importorskip("opacus")
    from rengo.core.errors import ConfigError
    from rengo.privacy import LocalDP

    with pytest.raises(ConfigError, match=r"IterableDataset.*map-style Dataset"):
        TorchClient(nn.Linear(4, 2), DataLoader(_Stream(), batch_size=8), dp=LocalDP(delta=1e-3))
