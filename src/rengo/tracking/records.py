"""Plain records the run store hands back: one dataclass per kind of row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# defined below the round loop (hfl) that writes it; read from here as before
from rengo.core.client_record import ClientRecord as ClientRecord


def _duration(seconds: float) -> str:
    """``"0.5"``, ``"754.2 (12:34)"``, ``"10817.0 (3:00:17)"``: the seconds in plain digits
    (never ``1.08e+04``), and in minutes and hours from a minute on."""
    text = f"{seconds:.1f}"
    if seconds >= 60:
        whole = round(seconds)
        hours, rest = divmod(whole, 3600)
        clock = (
            f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
            if hours
            else f"{rest // 60}:{rest % 60:02d}"
        )
        text += f" ({clock})"
    return text


@dataclass(frozen=True)
class RunInfo:
    """One recorded run: what it was, how it was configured, how it ended."""

    run_id: str
    kind: str
    name: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    config: dict[str, Any]
    summary: dict[str, Any] | None
    seed: int | None
    rengo_version: str = ""
    hostname: str = ""
    owner_pid: int | None = None
    heartbeat_at: datetime | None = None
    owner_gone: bool = False
    """True when the store says ``running`` but the run's process is gone: ``status`` then
    reads ``interrupted`` (see :mod:`rengo.tracking.liveness`)."""
    paused_s: float = 0.0
    """Seconds the run lay interrupted between a stop and its resume, over all its resumes."""
    active_s: float | None = None
    """Seconds the run's body ran, by the monotonic clock of the process that ran it, over
    all its resumes (to its last heartbeat while it runs); None for runs recorded before
    rengo kept it."""

    @property
    def label(self) -> str:
        """Name for legends and titles: the run name when set, else the id."""
        return self.name or self.run_id

    @property
    def duration_s(self) -> float | None:
        """How long the run ran, or None while it has not finished: :attr:`active_s`, which a
        step of the clock (NTP, a clock set by hand) cannot change; for a run recorded
        without it, the time from start to finish less the time it lay interrupted before a
        resume (:attr:`paused_s`), never below zero."""
        if self.finished_at is None:
            return None
        if self.active_s is not None:
            return self.active_s
        wall = (self.finished_at - self.started_at).total_seconds() - self.paused_s
        return max(0.0, wall)

    def __repr__(self) -> str:
        """One line a notebook can show for each run of ``store.list_runs()``: who the run
        is and how it ended, and how many config and summary entries it holds; not their
        values (``config`` and ``summary`` hold them, ``rengo.tracking.run_detail`` shows
        them). The default repr printed both whole: 4,505 characters for one 2-round run
        of a job file (its input scaling alone is 128 numbers)."""
        took = self.duration_s
        parts = [
            f"run_id={self.run_id!r}",
            f"kind={self.kind!r}",
            f"name={self.name!r}",
            f"status={self.status!r}",
            f"started_at='{self.started_at.isoformat(sep=' ', timespec='seconds')}'",
            "not finished" if took is None else f"duration_s={_duration(took)}",
            f"seed={self.seed!r}",
            f"config={len(self.config)} key{'' if len(self.config) == 1 else 's'}",
            "no summary"
            if self.summary is None
            else f"summary={len(self.summary)} key{'' if len(self.summary) == 1 else 's'}",
        ]
        return f"RunInfo({', '.join(parts)})"

    def identity(self) -> dict[str, Any]:
        """Who the run is and how its life went, JSON-ready (times as ISO 8601 text):
        the header every export and view of a run starts from."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "duration_s": self.duration_s,
            "seed": self.seed,
            "hostname": self.hostname,
            "rengo_version": self.rengo_version,
        }


@dataclass(frozen=True)
class RoundRecord:
    """One completed round: timing, participation and every metric logged for it."""

    round: int
    duration_s: float
    num_clients: int
    num_failures: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientStats:
    """One client's totals over a run, for spotting stragglers, droppers and heavy talkers;
    ``failures`` is the number of rounds in which it failed (training, evaluation or both),
    ``last_note`` the latest note on a result that was kept (e.g. its example count
    capped by the coordinator's result checks). ``rounds_participated`` counts every round
    with a record of it (a failed one, one the run skipped, one it only evaluated in);
    ``rounds_aggregated`` only the rounds in which its training update was aggregated (it
    trained, and the run recorded the round and did not skip it: a round that failed, or
    was cut off before it was recorded, aggregated nothing)."""

    client_id: str
    rounds_participated: int
    failures: int
    fit_ok: int
    evaluate_ok: int
    num_examples: int
    bytes_sent: int
    bytes_received: int
    duration_s: float
    last_failure: str | None
    last_note: str | None = None
    rounds_aggregated: int = 0


@dataclass(frozen=True)
class EventRecord:
    """A notice logged during a run (a client joined, left or was dropped...)."""

    seq: int
    created_at: datetime
    level: str
    message: str
    round: int | None


PAYMENT_KINDS = frozenset({"reward", "payout", "burn"})
"""Ledger kinds that pay for a run's contributions: "reward" and "burn" (``rengo rewards
pay``), "payout" and "burn" (a tournament round). A run or round with a line of one of these
kinds is paid, whichever command paid it, so no second command pays it again."""


@dataclass(frozen=True)
class LedgerLine:
    """One ledger line to append with :meth:`~rengo.tracking.RunStore.append_ledger_lines`:
    what :class:`LedgerEntry` reads back, less the sequence number and time the store gives.

    ``round`` None is the whole run; ``amount`` is an int (minor units) or a decimal string;
    ``decimals`` is how many decimals the minor units count in (None: the currency's).
    """

    round: int | None
    participant: str
    kind: str
    amount: int | str
    reason: str | None = None
    currency: str = "credits"
    decimals: int | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """One append-only ledger line; ``amount`` is an int (minor units) or a decimal string;
    ``decimals`` is how many decimals the minor units count in, as recorded with the line
    (None for lines written before rengo recorded it: the currency's)."""

    seq: int
    created_at: datetime
    round: int | None
    participant: str
    kind: str
    amount: int | str
    currency: str
    reason: str | None
    decimals: int | None = None


@dataclass(frozen=True)
class ContributionRecord:
    """A participant's contribution score by one method, for a round or (round None) a run,
    with its standard error and confidence interval (``ci_low``..``ci_high`` at level
    ``confidence``) where known: None for records without them."""

    seq: int
    created_at: datetime
    round: int | None
    participant: str
    method: str
    value: float
    stderr: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class PartyPresence:
    """A party's connection to a deployed coordinator, as its hub last saw it.

    ``online`` is the hub's view when it last reported (``updated_at``); a dashboard should
    treat an ``online`` row whose ``updated_at`` is old as unknown (the coordinator may be
    gone). ``joins`` counts (re)connections; bytes are this connection's traffic so far.
    """

    party: str
    online: bool
    peer: str | None
    joined_at: datetime | None
    last_seen: datetime | None
    left_at: datetime | None
    reason: str | None
    joins: int
    bytes_in: int
    bytes_out: int
    updated_at: datetime | None = None
