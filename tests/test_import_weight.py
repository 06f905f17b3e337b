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
    "module",
    [
        "rengo.cli.main",
        "rengo.deploy",
        "rengo.vfl",
        "rengo.hfl",
        "rengo.tracking",
        "rengo.cli.run_job",  # what each `rengo sweep` cell's fresh process imports
    ],
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


NOT_FOR_LIGHT_COMMANDS = (
    "google.protobuf",  # the wire envelope
    "cryptography",  # x25519, certificates
    "gmpy2",  # Paillier
    "grpc",
    "rengo.crypto",
    "rengo.hfl",
    "rengo.vfl",
    "rengo.valuation",
    *HEAVY,
)
"""What commands that only read a store or a tournament state, and ``rengo --help``, never
needed: about 0.3-0.5 s of each command's start-up before they were imported on first use."""

_LOADED_BY_COMMAND = """
import sys
from rengo.cli.main import app
try:
    app(sys.argv[1:], prog_name="rengo")
except SystemExit as done:
    assert not done.code, done.code
print("loaded:" + ",".join(sorted(m for m in {names!r} if m in sys.modules)))
"""


def _loaded_by(args: list[str], cwd: str) -> list[str]:
    """The modules of :data:`NOT_FOR_LIGHT_COMMANDS` (and numpy) that ``rengo args`` loaded."""
    code = _LOADED_BY_COMMAND.format(names=(*NOT_FOR_LIGHT_COMMANDS, "numpy"))
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=cwd,
    )
    loaded = done.stdout.rpartition("loaded:")[2].strip()
    return [m for m in loaded.split(",") if m]


@pytest.fixture(scope="module")
def tournament_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder with a tiny tournament (``t.json``) and its run store (``r.db``)."""
    folder = tmp_path_factory.mktemp("light")
    rows = "id,era,target\n" + "".join(f"r{i},e{i // 2},{i % 2}\n" for i in range(4))
    (folder / "rows.csv").write_text(rows, encoding="utf-8")
    opened = ["tournament", "open", "--csv", "rows.csv", "--id-column", "id", "--era-column",
              "era", "--target-column", "target", "--train-share", "0", "--state", "t.json",
              "--store", "r.db"]  # fmt: skip
    _loaded_by(opened, str(folder))
    return str(folder)


def test_rengo_help_loads_no_numerics_crypto_wire_or_algorithm(tournament_folder: str) -> None:
    assert _loaded_by(["--help"], tournament_folder) == []


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["runs", "list", "--store", "r.db"], []),
        # the tournament state's arrays are numpy's
        (["tournament", "leaderboard", "--state", "t.json", "--store", "r.db"], ["numpy"]),
    ],
    ids=["runs list", "tournament leaderboard"],
)
def test_reading_a_store_or_a_tournament_loads_no_crypto_wire_or_algorithm(
    args: list[str], allowed: list[str], tournament_folder: str
) -> None:
    """``rengo runs list`` does not load numpy either (~0.1 s; a run's detail does)."""
    assert [m for m in _loaded_by(args, tournament_folder) if m not in allowed] == []


@pytest.mark.parametrize(
    "module", ["rengo.core", "rengo.hfl", "rengo.vfl", "rengo.tracking", "rengo.tournament"]
)
def test_importing_an_area_loads_none_of_its_modules_until_a_name_is_used(module: str) -> None:
    """An area's exports are imported on first use (rengo.core.lazy_exports)."""
    names = tuple(m for m in ("numpy", *NOT_FOR_LIGHT_COMMANDS) if m != module)
    code = f"import sys, {module}\nprint(','.join(m for m in {names!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "", f"{module} imported {done.stdout.strip()}"
