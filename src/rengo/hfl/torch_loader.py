"""What a client's PyTorch DataLoader reads: how many rows a pass draws from.

A common PyTorch habit gives every client (or the train/validation split) one shared
``Dataset`` and a sampler over its own indices (``SubsetRandomSampler``). The loader's
``dataset`` is then the whole table, not the client's rows, so its length must not be the
client's example count.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import BatchSampler


def _row_sampler(loader: Any) -> Any:
    """The sampler whose indices the loader reads (None for a custom batch sampler)."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    if batch_sampler is None:  # batch_size=None: the loader yields the sampler's rows
        return getattr(loader, "sampler", None)
    if isinstance(batch_sampler, BatchSampler):
        return batch_sampler.sampler
    return None


def loader_rows(loader: Any) -> int:
    """The number of rows one pass over ``loader`` draws from (a client's example count).

    Parameters
    ----------
    loader
        A ``torch.utils.data.DataLoader``.

    Returns
    -------
    int
        The length of the loader's sampler (``SubsetRandomSampler(indices)``: the indices),
        or of its dataset when the sampler has no length or batches come from a custom
        batch sampler.
    """
    sampler = _row_sampler(loader)
    if sampler is not None:
        try:
            return len(sampler)
        except TypeError:  # a sampler without a length: the dataset's is all we know
            pass
    return len(loader.dataset)
