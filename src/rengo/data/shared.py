"""Loaders for the optional real datasets under the shared data folder (never downloaded).

Where the folder is (:func:`shared_data_dir`), first match wins:

1. ``$RENGO_SHARED_DATA``, when set (it must then exist: a typo is an error, not a fallback);
2. ``shared/data`` in the current working directory or the nearest of its parents that has
   one - from a checkout that is ``../shared/data`` beside it, as the README promises, and
   it works from any subfolder of the checkout too.

Nothing is located relative to the installed package, so an installed wheel behaves like a
checkout. Every loader raises :class:`~rengo.core.errors.DataError` naming the missing path
when the folder or a file is absent.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from pathlib import Path
from typing import Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.csv_table import load_csv
from rengo.data.dataset import Dataset
from rengo.data.federated import FederatedDataset
from rengo.data.idx import load_idx

ENV_VAR = "RENGO_SHARED_DATA"
SEARCHED_FOLDER = Path("shared") / "data"
"""Looked for in the working directory and each of its parents when $RENGO_SHARED_DATA is unset."""


def _search_upwards(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / SEARCHED_FOLDER
        if candidate.is_dir():
            return candidate
    return None


def shared_data_dir(subfolder: str | None = None) -> Path:
    """The shared data folder, or one subfolder of it.

    Parameters
    ----------
    subfolder:
        E.g. ``"fate"``; None for the folder itself.

    Returns
    -------
    Path
        ``$RENGO_SHARED_DATA[/subfolder]`` when the variable is set, else the first
        ``shared/data[/subfolder]`` found in the working directory or one of its parents.

    Raises
    ------
    DataError
        The folder (or the subfolder) is not there; the message says where it looked and
        how to point rengo at the data.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        root: Path | None = Path(env).expanduser()
        where = f"${ENV_VAR} = {env}"
    else:
        cwd = Path.cwd()
        root = _search_upwards(cwd)
        where = f"no {SEARCHED_FOLDER} in {cwd} or any folder above it"
    path = None if root is None else (root / subfolder if subfolder else root)
    if path is None or not path.is_dir():
        missing = where if path is None else f"{path} not found ({where})"
        raise DataError(
            f"shared data folder: {missing}; set {ENV_VAR} to the folder that holds "
            "fate/, femnist_leaf/, mnist_test/, uci_adult/ (or run from a checkout that has "
            "../shared/data beside it)"
        )
    return path


def load_mnist_test(root: str | Path | None = None) -> Dataset:
    """The official MNIST 10k test split (IDX), pixels scaled to [0, 1].

    Parameters
    ----------
    root
        The folder holding ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``;
        None: ``mnist_test`` under the shared data folder (see :func:`shared_data_dir`).

    Returns
    -------
    Dataset
        10,000 flattened 28x28 images (``sample_shape`` ``(28, 28)``) with labels 0-9.

    Raises
    ------
    DataError
        If ``root`` is None and the shared data folder has no ``mnist_test``, a file is
        missing or not a valid (gzipped) IDX file, or the images and labels disagree.
    """
    folder = Path(root) if root else shared_data_dir("mnist_test")
    return load_idx(
        folder / "t10k-images-idx3-ubyte.gz",
        folder / "t10k-labels-idx1-ubyte.gz",
        name="mnist_test",
    )


# --- FEMNIST (LEAF) --------------------------------------------------------------------------

_FEMNIST_CLASSES = tuple(
    [str(d) for d in range(10)]
    + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    + [chr(c) for c in range(ord("a"), ord("z") + 1)]
)
_LEAF_INDEX = re.compile(r"all_data_(\d+)_")


def _leaf_files(folder: Path) -> dict[int, Path]:
    files: dict[int, Path] = {}
    for f in folder.glob("*.json*"):
        match = _LEAF_INDEX.match(f.name)
        if match:
            files[int(match.group(1))] = f
    return dict(sorted(files.items()))


def _read_leaf(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            blob = json.load(f)
        out = {}
        for user in blob["users"]:
            data = blob["user_data"][user]
            x = np.asarray(data["x"], dtype=np.float32).reshape(-1, 784)
            y = np.asarray(data["y"], dtype=np.int64)
            if x.shape[0] != y.shape[0]:
                raise DataError(f"{path}: writer {user!r} has {x.shape[0]} images, {y.size} labels")
            out[str(user)] = (x, y)
        return out
    except (OSError, EOFError, json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a LEAF JSON file: {exc}") from exc


def _writer_table(user: str, x: np.ndarray, y: np.ndarray, split: str) -> Dataset:
    return Dataset(
        X=x,
        y=y,
        feature_names=tuple(f"px{i}" for i in range(784)),
        classes=_FEMNIST_CLASSES,
        name=f"femnist/{user}/{split}",
        sample_shape=(28, 28),
    )


def load_femnist(
    max_writers: int | None = None, root: str | Path | None = None
) -> FederatedDataset:
    """FEMNIST from LEAF (Caldas et al. 2018), naturally partitioned: one client per writer.

    Clients are the writers of the ``train`` files (in file order, the first ``max_writers``);
    ``client_tests`` holds each writer's own LEAF test rows and ``test`` pools them. Images are
    28×28 in [0, 1] with a white background (1.0), 62 classes (digits, A-Z, a-z).
    """
    folder = Path(root) if root else shared_data_dir("femnist_leaf")
    if max_writers is not None and max_writers < 1:
        raise ConfigError(f"max_writers must be >= 1, got {max_writers}")
    train_files = _leaf_files(folder / "train")
    test_files = _leaf_files(folder / "test")
    if not train_files:
        raise DataError(f"{folder / 'train'}: no LEAF files (all_data_<i>_*.json[.gz])")
    clients: dict[str, Dataset] = {}
    tests: dict[str, Dataset] = {}
    for index, path in train_files.items():
        writers = _read_leaf(path)
        wanted = list(writers)
        if max_writers is not None:
            wanted = wanted[: max_writers - len(clients)]
        held_out = _read_leaf(test_files[index]) if index in test_files else {}
        for user in wanted:
            clients[user] = _writer_table(user, *writers[user], "train")
            if user in held_out:
                tests[user] = _writer_table(user, *held_out[user], "test")
        if max_writers is not None and len(clients) >= max_writers:
            break
    pooled = None
    if tests:
        pooled = Dataset(
            X=np.concatenate([d.X for d in tests.values()]),
            y=np.concatenate([d.labels() for d in tests.values()]),
            feature_names=next(iter(tests.values())).feature_names,
            classes=_FEMNIST_CLASSES,
            name="femnist/test",
            sample_shape=(28, 28),
        )
    return FederatedDataset(clients=clients, test=pooled, name="femnist", client_tests=tests)


# --- UCI Adult ---------------------------------------------------------------------------------

ADULT_COLUMNS: tuple[str, ...] = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "income",
)  # fmt: skip
ADULT_NUMERIC: tuple[str, ...] = (
    "age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week",
)  # fmt: skip


def _read_adult(path: Path, drop_missing: bool) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("|"):
                continue
            if len(cells) != len(ADULT_COLUMNS):
                raise DataError(f"{path}: row with {len(cells)} fields, expected 15: {row}")
            cells[-1] = cells[-1].rstrip(".")
            if drop_missing and "?" in cells:
                continue
            rows.append(cells)
    return rows


def load_uci_adult(
    root: str | Path | None = None, drop_missing: bool = True
) -> tuple[Dataset, Dataset]:
    """UCI Adult census income (Kohavi 1996) as (train, test), label ``>50K`` vs ``<=50K``.

    Numeric columns stay as they are; each categorical column is one-hot encoded as
    ``column=value`` features with categories taken from the training file (a test value never
    seen in training encodes as all zeros). Rows with a ``?`` are dropped unless
    ``drop_missing=False``, which keeps ``?`` as its own category. ``ids`` are the row
    numbers in each file, so vertical splits by column group can align rows.
    """
    folder = Path(root) if root else shared_data_dir("uci_adult")
    train_rows = _read_adult(folder / "adult.data", drop_missing)
    test_rows = _read_adult(folder / "adult.test", drop_missing)
    categorical = [c for c in ADULT_COLUMNS[:-1] if c not in ADULT_NUMERIC]
    col = {c: j for j, c in enumerate(ADULT_COLUMNS)}
    categories = {c: sorted({r[col[c]] for r in train_rows}) for c in categorical}
    names = [
        name
        for c in ADULT_COLUMNS[:-1]
        for name in ([c] if c in ADULT_NUMERIC else [f"{c}={v}" for v in categories[c]])
    ]

    def encode(rows: list[list[str]], split: str) -> Dataset:
        table = np.array(rows, dtype=str)
        blocks = []
        for c in ADULT_COLUMNS[:-1]:
            values = table[:, col[c]]
            if c in ADULT_NUMERIC:
                blocks.append(values.astype(np.float64)[:, None])
            else:
                blocks.append((values[:, None] == np.array(categories[c])[None, :]).astype(float))
        y = (table[:, col["income"]] == ">50K").astype(np.int64)
        return Dataset(
            X=np.concatenate(blocks, axis=1),
            y=y,
            feature_names=tuple(names),
            classes=("<=50K", ">50K"),
            name=f"uci_adult-{split}",
            ids=np.array([f"{split}-{i}" for i in range(len(rows))]),
        )

    return encode(train_rows, "train"), encode(test_rows, "test")


# --- FATE example tables ----------------------------------------------------------------------


def fate_table_names(root: str | Path | None = None) -> tuple[str, ...]:
    """Names (file stems) of the FATE example tables present."""
    folder = Path(root) if root else shared_data_dir("fate")
    return tuple(sorted(p.stem for p in folder.glob("*.csv")))


def load_fate_table(name: str, root: str | Path | None = None) -> Dataset:
    """One FATE example table by name, e.g. ``breast_hetero_guest`` (id column ``id``).

    Guest and homo tables carry the label ``y``; hetero host tables have none (``y`` is None).
    ``student_*`` labels are grades, loaded as regression. ``UCI_Credit_Card`` keeps its
    original column names (id ``ID``, label ``default.payment.next.month``).
    """
    folder = Path(root) if root else shared_data_dir("fate")
    stem = name[:-4] if name.endswith(".csv") else name
    path = folder / f"{stem}.csv"
    if not path.is_file():
        valid = ", ".join(fate_table_names(folder))
        raise ConfigError(f"no FATE table {name!r} in {folder}; valid names: {valid}")
    if stem == "UCI_Credit_Card":
        return load_csv(path, label="default.payment.next.month", id_column="ID", name=stem)
    with path.open(encoding="utf-8") as f:
        header = [c.strip() for c in f.readline().split(",")]
    label = "y" if "y" in header else None
    task: Literal["auto", "regression"] = "regression" if stem.startswith("student") else "auto"
    return load_csv(path, label=label, id_column="id", task=task, name=stem)
