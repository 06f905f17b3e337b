"""SecureBoost tests: the plaintext reference learner beside them is importable by name."""

from __future__ import annotations

import sys
from pathlib import Path

# appended, not prepended, because tests/deploy imports its own conftest by name
sys.path.append(str(Path(__file__).parent))
