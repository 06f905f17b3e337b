"""Secure aggregation for horizontal FL: SecAgg+ (Bell et al. CCS 2020) as a round workflow
(:class:`SecAggPlus`) and the client mod that answers its stages (:class:`SecAggMod`)."""

from rengo.hfl.secagg.client_mod import SecAggMod
from rengo.hfl.secagg.workflow import SecAggPlus, SecAggReport

__all__ = ["SecAggMod", "SecAggPlus", "SecAggReport"]
