"""``pytest -n N --dist loadgroup`` (``make test``) runs the tests of a module that defines a
class-, module- or package-scoped fixture on one worker, so that the fixture is set up once.

With ``--dist load`` each worker that ran one of a module's tests set its module-scoped
fixture up again (the 4-process vertical deployment of tests/deploy/test_vertical_deployed.py
ran on both workers). xdist's own ``loadgroup`` groups only tests marked ``xdist_group``, and
with pytest 9.2 not even those: it renames a test's node ID through the ``_nodeid`` attribute
pytest no longer reads (pytest-dev/pytest-xdist#1386), so the groups never reach its
scheduler. This scheduler decides on the controller, from the node ID alone: a test of a file
whose source defines such a fixture is in that file's group, a test marked ``xdist_group``
(once xdist's suffix works again) in its group, any other test a unit of its own, spread as
``--dist load`` spreads them. Groups with more tests start first (xdist's loadscope order).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

SHARED_FIXTURE = re.compile(r"""scope\s*=\s*["'](?:class|module|package)["']""")


@functools.cache
def defines_shared_fixture(path: Path) -> bool:
    """Whether the test file ``path`` defines a class-, module- or package-scoped fixture
    (False for a file that cannot be read)."""
    try:
        return SHARED_FIXTURE.search(path.read_text(encoding="utf-8")) is not None
    except OSError:
        return False


def work_unit(nodeid: str, rootpath: Path) -> str:
    """The unit of work ``nodeid`` is scheduled in: its ``xdist_group`` (the ``@group``
    suffix), its file when the file defines a shared fixture, else the test alone."""
    if nodeid.rfind("@") > nodeid.rfind("]"):  # as xdist's loadgroup reads its suffix
        return nodeid.split("@")[-1]
    path = nodeid.split("::", 1)[0]
    return path if defines_shared_fixture(rootpath / path) else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadgroup``, the scheduler that groups by :func:`work_unit`; any
    other distribution mode is xdist's own."""
    if config.getoption("dist", None) != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid, config.rootpath)

    return SharedFixtureScheduling(config, log)
