"""The license ``pyproject.toml`` declares ships with rengo: its text is a license file of
the checkout that the build puts into the wheel's ``.dist-info/licenses`` and the sdist
(Apache-2.0 asks that every recipient gets a copy of it)."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the core install adds tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# setuptools' license-files when pyproject.toml names none (PEP 639)
DEFAULT_LICENSE_FILES = ("LICEN[CS]E*", "COPYING*", "NOTICE*", "AUTHORS*")

LICENSE_TITLES = {"Apache-2.0": "Apache License\n                           Version 2.0"}


def test_the_declared_license_ships_as_a_license_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    patterns = project.get("license-files", DEFAULT_LICENSE_FILES)
    files = sorted({path for pattern in patterns for path in ROOT.glob(pattern)})
    title = LICENSE_TITLES[project["license"]]
    assert any(title in path.read_text(encoding="utf-8") for path in files), (
        f"no license file ({', '.join(patterns)}) holds the {project['license']} text"
    )
