"""The public API is a promise: every area's exports are documented, importable and pinned.

``docs/API.md`` is generated from the packages' ``__all__`` and docstrings
(``python tests/test_public_api.py --write``); a name that disappears from an area fails
here until it goes through a deprecation path (see docs/API.md, "Stability").
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from public_signatures import PINS, broken_calls, parse_pin, pins_broken, render_pins

from rengo.core.deprecation import REMOVED_IN, deprecated_paths

AREAS = [
    "rengo.core",
    "rengo.transport",
    "rengo.crypto",
    "rengo.data",
    "rengo.metrics",
    "rengo.privacy",
    "rengo.hfl",
    "rengo.vfl",
    "rengo.vfl.secureboost",
    "rengo.vfl.splitnn",
    "rengo.ftl",
    "rengo.valuation",
    "rengo.rewards",
    "rengo.tournament",
    "rengo.jobs",
    "rengo.deploy",
    "rengo.tracking",
    "rengo.showcase",
    "rengo.tracking.mirrors",
    "rengo.ui",
]
DEPRECATING_MODULES = [
    "rengo.contrib",
    "rengo.vfl",
    "rengo.cli",
    "rengo.cli.tournament",
    "rengo.deploy.coordinator",
    "rengo.deploy.party",
    "rengo.hfl",
    "rengo.jobs.spec",
]
"""Modules that register deprecated import paths (rendered at the end of docs/API.md)."""
API_DOC = Path(__file__).resolve().parents[1] / "docs" / "API.md"


_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!\bvs)(?<!\bet al)\.(?=\s|$)")


def _summary(obj: object) -> str:
    """The first sentence of ``obj``'s docstring, however many lines it spans (the first
    line alone cut sentences short mid-clause); nothing for builtin types such as a
    ``dict`` alias, whose docstring is Python's."""
    if isinstance(obj, type | types.GenericAlias) and getattr(obj, "__module__", "") == "builtins":
        return ""
    doc = (inspect.getdoc(obj) or "").strip()
    lines = [line.strip() for line in doc.split("\n\n", 1)[0].splitlines()]
    paragraph = lines[0] if lines else ""
    for line in lines[1:]:  # "credit-" + "scoring" is one hyphenated word; " - " a dash
        paragraph += line if re.search(r"\w-$", paragraph) else " " + line
    end = _SENTENCE_END.search(paragraph)
    return paragraph[: end.end()] if end else paragraph


def render_api() -> str:
    """The text of docs/API.md for the current exports."""
    lines = [
        "# rengo public API",
        "",
        "Generated from each area's `__all__` by `python tests/test_public_api.py --write`;",
        "`make test` fails when this file and the code disagree.",
        "",
        "## Stability",
        "",
        "Names listed here are the public API. Removing or renaming one requires a deprecation",
        "path: the old name keeps working for at least one minor release and emits a",
        "`DeprecationWarning` naming its replacement. Everything not listed is private.",
        "",
    ]
    for area in AREAS:
        module = importlib.import_module(area)
        lines += [f"## `{area}`", "", _summary(module), ""]
        for name in sorted(module.__all__):
            obj = getattr(module, name)
            summary = _summary(obj) if (inspect.isclass(obj) or callable(obj)) else ""
            lines.append(f"- `{name}`" + (f": {summary}" if summary else ""))
        lines.append("")
    for module in DEPRECATING_MODULES:
        importlib.import_module(module)
    lines += [
        "## Deprecated import paths",
        "",
        f"Still importable with a `DeprecationWarning`; removed in rengo {REMOVED_IN}.",
        "",
    ]
    lines += [
        f"- `{old}` -> `{new}`"
        for old, new in deprecated_paths().items()
        if old.startswith("rengo.")
    ]
    lines.append("")
    return "\n".join(lines)


@pytest.mark.parametrize("area", AREAS)
def test_every_export_exists_and_is_documented(area):
    module = importlib.import_module(area)
    assert module.__doc__, f"{area} has no module docstring"
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{area}.{name} has no docstring"


def test_examples_import_only_public_names():
    """Users copy the examples: every ``from rengo... import`` in them names an area's export,
    never a private module (which may change without a deprecation path)."""
    import ast

    private = []
    for path in sorted((API_DOC.parents[1] / "examples").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rengo")):
                continue
            exported = set(getattr(importlib.import_module(node.module), "__all__", ()))
            private += [
                f"{path.name}: from {node.module} import {alias.name}"
                for alias in node.names
                if node.module not in AREAS or alias.name not in exported
            ]
    assert not private, "examples import private names:\n" + "\n".join(private)


def test_api_doc_matches_the_exports():
    assert API_DOC.read_text(encoding="utf-8") == render_api(), (
        "docs/API.md is out of date: run `python tests/test_public_api.py --write`, and if a "
        "name was removed, give it a deprecation path first"
    )


def test_every_pinned_signature_still_takes_the_calls_it_took():
    """No public function, constructor or method loses a parameter, moves a positional one,
    gains a required one or changes a literal default without a deprecation path (see
    tests/public_signatures.py)."""
    assert pins_broken(PINS.read_text(encoding="utf-8")) == [], (
        "a public signature broke its callers: keep the old spelling working with a "
        "DeprecationWarning (rengo.core.deprecation.REMOVED_IN), and re-pin "
        "(`python tests/test_public_api.py --write-signatures`) only when a release drops it"
    )


def test_the_signature_check_flags_each_kind_of_break_and_passes_additions():
    _, old = parse_pin("m:f(a, b=1, *, c=None, d=Ellipsis)")

    def added(a, b=1, e=None, *, c=None, d=print, f=2): ...
    def renamed(a, bee=1, *, c=None, d=print): ...
    def moved(b=1, a=0, *, c=None, d=print): ...
    def keyword_lost(a, b=1, *, d=print): ...
    def now_required(a, b, *, c=None, d=print, g): ...
    def new_default(a, b=2, *, c=None, d=print): ...

    assert broken_calls(old, inspect.signature(added)) == []
    assert broken_calls(old, inspect.signature(renamed)) == [
        "positional argument 2 was 'b' and is now 'bee'",
        "keyword 'b' is no longer accepted",
    ]
    assert broken_calls(old, inspect.signature(moved))[:2] == [
        "positional argument 1 was 'a' and is now 'b'",
        "positional argument 2 was 'b' and is now 'a'",
    ]
    assert broken_calls(old, inspect.signature(keyword_lost)) == [
        "keyword 'c' is no longer accepted"
    ]
    assert broken_calls(old, inspect.signature(now_required)) == [
        "'b' had a default (1) and is now required",
        "'g' is a new required parameter",
    ]
    assert broken_calls(old, inspect.signature(new_default)) == [
        "the default of 'b' changed from 1 to 2"
    ]


def test_numpy_only_install_works_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int)\n"
        "fn = lambda cid: LogisticRegressionClient(X[int(cid)::3], y[int(cid)::3])\n"
        "h = simulate(fn, 3, FedAvg(), softmax_init(4, 2), 2)\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok', h.last('train_loss'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


if __name__ == "__main__":
    if "--write" in sys.argv:
        API_DOC.write_text(render_api(), encoding="utf-8")
        print(f"wrote {API_DOC}")
    if "--write-signatures" in sys.argv:
        PINS.write_text(render_pins(AREAS), encoding="utf-8")
        print(f"wrote {PINS}")
