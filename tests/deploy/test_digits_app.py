"""The deployment tests' client code (digits_app.py) trains on exactly scikit-learn's digits,
and a process that loads it does not import scikit-learn (its import was most of each
deployed test process's start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from digits_app import load_digits, shards

HERE = Path(__file__).parent


def test_the_digits_read_from_scikit_learns_file_are_load_digits_to_the_bit() -> None:
    from sklearn.datasets import load_digits as sklearn_load_digits

    X, y = load_digits()
    want_X, want_y = sklearn_load_digits(return_X_y=True)
    assert X.dtype == want_X.dtype and y.dtype == want_y.dtype
    np.testing.assert_array_equal(X, want_X)
    np.testing.assert_array_equal(y, want_y)
    assert sum(len(labels) for _, labels in shards().values()) == len(want_y)


def test_a_process_serving_the_digits_app_imports_no_scikit_learn_scipy_or_pandas() -> None:
    code = (
        "import sys, digits_app\n"
        "digits_app.client_fn('p0')\n"
        "print(','.join(m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=HERE,
    )
    assert done.stdout.strip() == "", f"the digits app imported {done.stdout.strip()}"
