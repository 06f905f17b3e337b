"""The ``--max-message-mb`` option of ``rengo vfl coordinator`` and ``rengo vfl party``: the
largest message a party of a deployed vertical run may send, and a party accepts.

The flag wins, then the job file's ``[vfl] max_message_mb`` (a ``--resume`` without the job:
the limit the run recorded), then
:data:`rengo.deploy.VERTICAL_MAX_MESSAGE_BYTES` (256 MiB). The coordinator holds at most this
plus 64 MiB for each party; give the coordinator and every party the same (a job file that
both read does it).
"""

from __future__ import annotations

from typing import Annotated

import typer

MIB = 1024**2

MAX_MESSAGE_HELP = (
    "Largest message a party may send or accept, in MiB (default: the job's "
    "vfl.max_message_mb, else 256); the coordinator holds at most this plus 64 MiB a party. "
    "SecureBoost's encrypted gradients, the largest message, take about 470 bytes a row at "
    "2048-bit keys (14 MB for 30,000 rows). Give the coordinator and every party the same."
)

MaxMessageOption = Annotated[
    float | None, typer.Option("--max-message-mb", min=0.001, max=2048.0, help=MAX_MESSAGE_HELP)
]


def max_message_bytes(flag: float | None, job_value: float | None = None) -> int:
    """The message limit in bytes: the flag's, else the job's, else the default."""
    from rengo.deploy.vertical import VERTICAL_MAX_MESSAGE_BYTES

    chosen = flag if flag is not None else job_value
    if chosen is None:
        return VERTICAL_MAX_MESSAGE_BYTES
    return max(1, int(chosen * MIB))
