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
}


def _dependencies() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = (Requirement(line) for line in project["dependencies"])
    return {requirement.name: requirement for requirement in requirements}


@pytest.mark.parametrize(("name", "release"), sorted(BROKEN_RELEASES))
def test_no_dependency_range_admits_a_release_rengo_breaks_on(name: str, release: str) -> None:
    requirement = _dependencies()[name]
    assert not requirement.specifier.contains(release), (
        f"pyproject.toml's {requirement} admits {name} {release}, on which rengo breaks"
    )
