"""A notebook shows a cell's last value by its repr: ``fed`` at the end of a cell (the
README's ``federate(load_digits(), ...)``) printed every client's arrays and its 64 column
names once per client: 20,662 characters for 10 clients, 629,579 for 100 and over a million
for 500, enough to flood the cell and trip Jupyter's output rate limit. A federation and a
table now show one line that says what they hold."""

from __future__ import annotations

import numpy as np

from rengo.data import Dataset, FederatedDataset, federate, load_digits


def test_a_federation_s_repr_is_one_short_line_whatever_its_clients() -> None:
    fed = federate(load_digits(), "dirichlet", num_clients=100, seed=0, alpha=0.5)
    text = repr(fed)
    assert "\n" not in text and len(text) < 300, text
    sizes = fed.sizes()
    assert "100 clients (client-0, client-1, ..., client-99)" in text
    assert f"rows per client {sizes.min()}..{sizes.max()} (total {sizes.sum()})" in text
    assert "64 features" in text and "10 classes" in text
    assert fed.test is not None and f"test={len(fed.test)} rows" in text
    assert "pixel_" not in text and "array(" not in text


def test_a_table_s_repr_names_its_size_and_a_few_columns_not_its_values() -> None:
    names = tuple(f"col{i}" for i in range(500))
    table = Dataset(
        np.zeros((1000, 500)),
        np.zeros(1000, dtype=np.int64),
        names,
        classes=("no", "yes"),
        name="wide",
        ids=np.arange(1000),
    )
    text = repr(table)
    assert "\n" not in text and len(text) < 200, text
    assert "1000 rows x 500 features (col0, col1, col2, ..., col499)" in text
    assert "2 classes (no, yes)" in text and ", ids" in text
    assert "col250" not in text and "array(" not in text


def test_a_regression_and_an_unlabelled_table_say_so() -> None:
    x = np.ones((3, 2))
    assert "regression target" in repr(Dataset(x, np.arange(3.0), ("a", "b")))
    assert "no labels" in repr(Dataset(x, None, ("a", "b")))
    fed = FederatedDataset({"a": Dataset(x, None, ("a", "b"))})
    assert "1 client (a)" in repr(fed) and "no classes" in repr(fed) and "no test" in repr(fed)


def test_a_federation_with_int_client_keys_one_class_and_categories_shows_them() -> None:
    """Client keys that are not strings made ``repr`` raise TypeError (a traceback in the
    cell); one class read "1 classes"; a federation's categories were never mentioned."""
    import numpy as np

    from rengo.data.categorical import CategoricalEncoding

    table = Dataset(np.zeros((3, 2)), np.zeros(3, dtype=int), ["a", "b"], classes=["only"])
    text = repr(FederatedDataset({0: table, 1: table}))  # type: ignore[dict-item]
    assert "2 clients (0, 1)" in text and "1 class," in text and "classes" not in text
    assert "1 class (only)" in repr(table)
    encoding = CategoricalEncoding({"b": ("x",)})
    assert ", categories" in repr(FederatedDataset({"a": table}, categories=encoding))
