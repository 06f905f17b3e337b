"""A run store on a network file system says, once, that SQLite's WAL needs every process
that writes it on one machine (NFS home folders shared by a cluster's nodes)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rengo.tracking import RunStore, file_system
from rengo.tracking.file_system import network_file_system

TABLE = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:50 / /home rw,relatime shared:20 - nfs4 filer:/home rw,vers=4.2
31 30 8:2 / /home/me/scratch rw,relatime shared:21 - xfs /dev/sdb1 rw
32 22 0:51 / /mnt/team\\040share rw,relatime shared:22 - cifs //filer/team rw
33 22 0:52 / /lustre rw,relatime shared:23 - lustre 10.0.0.1@tcp:/fs rw
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/home/me/rengo-runs/runs.db", "nfs4"),
        ("/home", "nfs4"),
        ("/home/me/scratch/runs.db", None),  # a local disk mounted inside the NFS one
        ("/homework/runs.db", None),  # a name that only starts like the mount point
        ("/mnt/team share/runs.db", "cifs"),
        ("/lustre/project/runs.db", "lustre"),
        ("/tmp/runs.db", None),
    ],
)
def test_network_file_systems_are_named_from_the_mount_table(path: str, kind: str | None) -> None:
    assert network_file_system(Path(path), TABLE) == kind


def test_no_mount_table_detects_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_system, "MOUNTINFO", tmp_path / "absent")
    assert network_file_system(tmp_path / "runs.db") is None


def test_a_store_on_nfs_warns_once_that_one_machine_must_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shared, local = tmp_path / "shared", tmp_path / "local"
    shared.mkdir()
    local.mkdir()
    table = tmp_path / "mountinfo"
    table.write_text(
        f"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n40 22 0:60 / {shared} rw - nfs4 filer:/x rw\n"
    )
    monkeypatch.setattr(file_system, "MOUNTINFO", table)
    with caplog.at_level(logging.WARNING, logger="rengo.tracking"):
        RunStore(shared / "runs.db").close()
        RunStore(shared / "runs.db").close()  # said once per store and process
        RunStore(local / "runs.db").close()
    warned = [r.getMessage() for r in caplog.records if "network file system" in r.getMessage()]
    assert len(warned) == 1, warned
    assert str(shared / "runs.db") in warned[0] and "(nfs4)" in warned[0]
    assert "one machine" in warned[0] and "store of their own" in warned[0]
