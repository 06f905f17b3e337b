"""The dependency ranges of ``pyproject.toml`` admit no release rengo is known to break on.

A user whose environment already holds an older release of a dependency keeps it when
installing rengo, so a floor below what rengo calls fails in the user's hands, not in CI
(which installs the newest releases). Each entry names a release seen to break in a fresh
virtual environment holding the installed wheel, and what broke.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # the core install adds tomli on Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

BROKEN_RELEASES = {
    # gmpy2 2.1 has no mpz.from_bytes / to_bytes: every Paillier key and ciphertext read off
    # the wire failed ("invalid rengo.paillier.PublicKey payload: type object 'mpz' has no
    # attribute 'from_bytes'"), so every encrypted vertical run did (2.2.0 works).
    ("gmpy2", "2.1.5"),
    # typer 0.12.0-0.12.3 refuse `Path | None` options ("Type not yet supported"); 0.12.5,
    # 0.13 and 0.15 fail on click >= 8.2, which they admit: `rengo --help` crashed (0.16 works).
    ("typer", "0.12.3"),
    ("typer", "0.12.5"),
    ("typer", "0.15.0"),
    # pyarrow 14 admits numpy 2, for which it was not built: importing it fails ("A module
    # that was compiled using NumPy 1.x cannot be run in NumPy 2.x"), so a Parquet job ended
    # in "needs pyarrow: pip install 'rengo[parquet]'" with pyarrow installed (15 caps numpy < 2).
    ("pyarrow", "14.0.0"),
}


def _requirements(name: str) -> list[Requirement]:
    """Every requirement on ``name``: the core install's and each extra's."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"].values()
    lines = [*project["dependencies"], *(line for extra in extras for line in extra)]
    return [r for r in map(Requirement, lines) if r.name == name]


@pytest.mark.parametrize(("name", "release"), sorted(BROKEN_RELEASES))
def test_no_dependency_range_admits_a_release_rengo_breaks_on(name: str, release: str) -> None:
    requirements = _requirements(name)
    assert requirements, f"pyproject.toml no longer requires {name}: drop it here"
    for requirement in requirements:
        assert not requirement.specifier.contains(release), (
            f"pyproject.toml's {requirement} admits {name} {release}, on which rengo breaks"
        )
