"""Deprecation paths: a moved name or module keeps resolving to the very same object, warns
once per use with the new place, and the warning points at the user's line."""

from __future__ import annotations

import importlib
import linecache
import os
import subprocess
import sys
import types
import warnings

import pytest

from rengo.core import deprecation
from rengo.core.deprecation import (
    REMOVED_IN,
    MovedModule,
    alias_moved_modules,
    deprecated_paths,
    moved_names,
)


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests register made-up paths; keep them out of the real registry."""
    monkeypatch.setattr(deprecation, "_REDIRECTS", dict(deprecation._REDIRECTS))
    monkeypatch.setattr(deprecation._FINDER, "moved", dict(deprecation._FINDER.moved))


def test_moved_name_resolves_to_the_new_object_with_a_warning_naming_it() -> None:
    getattr_ = moved_names("old.place", {"Path": "pathlib", "join": "os.path:join"})
    with pytest.warns(DeprecationWarning, match=r"old\.place\.Path is deprecated.*pathlib\.Path"):
        value = getattr_("Path")
    import pathlib

    assert value is pathlib.Path
    with pytest.warns(DeprecationWarning, match=f"removed in rengo {REMOVED_IN}"):
        assert getattr_("join") is importlib.import_module("os.path").join
    assert deprecated_paths()["old.place.join"] == "os.path.join"


def test_unknown_names_raise_attribute_error_or_go_to_the_fallback() -> None:
    getattr_ = moved_names("old.place", {"Path": "pathlib"})
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        getattr_("nothing")
    chained = moved_names("old.place", {}, fallback=lambda name: f"fallback {name}")
    assert chained("x") == "fallback x"


def test_a_hint_replaces_the_import_advice() -> None:
    getattr_ = moved_names("old.place", {"f": "os:getcwd"}, hints={"f": "call os.getcwd()"})
    with pytest.warns(DeprecationWarning, match=r"deprecated .*; call os\.getcwd\(\)$"):
        getattr_("f")


def test_the_warning_points_at_the_line_that_used_the_old_name() -> None:
    module = types.ModuleType("old_module_for_test")
    module.__getattr__ = moved_names("old_module_for_test", {"Path": "pathlib"})  # type: ignore[method-assign]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module.Path  # noqa: B018
    assert [w.filename for w in caught] == [__file__]


def test_an_old_module_path_imports_as_the_new_module_names_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "rengo_old_json_path", raising=False)
    alias_moved_modules(
        {"rengo_old_json_path": MovedModule("json", {"getcwd": "os"}, {"getcwd": "use os"})}
    )
    with pytest.warns(DeprecationWarning, match=r"rengo_old_json_path is deprecated.*json"):
        from rengo_old_json_path import dumps, getcwd  # type: ignore[import-not-found]
    import json
    import os

    assert dumps is json.dumps and getcwd is os.getcwd
    assert deprecated_paths()["rengo_old_json_path.getcwd"] == "use os"
    module = sys.modules["rengo_old_json_path"]
    assert "dumps" in module.__all__ and "deprecated" in (module.__doc__ or "").lower()


def test_an_old_module_warning_names_where_its_names_that_went_elsewhere_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warning named only the new module, which lacks the names that went elsewhere:
    a user who followed it got an ImportError."""
    monkeypatch.delitem(sys.modules, "rengo_old_mixed_path", raising=False)
    alias_moved_modules(
        {
            "rengo_old_mixed_path": MovedModule(
                "json", {"getcwd": "os", "sep": "os.path:sep"}, {"sep": "use os.sep"}
            )
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import rengo_old_mixed_path  # type: ignore[import-not-found]  # noqa: F401
    (warning,) = caught
    assert str(warning.message).endswith(
        "import json instead, except getcwd: from os import getcwd; sep: use os.sep"
    )


def test_an_old_module_import_warns_at_the_importing_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import`` of a moved module is attributed to the line that imports it (not to the
    import machinery), so a script sees the warning under Python's default filters."""
    monkeypatch.delitem(sys.modules, "rengo_old_os_path", raising=False)
    alias_moved_modules({"rengo_old_os_path": MovedModule("os.path")})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import rengo_old_os_path  # type: ignore[import-not-found]  # noqa: F401
    assert [w.filename for w in caught] == [__file__]
    assert "import rengo_old_os_path" in linecache.getline(__file__, caught[0].lineno)


def test_a_script_importing_an_old_module_sees_the_warning_with_default_filters() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import rengo.vfl.hetero_lr_math"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
    )
    assert "DeprecationWarning: rengo.vfl.hetero_lr_math is deprecated" in done.stderr
