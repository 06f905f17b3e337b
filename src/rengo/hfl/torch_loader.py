"""What a client's PyTorch DataLoader reads: ``(inputs, labels)`` batches, how many rows a
pass draws from, and whether DP-SGD (Opacus) keeps to them.

A common PyTorch habit gives every client (or the train/validation split) one shared
``Dataset`` and a sampler over its own indices (``SubsetRandomSampler``). The loader's
``dataset`` is then the whole table, not the client's rows, so its length must not be the
client's example count; and Opacus's Poisson batches are drawn over ``loader.dataset``,
ignoring the sampler, so DP-SGD would read rows that are not the client's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import BatchSampler, IterableDataset, RandomSampler, SequentialSampler

from rengo.core.errors import ConfigError
from rengo.privacy import LocalDP


def inputs_and_labels(batch: Any) -> tuple[Any, Any]:
    """A batch's ``(inputs, labels)``, or an error that says what the loader yielded instead.

    Parameters
    ----------
    batch
        What the DataLoader yielded.

    Returns
    -------
    tuple
        Its two items.

    Raises
    ------
    TypeError
        For anything but a pair (a dict, a tensor, a triple), naming what it was.
    """
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, dict):
        what = f"a dict with keys {sorted(map(str, batch))}"
    elif isinstance(batch, (tuple, list)):
        what = f"a {type(batch).__name__} of {len(batch)} items"
    else:
        what = f"a {type(batch).__name__}"
    raise TypeError(
        f"TorchClient trains and evaluates on (inputs, labels) batches, but the loader "
        f"yielded {what}; have the Dataset's __getitem__ return (inputs, label), or wrap "
        "it in one that does (loss_fn gets the model's outputs and the labels)"
    )


def batch_device(model: torch.nn.Module, device: torch.device | None) -> torch.device | None:
    """Where a batch goes: ``device``, else the model's (its first parameter's), so that a
    model the caller moved to a GPU itself gets its batches there; None for a model without
    parameters (its batches stay where the loader put them)."""
    if device is not None:
        return device
    first = next(iter(model.parameters()), None)
    return None if first is None else first.device


def on_device(xb: Any, yb: Any, device: torch.device | None) -> tuple[Any, Any]:
    """A batch's inputs and labels moved to ``device`` (as they are for None)."""
    if device is None:
        return xb, yb
    return xb.to(device), yb.to(device)


def _row_sampler(loader: Any) -> Any:
    """The sampler whose indices the loader reads (None for a custom batch sampler)."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    if batch_sampler is None:  # batch_size=None: the loader yields the sampler's rows
        return getattr(loader, "sampler", None)
    if isinstance(batch_sampler, BatchSampler):
        return batch_sampler.sampler
    return None


def loader_rows(loader: Any) -> int | None:
    """The number of rows one pass over ``loader`` draws from (a client's example count).

    Parameters
    ----------
    loader
        A ``torch.utils.data.DataLoader``.

    Returns
    -------
    int or None
        The length of the loader's sampler (``SubsetRandomSampler(indices)``: the indices),
        or of its dataset when the sampler has no length or batches come from a custom
        batch sampler; None when neither has one (an ``IterableDataset`` stream: count the
        rows as they are read).
    """
    sampler = _row_sampler(loader)
    if sampler is not None:
        try:
            return len(sampler)
        except TypeError:  # a sampler without a length: the dataset's is all we know
            pass
    try:
        return len(loader.dataset)
    except TypeError:  # a stream that does not say how long it is
        return None


def check_private_loader(loader: Any, dp: LocalDP) -> None:
    """Refuse a loader whose rows DP-SGD's Poisson batches would not keep to.

    Opacus replaces the loader's sampler by Poisson sampling over all of ``loader.dataset``
    (at rate one over the loader's batch count), so a loader restricted by a sampler or a
    batch sampler would train on rows outside it, under a sampling rate the accountant did
    not assume.

    Parameters
    ----------
    loader
        The client's training DataLoader.
    dp
        Its DP-SGD settings.

    Raises
    ------
    ConfigError
        With Poisson sampling, for a loader whose sampler is not a plain sequential or
        random pass over its whole dataset, naming the sampler and the fix.
    """
    if not dp.poisson_sampling:  # Opacus keeps the loader's own batches then
        return
    sampler = _row_sampler(loader)
    if isinstance(sampler, (SequentialSampler, RandomSampler)):
        return
    if isinstance(loader.dataset, IterableDataset):
        raise ConfigError(
            "TorchClient(dp=LocalDP(...)): the train loader streams an IterableDataset, but "
            "DP-SGD's Poisson batches pick rows by index; give the client a map-style "
            "Dataset (one with __len__ and __getitem__)"
        )
    what = type(sampler if sampler is not None else loader.batch_sampler).__name__
    raise ConfigError(
        f"TorchClient(dp=LocalDP(...)): the train loader reads its rows through a {what}, "
        f"but DP-SGD's Poisson batches are drawn over the whole loader.dataset "
        f"({len(loader.dataset)} rows), not the rows the {what} picks; give the client a "
        "loader over its own rows only, e.g. DataLoader(Subset(dataset, indices), "
        "batch_size=..., shuffle=True)"
    )
