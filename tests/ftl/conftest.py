"""Shared helpers of the transfer-learning tests (importable as ``ftl_scenarios``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
