"""A party's report of the data files it trains on: the SHA-256 of each, by its path.

A deployed party reads its own data, which the coordinator never sees; so that a run can
still say what each party trained on, and a resumed or rejoined run notice a party whose
data changed, a party may report each file's digest when it joins (``$data_files``, sent
after its hello, see :data:`~rengo.transport.grpc_wire.DATA_FILES`). It is the party's
word: a party can report any digest. The payload is JSON, ``{"files": {path: hex}}``, and
is checked field by field (never unpickled); a party that reports nothing joins as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from rengo.core.errors import ProtocolError

__all__ = ["MAX_REPORTED_FILES", "data_report_payload", "parse_data_report"]

MAX_REPORTED_FILES = 64
"""Most files one party's report may name."""
MAX_REPORTED_PATH = 1024
"""Longest path, in characters, a report may name."""
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def data_report_payload(files: Mapping[str, str]) -> bytes:
    """The ``$data_files`` payload reporting ``files`` (``{path: sha256 hex}``).

    Raises
    ------
    ProtocolError
        What :func:`parse_data_report` would refuse (checked here, before it is sent).
    """
    payload = json.dumps({"files": dict(files)}, sort_keys=True).encode()
    parse_data_report("this party", payload)
    return payload


def parse_data_report(party: str, payload: bytes) -> dict[str, str]:
    """The files party ``party`` reports (``{path: sha256 hex}``).

    Raises
    ------
    ProtocolError
        Naming the party and what is wrong: not a JSON object with a ``files`` table, more
        than :data:`MAX_REPORTED_FILES` files, a path that is empty, too long or holds a
        control character, or a digest that is not 64 lowercase hex digits.
    """
    try:
        document: Any = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError(f"party {party}'s data report is not JSON") from None
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict):
        raise ProtocolError(f'party {party}\'s data report must be {{"files": {{path: sha256}}}}')
    if len(files) > MAX_REPORTED_FILES:
        raise ProtocolError(
            f"party {party} reported {len(files)} data files, more than {MAX_REPORTED_FILES}"
        )
    for path, digest in files.items():
        shown = path[:80]
        if not path or len(path) > MAX_REPORTED_PATH or not path.isprintable():
            raise ProtocolError(
                f"party {party} reported a data file path {shown!r} that is empty, over "
                f"{MAX_REPORTED_PATH} characters or not printable"
            )
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise ProtocolError(
                f"party {party} reported {str(digest)[:80]!r} for data file {shown!r}: not a "
                "SHA-256 (64 lowercase hex digits)"
            )
    return dict(files)
