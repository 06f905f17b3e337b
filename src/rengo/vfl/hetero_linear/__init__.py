"""Coordinated hetero linear regression (squared loss): hetero LR's protocol with the exact
residual ``d = u - y`` (the coordinator holds the Paillier key and decrypts only masked
values), its settings, estimator and description for the vertical runner (registered as
``"hetero_linear"``)."""

from rengo.vfl.hetero_linear.algorithm import HETERO_LINEAR
from rengo.vfl.hetero_linear.config import HeteroLinearConfig
from rengo.vfl.hetero_linear.estimator import HeteroLinearRegression

__all__ = ["HETERO_LINEAR", "HeteroLinearConfig", "HeteroLinearRegression"]
