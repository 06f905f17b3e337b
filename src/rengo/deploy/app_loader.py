"""Load the user's own client code by import path, as ``rengo party --app module:callable``."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from rengo.core.errors import ConfigError


def load_app(spec: str, search_path: str | os.PathLike[str] | None = ".") -> Any:
    """Import ``"package.module:attribute"`` and return the attribute (e.g. a ``ClientFn``).

    ``search_path`` (default: the working directory) is put on ``sys.path`` first, so a
    user's ``my_client.py`` beside the command is found, as uvicorn and gunicorn do.
    """
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise ConfigError(f"app {spec!r} must look like 'module.path:callable'")
    if search_path is not None:
        folder = os.path.abspath(os.fspath(search_path))
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for app {spec!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ConfigError(f"module {module_name!r} has no attribute {attr_path!r}") from exc
    if not callable(target):
        raise ConfigError(f"app {spec!r} is a {type(target).__name__}, not a callable")
    return target
