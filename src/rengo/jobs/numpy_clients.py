"""The client factory of a job's numpy model (``model.type = "logistic"`` or ``"linear"``)."""

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
        :class:`~rengo.hfl.LogisticRegressionClient` or
        :class:`~rengo.hfl.LinearRegressionClient`.
    **options
        The class's own keyword fields (``target_scaling``, ``class_weight``); a class
        with a ``name`` field gets ``"client <cid>"``.

    Returns
    -------
    ClientFn
        The factory every executor and ``rengo party`` calls.
    """
    lr, epochs, batch = spec.train.lr, spec.train.local_epochs, spec.train.batch_size
    named = "name" in {f.name for f in fields(client_class)}  # errors name the client

    def client_fn(cid: str) -> Client:
        data = fed.client(cid)
        own = fed.client_tests.get(cid) if fed.client_tests else None
        naming: dict[str, Any] = {"name": f"client {cid}"} if named else {}
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
