"""Run ids: ``YYYYMMDD-HHMMSS-xxxxxx`` (UTC time + 6 random hex), readable, sortable, unique."""

from __future__ import annotations

import secrets
from datetime import datetime

_HEX_CHARS = 6


def new_run_id(now: datetime) -> str:
    """Make a fresh run id for a run started at ``now``.

    The random suffix comes from :mod:`secrets`, not from any experiment seed, so two runs
    started in the same second with the same seed still get different ids.
    """
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(_HEX_CHARS // 2)}"
