"""rengo.deploy: run a federation for real - a coordinator process and party processes
talking gRPC with TLS, parties connecting outbound, the user's client code loaded by path.

Horizontal runs use the round loop (:func:`serve_coordinator`, :func:`run_party`); any
multi-party protocol runs its roles with :func:`serve_role` / :func:`run_role`, and every
registered vertical algorithm runs through the vertical runner with
:func:`serve_vertical_coordinator` / :func:`run_vertical_party`.
"""

from typing import TYPE_CHECKING

from rengo.core.deprecation import alias_moved_modules
from rengo.core.lazy_exports import lazy_exports

# Deprecated module path (load_app moved to core so that job files can use it); removed in
# rengo 0.3.
alias_moved_modules({"rengo.deploy.app_loader": "rengo.core.app_loader"})

if TYPE_CHECKING:
    from rengo.core.app_loader import load_app
    from rengo.deploy.coordinator import RUN_KIND, message_limit, serve_coordinator
    from rengo.deploy.party import run_party
    from rengo.deploy.roles import run_role, serve_role
    from rengo.deploy.vertical import (
        VERTICAL_MAX_MESSAGE_BYTES,
        VerticalRunReport,
        checkpointed_plan,
        run_vertical_party,
        serve_vertical_coordinator,
    )
    from rengo.deploy.vertical_data import load_party_data
    from rengo.vfl.runner import VerticalPartyResult, VerticalPlan


__all__ = [
    "RUN_KIND",
    "VERTICAL_MAX_MESSAGE_BYTES",
    "VerticalPartyResult",
    "VerticalPlan",
    "VerticalRunReport",
    "checkpointed_plan",
    "load_app",
    "load_party_data",
    "message_limit",
    "run_party",
    "run_role",
    "run_vertical_party",
    "serve_coordinator",
    "serve_role",
    "serve_vertical_coordinator",
]

__getattr__, __dir__ = lazy_exports(__name__)
