"""What the run-store benchmarks (``store_concurrency.py``, ``wal_growth.py``) write for one
round: ``clients`` successful fit records, each as a coordinator records it."""

from __future__ import annotations

from typing import Any


def fit_records(number: int, clients: int) -> list[Any]:
    """Round ``number``'s fit records of clients ``c0`` .. ``c{clients - 1}``, all ``ok``
    (imported here, in the child, from the sources under measure)."""
    from rengo.tracking.records import ClientRecord

    return [
        ClientRecord(number, f"c{k}", "fit", "ok", 1, 1, 1, 0.0, None, None) for k in range(clients)
    ]
