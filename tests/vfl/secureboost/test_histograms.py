"""A feature party's encrypted histograms (:mod:`rengo.vfl.secureboost.histograms`): the
per-bin products of the rows' ciphertexts, summed a bounded number of cells at a time."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest

from rengo.crypto import generate_paillier_keypair
from rengo.vfl.secureboost import histograms
from rengo.vfl.secureboost.histograms import node_histogram

PUBLIC, _ = generate_paillier_keypair(512, seed=7)


def _node(rows: int, columns: int, chunks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stand-in ciphertexts (rows x chunks, residues mod n^2), bins and bin counts (the last
    bin of each column for missing values)."""
    rng = np.random.default_rng(rows + columns)
    nsquare = int(PUBLIC.nsquare)
    cipher = np.empty((rows, chunks), dtype=object)
    for index in np.ndindex(cipher.shape):
        cipher[index] = gmpy2.mpz(int(rng.integers(2, 1 << 62)) * 7919 % nsquare)
    sizes = rng.integers(2, 6, size=columns)
    bins = np.column_stack([rng.integers(0, s, size=rows) for s in sizes]).astype(np.int32)
    return cipher, bins, sizes


def _products(cipher: np.ndarray, bins: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Each column's per-bin products of its rows' ciphertexts, one row at a time."""
    out = []
    for j, size in enumerate(sizes):
        column = np.full((int(size), cipher.shape[1]), gmpy2.mpz(1), dtype=object)
        for r in range(len(cipher)):
            column[bins[r, j]] = column[bins[r, j]] * cipher[r] % PUBLIC.nsquare
        out.append(column)
    return out


@pytest.mark.parametrize("cells", [1, 7, 40, 1 << 16])
@pytest.mark.parametrize(("rows", "columns"), [(0, 3), (1, 4), (57, 5), (200, 1)])
def test_a_histogram_summed_in_blocks_is_the_per_bin_product_of_its_rows(
    monkeypatch: pytest.MonkeyPatch, cells: int, rows: int, columns: int
) -> None:
    monkeypatch.setattr(histograms, "CELLS_AT_ONCE", cells, raising=False)
    cipher, bins, sizes = _node(rows, columns, 2)
    histogram = node_histogram(cipher, bins, sizes, PUBLIC)
    for got, expected, size in zip(
        histogram.sums, _products(cipher, bins, sizes), sizes, strict=True
    ):
        assert got.shape == (size, 2)
        assert [int(c) for c in got.ravel()] == [int(c) for c in expected.ravel()]
    assert [c.tolist() for c in histogram.counts] == [
        np.bincount(bins[:, j], minlength=int(s)).tolist() for j, s in enumerate(sizes)
    ]


def test_a_root_node_is_summed_a_bounded_number_of_cells_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A root node's segment sums held a product and a new ciphertext for every other
    row-column cell at once: 1M rows x 50 columns held 25M of each (about 20 GB with a
    1024-bit key). Each sum now takes at most 65,536 cells."""
    seen: list[int] = []
    real = histograms.encrypted_segment_sums

    def counted(ciphertexts: np.ndarray, *args: object) -> np.ndarray:
        seen.append(len(ciphertexts))
        return real(ciphertexts, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(histograms, "encrypted_segment_sums", counted)
    cipher, bins, sizes = _node(3_000, 30, 1)
    node_histogram(cipher, bins, sizes, PUBLIC)
    assert sum(seen) == 3_000 * 30
    assert max(seen) <= 1 << 16
