"""Which file system a run store is on, for the one thing SQLite asks of it.

The store is SQLite in WAL mode: its processes share an index of the write-ahead log in
memory (the ``-shm`` file, mapped), which only processes on the same machine can share. On a
network file system (NFS, SMB, Lustre, GPFS ...) processes on one machine are safe, but
processes on two machines opening the same store (a Slurm array spread over nodes, a
dashboard on a login node) each see their own index, and SQLite's documentation says the
database can then be corrupted. :func:`network_file_system` names such a file system from
Linux's mount table, so the store can say so before it is used that way.
"""

from __future__ import annotations

from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
"""Linux's mount table of this process (absent elsewhere: nothing is detected)."""
NETWORK_FILE_SYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.gcsfuse",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.juicefs",
        "davfs",
    }
)
"""File system types whose files other machines may open too."""


def _unescaped(field: str) -> str:
    r"""A mount point as the kernel writes it (``\040`` for a space, ``\011`` a tab ...)."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def _mounts(table: str) -> list[tuple[str, str]]:
    """``(mount point, file system type)`` of each line of a ``mountinfo`` table."""
    mounts = []
    for line in table.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        if after:
            mounts.append((_unescaped(fields[4]), after[0]))
    return mounts


def network_file_system(path: Path, table: str | None = None) -> str | None:
    """The type of the network file system ``path`` is on, or None (a local one, or no
    mount table to read).

    Parameters
    ----------
    path
        A file or folder (it may not exist yet).
    table
        A ``mountinfo`` table; None: :data:`MOUNTINFO`'s.

    Returns
    -------
    str | None
        The type (``"nfs4"``, ``"lustre"`` ...) when it is in :data:`NETWORK_FILE_SYSTEMS`.
    """
    if table is None:
        try:
            table = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    where = Path(path).resolve()  # symbolic links followed as far as the path exists
    best, kind = -1, ""
    for point, fs_type in _mounts(table):
        mount = Path(point)
        if (where == mount or mount in where.parents) and len(mount.parts) >= best:
            best, kind = len(mount.parts), fs_type  # the last of equal mounts is on top
    return kind if kind in NETWORK_FILE_SYSTEMS else None
