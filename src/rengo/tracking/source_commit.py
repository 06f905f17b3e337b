"""Which source a run's rengo came from, when that is more than its version says: the git
commit of a rengo source checkout (an editable install, a clone run in place), recorded with
every run so that a model card can name the code that trained it.

An installed release is named by its version alone (``RunInfo.rengo_version``); this
module then finds nothing and a run records nothing more.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

SOURCE_COMMIT = "rengo_commit"
"""The run summary key of the git commit rengo ran from (``+changes`` appended where its
files differed from that commit)."""


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source_commit() -> str | None:
    """The commit of the git checkout rengo's own files are tracked in, with ``+changes``
    when they differ from it; None for an installed release (its files are tracked by no
    repository: a virtual environment inside a project's repository is ignored by it) or
    where git is missing. Asked once per process.

    Returns
    -------
    str or None
        A 40-hex commit, perhaps followed by ``+changes``.
    """
    package = Path(__file__).resolve().parent.parent
    if _git(package, "ls-files", "--error-unmatch", "__init__.py") is None:
        return None  # not a rengo source checkout
    commit = _git(package, "rev-parse", "HEAD")
    if not commit:
        return None
    changes = _git(package, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return commit + ("+changes" if changes else "")
