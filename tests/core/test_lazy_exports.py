"""A package's exports imported on first use (``rengo.core.lazy_exports``): importing an area
loads none of its modules until a name is asked for, and every name, ``dir()`` entry and
submodule it gave before is still there."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from rengo.core.lazy_exports import type_checking_imports

SRC = Path(__file__).resolve().parents[2] / "src"
LAZY_PACKAGES = sorted(
    ".".join(path.parent.relative_to(SRC).parts)
    for path in (SRC / "rengo").glob("*/__init__.py")
    if "__getattr__, __dir__ = lazy_exports(" in path.read_text(encoding="utf-8")
)


def test_the_lazy_packages_are_found() -> None:
    assert {"rengo.core", "rengo.hfl", "rengo.vfl", "rengo.tracking"} <= set(LAZY_PACKAGES)


def test_the_block_reads_names_aliases_and_modules() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from rengo.core.errors import ConfigError\n"  # outside the block: not lazy
        "if TYPE_CHECKING:\n"
        "    from rengo.core.codec import decode, encode as to_bytes\n"
        "    import rengo.core.errors as errors\n"
        "    import rengo.core.files\n"  # binds `rengo`, not an export
        "if typing.TYPE_CHECKING:\n"
        "    from rengo.core.parameters import flatten\n"
    )
    assert type_checking_imports(source) == {
        "decode": "rengo.core.codec:decode",
        "to_bytes": "rengo.core.codec:encode",
        "errors": "rengo.core.errors:",
        "flatten": "rengo.core.parameters:flatten",
    }


def test_a_relative_import_in_the_block_is_refused_with_its_line() -> None:
    source = "if TYPE_CHECKING:\n    from .codec import decode\n"
    with pytest.raises(ValueError, match="relative import on line 2"):
        type_checking_imports(source)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_export_resolves_and_is_listed_by_dir(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_no_lazy_export_is_named_like_a_submodule(package: str) -> None:
    """Importing ``package.x`` sets the attribute ``x`` of the package to that module: a lazy
    export named ``x`` would turn into the module whenever the submodule is imported first.
    Such names are imported eagerly (outside the ``if TYPE_CHECKING:`` block)."""
    module = importlib.import_module(package)
    lazy = type_checking_imports(Path(str(module.__file__)).read_text(encoding="utf-8"))
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert sorted(set(lazy) & submodules) == []


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_importing_an_area_loads_an_export_only_when_it_is_asked_for() -> None:
    code = (
        "import sys, rengo.core\n"
        "before = 'rengo.core.codec' in sys.modules\n"
        "encode = rengo.core.encode\n"
        "print(before, 'rengo.core.codec' in sys.modules, encode.__module__)"
    )
    assert _run(code) == "False True rengo.core.codec"


def test_a_submodule_is_an_attribute_of_its_package_as_before() -> None:
    code = "import rengo.hfl\nprint(rengo.hfl.strategy.__name__)"
    assert _run(code) == "rengo.hfl.strategy"


def test_an_unknown_name_still_raises_attribute_error() -> None:
    import rengo.core

    with pytest.raises(AttributeError, match=r"module 'rengo\.core' has no attribute 'NoSuch'"):
        rengo.core.NoSuch  # noqa: B018


def test_exports_resolve_when_rengo_is_imported_from_a_zip_archive(tmp_path: Path) -> None:
    """A zipapp (pex, shiv) or egg imports rengo from inside an archive, where ``__file__``
    is no path on disk: the exports were read from that path and failed with
    NotADirectoryError; they come from the loader's source now."""
    import zipfile

    archive = tmp_path / "rengo.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in (SRC / "rengo").rglob("*.py"):
            zipped.write(path, path.relative_to(SRC).as_posix())
    code = (
        f"import sys; sys.path.insert(0, {str(archive)!r})\n"
        "import rengo.core, rengo.hfl\n"
        "assert '.zip' in rengo.core.__file__, rengo.core.__file__\n"
        "print(rengo.core.ConfigError.__name__, rengo.hfl.FedAvg.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ConfigError", "FedAvg"]
