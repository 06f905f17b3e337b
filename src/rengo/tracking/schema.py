"""The run store's SQLite schema as an ordered list of migrations, applied once each.

Each migration is a tuple of statements run in one ``BEGIN IMMEDIATE`` transaction together
with the version bump, so two processes opening a new store at once cannot both apply it. To
change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

from rengo.core.errors import ConfigError

_V1: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        name TEXT,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        config TEXT NOT NULL,
        summary TEXT,
        seed INTEGER,
        rengo_version TEXT NOT NULL,
        hostname TEXT NOT NULL
    )
    """,
    "CREATE INDEX runs_by_kind ON runs (kind, seq)",
    """
    CREATE TABLE rounds (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        round INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        num_clients INTEGER NOT NULL,
        num_failures INTEGER NOT NULL,
        logged_at TEXT NOT NULL,
        PRIMARY KEY (run_id, round)
    ) WITHOUT ROWID
    """,
    # Long format: any metric name works without a schema change. NaN is stored as NULL.
    """
    CREATE TABLE round_metrics (
        run_id TEXT NOT NULL,
        round INTEGER NOT NULL,
        key TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, round, key),
        FOREIGN KEY (run_id, round) REFERENCES rounds (run_id, round) ON DELETE CASCADE
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE client_rounds (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        round INTEGER NOT NULL,
        client_id TEXT NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN ('fit', 'evaluate')),
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        num_examples INTEGER NOT NULL,
        bytes_sent INTEGER NOT NULL,
        bytes_received INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        reason TEXT,
        metrics TEXT,
        PRIMARY KEY (run_id, round, client_id, phase)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX client_rounds_by_client ON client_rounds (run_id, client_id)",
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        round INTEGER
    )
    """,
    "CREATE INDEX events_by_run ON events (run_id, seq)",
    """
    CREATE TABLE checkpoints (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        round INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        blob BLOB NOT NULL,
        PRIMARY KEY (run_id, round)
    )
    """,
    # ``amount`` has no declared type on purpose: SQLite then keeps ints as ints and decimal
    # strings as text, byte for byte, instead of coercing "1.50" to the float 1.5.
    """
    CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        created_at TEXT NOT NULL,
        round INTEGER,
        participant TEXT NOT NULL,
        kind TEXT NOT NULL,
        amount NOT NULL,
        currency TEXT NOT NULL,
        reason TEXT
    )
    """,
    "CREATE INDEX ledger_by_run ON ledger (run_id, seq)",
    """
    CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
    BEGIN
        SELECT RAISE(ABORT, 'ledger is append-only: rows cannot be updated');
    END
    """,
    """
    CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
    BEGIN
        SELECT RAISE(ABORT, 'ledger is append-only: rows cannot be deleted');
    END
    """,
    """
    CREATE TABLE contributions (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        round INTEGER,
        participant TEXT NOT NULL,
        method TEXT NOT NULL,
        value REAL
    )
    """,
    "CREATE INDEX contributions_by_run ON contributions (run_id, seq)",
)

# V2: who is connected to a deployed coordinator, one row per (run, party), kept current by
# the coordinator (joins, leaves, heartbeats) so a dashboard in another process can show it.
_V2_PRESENCE: tuple[str, ...] = (
    """
    CREATE TABLE presence (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        party TEXT NOT NULL,
        online INTEGER NOT NULL CHECK (online IN (0, 1)),
        peer TEXT,
        joined_at TEXT,
        last_seen TEXT,
        left_at TEXT,
        reason TEXT,
        joins INTEGER NOT NULL,
        bytes_in INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (run_id, party)
    ) WITHOUT ROWID
    """,
)

# V3: how sure a contribution value is - its standard error and confidence interval (NULL
# where unknown: records written before, or values that carry none).
_V3_CONTRIBUTION_ERRORS: tuple[str, ...] = (
    "ALTER TABLE contributions ADD COLUMN stderr REAL",
    "ALTER TABLE contributions ADD COLUMN ci_low REAL",
    "ALTER TABLE contributions ADD COLUMN ci_high REAL",
    "ALTER TABLE contributions ADD COLUMN confidence REAL",
)


# V4: who owns a run (process id; the host is ``hostname``) and when it last said it was
# alive, so a run whose process was killed reads as interrupted instead of running forever.
_V4_OWNER: tuple[str, ...] = (
    "ALTER TABLE runs ADD COLUMN owner_pid INTEGER",
    "ALTER TABLE runs ADD COLUMN heartbeat_at TEXT",
)

# V5: how long a run lay interrupted before it was resumed, summed over its resumes, so its
# duration counts the time it ran, not the time the coordinator was down.
_V5_PAUSED: tuple[str, ...] = ("ALTER TABLE runs ADD COLUMN paused_s REAL NOT NULL DEFAULT 0",)

# V6: the decimals a ledger line's minor units count in (NULL: lines written before, read
# with the currency's ISO 4217 exponent), so a payment made with --decimals 4 reads back as
# paid, not 100 times larger.
_V6_LEDGER_DECIMALS: tuple[str, ...] = ("ALTER TABLE ledger ADD COLUMN decimals INTEGER",)

# V7: how long a run's body ran, measured by the process that ran it with a monotonic clock
# and summed over its resumes (NULL: runs recorded before), so its duration neither goes
# negative nor jumps when the machine's clock is stepped (NTP, a DST-naive clock, by hand);
# and its last heartbeat on that host's monotonic clock, so a reader on the same host judges
# the heartbeat's age without the wall clock (a step forward made a live run read
# interrupted, and resumable, until its next heartbeat).
_V7_ACTIVE: tuple[str, ...] = (
    "ALTER TABLE runs ADD COLUMN active_s REAL",
    "ALTER TABLE runs ADD COLUMN heartbeat_mono REAL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _V1,
    _V2_PRESENCE,
    _V3_CONTRIBUTION_ERRORS,
    _V4_OWNER,
    _V5_PAUSED,
    _V6_LEDGER_DECIMALS,
    _V7_ACTIVE,
)
"""``MIGRATIONS[i]`` takes a store from schema version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


def _current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema version of the database on ``conn`` without changing it (0 if none)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    return 0 if exists is None else _current_version(conn)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database on ``conn`` (in autocommit mode) up to :data:`SCHEMA_VERSION`.

    Returns the version found before migrating. Raises :class:`ConfigError` for a store
    written by a newer rengo, whose schema this version cannot know. A store already at
    :data:`SCHEMA_VERSION` is only read: opening it takes no write lock, so processes opening
    it at once do not wait for each other, nor for one holding the lock.
    """
    found = stored_version(conn)
    if found == SCHEMA_VERSION:  # versions only go up: nothing to do, now or later
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        found = _current_version(conn)
        if found > SCHEMA_VERSION:
            raise ConfigError(
                f"run store has schema version {found} but this rengo knows only up to "
                f"{SCHEMA_VERSION}; upgrade rengo or point RENGO_STORE at another store"
            )
        for statements in MIGRATIONS[found:]:
            for statement in statements:
                conn.execute(statement)
        if found == 0:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif found < SCHEMA_VERSION:
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
