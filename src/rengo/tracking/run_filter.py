"""Which runs a list shows: by kind, status, name or id text, start day and study.

One definition for ``rengo runs list`` and the dashboard's runs list, so the two agree on
what a filter means. Status is matched as read (a run whose process is gone reads
``interrupted``, whatever the row says), so it is applied to :class:`RunInfo` records, not
in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rengo.core.errors import ConfigError
from rengo.tracking.records import RunInfo
from rengo.tracking.store import FINISHED_STATUSES, RUNNING
from rengo.tracking.study_tag import study_of

STATUSES = tuple(sorted({RUNNING, *FINISHED_STATUSES}))
"""Every status a run can be read with."""


def _day(text: str | None, what: str) -> date | None:
    """A calendar day given as ``YYYY-MM-DD`` (None or blank: no bound).

    Parameters
    ----------
    text
        The day as typed.
    what
        The option or field it came from, named in the error.

    Returns
    -------
    date or None
        The day, or None for no text.

    Raises
    ------
    ConfigError
        If ``text`` is not such a day.
    """
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{what} must be a date like 2026-11-30, got {text!r}") from None


def _zone(name: str | None) -> tzinfo | None:
    """The time zone named ``name`` (IANA, e.g. ``Europe/Berlin``; None or blank: this
    machine's). Raises ConfigError for a name the time zone database does not know."""
    if name is None or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"tz must be a time zone name like Europe/Berlin or UTC, got {name!r}"
        ) from None


@dataclass(frozen=True)
class RunFilter:
    """What a run must have to be listed; an empty field does not filter.

    Attributes
    ----------
    kind
        The run's kind, exactly (``hfl``, ``vfl`` ...).
    status
        The status as read (``running``, ``completed``, ``failed``, ``interrupted``).
    text
        Text found, ignoring case, in the run's name or id.
    since, until
        First and last calendar day the run may have started on (inclusive), in ``zone``.
    zone
        The time zone those days are in; None: this machine's (a dashboard's viewer sends
        their browser's, so a day reads as the start times the page shows).
    study
        The study (``rengo sweep --study``) the run is a cell of, exactly.
    """

    kind: str | None = None
    status: str | None = None
    text: str | None = None
    since: date | None = None
    until: date | None = None
    zone: tzinfo | None = None
    study: str | None = None

    @classmethod
    def from_text(
        cls,
        kind: str | None = None,
        status: str | None = None,
        text: str | None = None,
        since: str | None = None,
        until: str | None = None,
        *,
        option_names: tuple[str, str, str] = ("status", "since", "until"),
        zone: str | None = None,
        study: str | None = None,
    ) -> RunFilter:
        """The filter as typed on a command line or in a query string.

        Parameters
        ----------
        kind, status, text
            As the attributes; blank means no filter.
        since, until
            Days as ``YYYY-MM-DD`` (blank: no bound).
        option_names
            What ``status``, ``since`` and ``until`` are called where they were typed
            (``--since`` on a command line), for the errors.
        zone
            The IANA time zone ``since`` and ``until`` are days in (blank: this machine's).
        study
            As the attribute; blank means no filter.

        Returns
        -------
        RunFilter
            The filter.

        Raises
        ------
        ConfigError
            If ``status`` is none of :data:`STATUSES`, ``since`` or ``until`` is not a day,
            or ``zone`` is not a time zone's name.
        """
        status_name, since_name, until_name = option_names
        if status and status not in STATUSES:
            raise ConfigError(f"{status_name} {status!r}: choose one of {', '.join(STATUSES)}")
        first, last = _day(since, since_name), _day(until, until_name)
        zone_info = _zone(zone)
        return cls(
            kind or None, status or None, text or None, first, last, zone_info, study or None
        )

    def matches(self, run: RunInfo) -> bool:
        """Whether ``run`` passes every field of this filter."""
        if self.kind and run.kind != self.kind:
            return False
        if self.status and run.status != self.status:
            return False
        if self.study and study_of(run) != self.study:
            return False
        needle = (self.text or "").strip().lower()
        if needle and needle not in run.run_id.lower() and needle not in (run.name or "").lower():
            return False
        started = run.started_at.astimezone(self.zone).date()
        if self.since and started < self.since:
            return False
        return not (self.until and started > self.until)
