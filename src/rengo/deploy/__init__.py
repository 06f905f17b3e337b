"""rengo.deploy: run a federation for real - a coordinator process and party processes
talking gRPC with TLS, parties connecting outbound, the user's client code loaded by path.
"""

from rengo.deploy.app_loader import load_app
from rengo.deploy.coordinator import RUN_KIND, serve_coordinator, serve_role
from rengo.deploy.party import run_party, run_role

__all__ = ["RUN_KIND", "load_app", "run_party", "run_role", "serve_coordinator", "serve_role"]
