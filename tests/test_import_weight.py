"""Importing rengo's everyday entry points stays light: ``rengo --help``, a deployed party
and ``import rengo.vfl`` do not pay for scikit-learn, SciPy, pandas, PyTorch or matplotlib
(~3 s together on the reference machine) until something needs them."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy", "pandas", "torch", "matplotlib")


@pytest.mark.parametrize(
    "module", ["rengo.cli.main", "rengo.deploy", "rengo.vfl", "rengo.hfl", "rengo.tracking"]
)
def test_importing_an_entry_point_loads_no_heavy_library(module: str) -> None:
    code = f"import sys, {module}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "", f"{module} imported {done.stdout.strip()}"


def test_not_fitted_error_made_on_first_use_is_one_sklearn_compatible_class() -> None:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    from rengo.core.errors import ConfigError
    from rengo.vfl import NotFittedError
    from rengo.vfl.estimator import NotFittedError as same

    assert NotFittedError is same
    assert issubclass(NotFittedError, SklearnNotFittedError)
    assert issubclass(NotFittedError, ConfigError)
    assert NotFittedError.__module__ == "rengo.vfl.estimator"
    assert type(pickle.loads(pickle.dumps(NotFittedError("not fitted")))) is NotFittedError


def test_unknown_names_of_rengo_vfl_still_raise_attribute_error() -> None:
    import rengo.vfl

    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        rengo.vfl.NoSuchName  # noqa: B018
