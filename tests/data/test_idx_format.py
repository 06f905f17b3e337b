"""IDX (MNIST) files: round trips, gzip, and DataError on bad magic, sizes and counts."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.data import load_idx, load_mnist_test, read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_every_type(tmp_path: Path, dtype: type, suffix: str) -> None:
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_load_idx_builds_scaled_image_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 4, 5), dtype=np.uint8)
    labels = np.array([3, 0, 1, 3, 2, 0], dtype=np.uint8)
    write_idx(tmp_path / "img.gz", images)
    write_idx(tmp_path / "lab", labels)
    data = load_idx(tmp_path / "img.gz", tmp_path / "lab")
    assert data.X.dtype == np.float32 and data.X.shape == (6, 20)
    assert data.sample_shape == (4, 5) and data.classes == ("0", "1", "2", "3")
    np.testing.assert_array_equal(data.images() * 255, images.astype(np.float32))
    np.testing.assert_array_equal(data.y, labels)


def test_bad_magic_number_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match="bad IDX magic number 01000801"):
        read_idx(path)


def test_unknown_type_and_short_header_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"a")
    with pytest.raises(DataError, match="unknown IDX value type 0x07"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x03" + (1).to_bytes(4, "big"))
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(path)


def test_size_mismatch_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x02" + (3).to_bytes(4, "big") + (4).to_bytes(4, "big") + b"x" * 11)
    with pytest.raises(DataError, match=r"shape \(3, 4\) of uint8 \(24 bytes in all\).*23 bytes"):
        read_idx(path)


def test_image_and_label_counts_must_match(tmp_path: Path) -> None:
    write_idx(tmp_path / "img", np.zeros((5, 2, 2), np.uint8))
    write_idx(tmp_path / "lab", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"holds 5 images but .* holds 4 labels"):
        load_idx(tmp_path / "img", tmp_path / "lab")
    write_idx(tmp_path / "lab2", np.zeros((5, 2), np.uint8))
    with pytest.raises(DataError, match="labels must be 1-D"):
        load_idx(tmp_path / "img", tmp_path / "lab2")


def test_corrupt_gzip_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 3)
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


@pytest.mark.shared_data
def test_real_mnist_test_split_matches_its_published_counts(mnist_dir: Path) -> None:
    data = load_mnist_test(mnist_dir)
    assert data.X.shape == (10000, 784) and data.sample_shape == (28, 28)
    np.testing.assert_array_equal(
        data.label_counts(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert float(data.X.mean()) == pytest.approx(0.1325, abs=1e-4)
