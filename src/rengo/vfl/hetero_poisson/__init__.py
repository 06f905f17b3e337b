"""Coordinated hetero Poisson regression (log link): hetero LR's coordinator with an
encrypted multiplicative ``exp`` chain through the hosts (exact up to fixed point), its
settings, estimator and description for the vertical runner (registered as
``"hetero_poisson"``)."""

from rengo.vfl.hetero_poisson.algorithm import HETERO_POISSON
from rengo.vfl.hetero_poisson.config import HeteroPoissonConfig
from rengo.vfl.hetero_poisson.estimator import HeteroPoissonRegression
from rengo.vfl.hetero_poisson.roles import hetero_poisson_guest, hetero_poisson_host

__all__ = [
    "HETERO_POISSON",
    "HeteroPoissonConfig",
    "HeteroPoissonRegression",
    "hetero_poisson_guest",
    "hetero_poisson_host",
]
