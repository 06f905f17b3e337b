"""Load the user's own code by import path: `rengo party --app module:callable`, a job's
`[model] app` and `[strategy] app`."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

from rengo.core.errors import ConfigError


def load_app(spec: str, search_path: str | os.PathLike[str] | None = ".") -> Any:
    """Import ``"package.module:attribute"`` and return the attribute (e.g. a ``ClientFn``).

    ``search_path`` (default: the working directory) is put on ``sys.path`` first, so a
    user's ``my_client.py`` beside the command is found, as uvicorn and gunicorn do.

    Raises
    ------
    ConfigError
        If ``spec`` is not ``module:attribute``, the module cannot be imported (not found,
        a syntax error, or its code raised while importing: the message names the file and
        line), it lacks the attribute, or the attribute is not callable.
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
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else "its source"
        raise ConfigError(
            f"app {spec!r}: syntax error in {where}: {exc.msg}"
            + (f": {exc.text.strip()}" if exc.text and exc.text.strip() else "")
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"app {spec!r}: importing {module_name!r} raised {type(exc).__name__}: {exc} "
            f"({_where(exc)})"
        ) from None
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ConfigError(f"module {module_name!r} has no attribute {attr_path!r}") from exc
    if not callable(target):
        raise ConfigError(f"app {spec!r} is a {type(target).__name__}, not a callable")
    return target


def _where(exc: BaseException) -> str:
    """The app's own line that raised while being imported: the first frame past
    importlib's (the module's code), else the innermost one."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen") and frame.filename != importlib.__file__
    ]
    if not frames:
        return "while importing"
    frame = frames[1] if len(frames) > 1 and frames[0].filename == __file__ else frames[0]
    return f"{frame.filename}, line {frame.lineno}"
