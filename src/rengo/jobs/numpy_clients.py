"""The client factory of a job's numpy model (``model.type = "logistic"``, ``"linear"`` or
``"poisson"``)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from rengo.data import FederatedDataset
from rengo.hfl import Client, ClientFn
from rengo.hfl.numpy_client import MinibatchSgdClient
from rengo.jobs.spec import JobSpec


def numpy_client_fn(
    spec: JobSpec, fed: FederatedDataset, client_class: type[MinibatchSgdClient], **options: Any
) -> ClientFn:
    """``cid -> client_class`` on the client's rows (and its own test rows, if any), with the
    job's ``[train]`` lr, local epochs and batch size and ``options`` besides.

    Parameters
    ----------
    spec
        The job.
    fed
        Its federation.
    client_class
        :class:`~rengo.hfl.LogisticRegressionClient`,
        :class:`~rengo.hfl.LinearRegressionClient` or
        :class:`~rengo.hfl.PoissonRegressionClient`.
    **options
        The class's own keyword fields (``target_scaling``, ``class_weight``); a class
        with a ``name`` field gets ``"client <cid>"``, one with ``exposure`` and
        ``exposure_test`` fields the client's rows' exposure (``Dataset.exposure``).

    Returns
    -------
    ClientFn
        The factory every executor and ``rengo party`` calls.
    """
    lr, epochs, batch = spec.train.lr, spec.train.local_epochs, spec.train.batch_size
    own_fields = {f.name for f in fields(client_class)}
    named = "name" in own_fields  # errors name the client
    exposed = "exposure" in own_fields  # a count model's exposure stays with its rows

    def client_fn(cid: str) -> Client:
        data = fed.client(cid)
        own = fed.client_tests.get(cid) if fed.client_tests else None
        naming: dict[str, Any] = {"name": f"client {cid}"} if named else {}
        if exposed:
            naming["exposure"] = data.exposure
            naming["exposure_test"] = None if own is None else own.exposure
        return client_class(
            data.X.astype(np.float64),
            data.labels(),
            None if own is None else own.X.astype(np.float64),
            None if own is None else own.labels(),
            lr=lr,
            local_epochs=epochs,
            batch_size=batch,
            **options,
            **naming,
        )

    return client_fn
