"""The import graph follows the layers of ARCHITECTURE.md, read from the source with ``ast``.

Every ``import`` / ``from ... import`` in every module under ``src/rengo`` (including those
inside functions and ``if TYPE_CHECKING:`` blocks) is checked:

* it goes only downward: a package imports only packages above it in :data:`LAYERS`
  ("each imports only from those above it in this list"); within a package anything goes;
* no package imports another package's private module (``rengo.x._y``) or private name
  (``from rengo.x.y import _z``).

A violation that lives in another branch's area when this test lands is listed, with its
reason, in :data:`KNOWN_VIOLATIONS`, so that this test passes today and fails on any new one;
an entry that no longer occurs fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rengo"

LAYERS: tuple[str, ...] = (
    "core",
    "transport",
    "crypto",
    "data",
    "metrics",
    "privacy",
    "hfl",
    "vfl",
    "ftl",
    "valuation",
    "rewards",
    "tournament",
    "tracking",
    "jobs",
    "deploy",
    "showcase",
    "ui",
    "cli",
    "__main__",  # python -m rengo: the cli's entry point, above it
)
"""Bottom to top: each package may import only the ones before it (and ``rengo`` itself,
which holds only ``__version__``)."""

DEPRECATED_ALIASES = frozenset({"contrib"})
"""Packages kept only as deprecated aliases: they may import anything, nothing may import them."""

KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    # (importing module, imported module): why it is still here and who removes it.
    # Empty on the seams-packages branch: the story left vfl (vfl no longer imports data),
    # contrib's split packages import only downward, and no package imports another's
    # underscore names. Imports that other branches' merges add show up here first.
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen in ``module`` at ``line``."""

    module: str
    target: str
    names: tuple[str, ...]
    line: int

    @property
    def package(self) -> str:
        return _package_of(self.module)

    @property
    def target_package(self) -> str:
        return _package_of(self.target)


def _package_of(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(path: Path) -> list[Import]:
    module = _module_name(path)
    package_parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, (), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append(Import(module, target, tuple(a.name for a in node.names), node.lineno))
    return [i for i in found if i.target == "rengo" or i.target.startswith("rengo.")]


def all_imports() -> list[Import]:
    """Every rengo-internal import in the source tree."""
    return [i for path in sorted(SRC.rglob("*.py")) for i in _imports_of(path)]


def _layer_violation(i: Import) -> str | None:
    source, target = i.package, i.target_package
    if target == source or i.target == "rengo":
        return None
    if target in DEPRECATED_ALIASES:
        return f"imports the deprecated alias package rengo.{target}"
    if source in DEPRECATED_ALIASES:
        return None
    if source == "rengo":
        return f"the root package imports rengo.{target}"
    if source not in LAYERS or target not in LAYERS:
        unknown = source if source not in LAYERS else target
        return f"package {unknown!r} has no place in LAYERS; add it where ARCHITECTURE.md says"
    if LAYERS.index(target) > LAYERS.index(source):
        return f"{source} imports {target}, which is above it"
    return None


def _is_private(name: str) -> bool:
    """``_x`` is private; dunders such as ``__version__`` are not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_violation(i: Import) -> str | None:
    if i.target_package == i.package:
        return None
    if any(_is_private(part) for part in i.target.split(".")):
        return f"imports the private module {i.target}"
    private_names = [n for n in i.names if _is_private(n)]
    if private_names:
        return f"imports private names {private_names} from {i.target}"
    return None


def _violations() -> dict[tuple[str, str], str]:
    out = {}
    for i in all_imports():
        reason = _layer_violation(i) or _private_violation(i)
        if reason:
            out[(i.module, i.target)] = f"line {i.line}: {reason}"
    return out


def test_the_import_scan_sees_the_packages_and_their_imports() -> None:
    imports = all_imports()
    packages = {i.package for i in imports}
    assert {"core", "vfl", "valuation", "showcase", "cli"} <= packages
    assert any(i.module == "rengo.showcase.demo" and i.target == "rengo.hfl" for i in imports)


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    unplaced = (packages | modules) - set(LAYERS) - DEPRECATED_ALIASES
    assert not unplaced, f"add {sorted(unplaced)} to LAYERS in tests/test_layers.py"


def test_imports_go_only_downward_and_never_to_private_names() -> None:
    new = {k: v for k, v in _violations().items() if k not in KNOWN_VIOLATIONS}
    assert not new, "layer violations:\n" + "\n".join(
        f"  {source} -> {target} ({why})" for (source, target), why in sorted(new.items())
    )


def test_known_violations_still_occur_so_fixed_ones_leave_the_list() -> None:
    stale = set(KNOWN_VIOLATIONS) - set(_violations())
    assert not stale, f"remove fixed entries from KNOWN_VIOLATIONS: {sorted(stale)}"


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("rengo.vfl.story", "rengo.showcase", "above it"),
        ("rengo.valuation.x", "rengo.showcase.credit_default", "above it"),
        ("rengo.hfl.x", "rengo.contrib", "deprecated alias"),
        ("rengo.valuation.x", "rengo.vfl", None),
        ("rengo.cli.main", "rengo.showcase", None),
        ("rengo.gizmo.x", "rengo.core", "no place in LAYERS"),
    ],
)
def test_the_layer_rule_flags_upward_imports(source: str, target: str, expected: str | None):
    reason = _layer_violation(Import(source, target, (), 1))
    assert (reason is None) if expected is None else (reason is not None and expected in reason)


def test_the_private_rule_flags_underscore_modules_and_names() -> None:
    assert _private_violation(Import("rengo.vfl.x", "rengo.crypto._fast", (), 1))
    assert _private_violation(Import("rengo.vfl.x", "rengo.crypto.keys", ("_mont",), 1))
    assert _private_violation(Import("rengo.vfl.x", "rengo.vfl._inner", ("_a",), 1)) is None
    assert _private_violation(Import("rengo.vfl.x", "rengo.crypto", ("encrypt",), 1)) is None
    assert _private_violation(Import("rengo.cli.x", "rengo", ("__version__",), 1)) is None
