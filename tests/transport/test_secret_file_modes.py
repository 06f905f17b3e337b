"""A private key that other users of the machine can read is named, with the
command that makes it its owner's only: rengo writes them 0600, a copy may not be."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from rengo.transport.certs import init_certificates, party_paths
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def test_a_private_key_others_can_read_is_named_with_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    init_certificates(tmp_path, ["bank"])
    coordinator_key, (_, bank_key) = tmp_path / "coordinator.key", party_paths(tmp_path, "bank")
    with caplog.at_level(logging.WARNING, logger="rengo.transport"):
        HubSecurity.from_directory(tmp_path)
        PartyCredentials.from_directory(tmp_path, "bank")
        assert not caplog.records  # as rengo wrote them: the owner's only
        coordinator_key.chmod(0o644)
        bank_key.chmod(0o640)
        HubSecurity.from_directory(tmp_path)
        PartyCredentials.from_directory(tmp_path, "bank")
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"the coordinator's private key {coordinator_key} can be read by other users of this "
        f"machine (mode 644): make it its owner's only with `chmod 600 {coordinator_key}`",
        f"party bank's private key {bank_key} can be read by other users of this machine "
        f"(mode 640): make it its owner's only with `chmod 600 {bank_key}`",
    ]
