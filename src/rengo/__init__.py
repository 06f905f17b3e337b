"""rengo (連合, "federation"): federated learning that keeps data where it lives."""

__version__ = "0.1.0"
