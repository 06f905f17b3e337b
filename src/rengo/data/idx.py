"""The IDX file format of MNIST-style datasets (LeCun et al.), plain or gzip-compressed.

An IDX file is ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
values in C order, big-endian.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from rengo.core.errors import DataError
from rengo.data.dataset import Dataset

_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES: dict[str, int] = {dt.newbyteorder(">").str: code for code, dt in _TYPES.items()}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                return g.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: corrupt gzip data: {exc}") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` detected by content) into a native-endian array.

    Parameters
    ----------
    path
        The IDX file, gzipped or not.

    Returns
    -------
    numpy.ndarray
        The values in the file's dtype and declared shape.

    Raises
    ------
    DataError
        If the file is missing, its gzip data is corrupt, or its header is short, has a
        bad magic number, an unknown value type or no dimension, or declares another size
        than the data that follows.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path}: bad IDX magic number {data[:4].hex()} (must start with 0000); "
            "is this an IDX file?"
        )
    code, ndim = data[2], data[3]
    if code not in _TYPES:
        raise DataError(f"{path}: unknown IDX value type 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(f"{path}: truncated IDX header ({ndim} dimensions declared)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _TYPES[code]
    expected = offset + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: header says shape {dims} of {dtype.name} ({expected} bytes in all) "
            f"but the file holds {len(data)} bytes"
        )
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as IDX; gzip when ``compress`` is true (default: path ends in ``.gz``)."""
    path = Path(path)
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">")
    code = _CODES.get(big.str)
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=big).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def load_idx(
    images_path: str | Path,
    labels_path: str | Path,
    *,
    scale: bool = True,
    name: str | None = None,
) -> Dataset:
    """Load an IDX image file and its IDX label file as a :class:`Dataset`.

    Images become float32 rows (divided by 255 when ``scale``, so pixels lie in [0, 1]) with
    ``sample_shape`` set to the image shape; labels become class codes ``0..K-1``.

    Parameters
    ----------
    images_path, labels_path
        The IDX image file (first dimension: images) and its IDX label file (1-D).
    scale
        Divide pixels by 255 (True) or keep their raw values.
    name
        The dataset's name; None: taken from the image file's name.

    Returns
    -------
    Dataset
        One flattened float32 row per image, its label a class code.

    Raises
    ------
    DataError
        If a file is missing or not valid IDX (see :func:`read_idx`), the labels are not
        1-D non-negative integers, or the files hold different counts.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: labels must be 1-D, got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels"
        )
    if labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path}: labels must be integers, got {labels.dtype}")
    sample_shape = tuple(int(d) for d in images.shape[1:]) or (1,)
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    if scale:
        X /= 255.0
    if labels.size and labels.min() < 0:
        raise DataError(f"{labels_path}: negative label {labels.min()}")
    k = int(labels.max()) + 1 if labels.size else 0
    return Dataset(
        X=X,
        y=labels.astype(np.int64),
        feature_names=tuple(f"px{i}" for i in range(X.shape[1])),
        classes=tuple(str(c) for c in range(k)),
        name=name or Path(images_path).name.split(".")[0],
        sample_shape=sample_shape,
    )
