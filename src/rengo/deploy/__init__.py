"""rengo.deploy: run a federation for real - a coordinator process and party processes
talking gRPC with TLS, parties connecting outbound, the user's client code loaded by path.
"""

from rengo.deploy.app_loader import load_app
from rengo.deploy.coordinator import RUN_KIND, serve_coordinator, serve_role
from rengo.deploy.party import run_party, run_role
from rengo.deploy.vertical import (
    VerticalPartyResult,
    VerticalPlan,
    VerticalRunReport,
    run_vertical_party,
    serve_vertical_coordinator,
)
from rengo.deploy.vertical_data import load_party_data

__all__ = [
    "RUN_KIND",
    "VerticalPartyResult",
    "VerticalPlan",
    "VerticalRunReport",
    "load_app",
    "load_party_data",
    "run_party",
    "run_role",
    "run_vertical_party",
    "serve_coordinator",
    "serve_role",
    "serve_vertical_coordinator",
]
