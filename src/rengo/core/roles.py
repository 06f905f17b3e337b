"""The names every federation shares, defined once for every layer.

The coordinator is the process parties connect to (the gRPC hub when deployed) and the role
that organises a run: it hands out the plan and collects each party's outcome, and in
protocols that need a third party (coordinated hetero LR's key holder, the horizontal round
loop) it also plays that part. No party may take its name.
"""

from __future__ import annotations

COORDINATOR = "coordinator"
"""The coordinator's role name (and the common name on its TLS certificate)."""
