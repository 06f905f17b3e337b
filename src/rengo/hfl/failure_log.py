"""Client failures, shown once: a client that raises the same error every round is reported
the first time (with where it raised) and counted after that.

A federation keeps going when a client fails: the client is dropped from the round and the
round aggregates the others. If the fault is in the client's code it fails every round, and a
warning per round drowns everything else; the traceback, which says where, is what a person
needs, and they need it once. :class:`ClientFailureLog` logs the first occurrence of each
(client, reason) as a warning and its traceback at debug level (``rengo -v``), hands it to a
recorder once (the run store's events), and logs repeats at debug level only.

At scale many clients fail alike, each naming itself (its own data file, a ``KeyError`` on
its id): :func:`failure_kind` takes the client's id out of a reason or traceback, so such
failures count as one kind in :func:`failures_summary` and a traceback is kept once per kind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping

log = logging.getLogger("rengo.hfl")

FirstFailure = Callable[[int, str, str, "str | None"], None]
"""``(server_round, client_id, reason, traceback)`` of a failure seen for the first time; the
traceback is the text the first time a kind of traceback is seen, after that a line naming
the client whose traceback it repeats."""

CLIENT_PLACEHOLDER = "<client>"
"""What :func:`failure_kind` writes where a failure named its own client."""

_MEASURED = re.compile(r"\d+(?:\.\d+)?")
"""Numbers in a reason: what a failure measured (the straggler rule's seconds), which
:func:`_alike_key` masks."""


SIMULATED_LOSS = "raised rengo.hfl.SimulatedClientLoss: "
"""How the reason of a client :class:`~rengo.hfl.SimulatedDropout` took out of a round
starts: a loss the run asked for, logged at info level (``rengo -v``), not warned about."""


_RAISED = re.compile(r"^(?:[A-Za-z_][\w.]*: )*raised (?P<type>[\w.]+): ")
"""A reason for a client that raised: the stages it passed through (``evaluate: ``, a
workflow's ``secagg.masked_input: ``), then ``raised <its exception's qualified type>: ``,
as every pool writes it."""


def is_simulated_loss(reason: str) -> bool:
    """Whether ``reason`` is a loss :class:`~rengo.hfl.SimulatedDropout` simulated: the
    exception the client raised is of that type, in whatever stage it raised (its fit, its
    evaluation - ``evaluate: raised ...`` - or a workflow's stage, as SecAgg+'s
    ``secagg.masked_input: raised ...``, which was warned about as a real failure)."""
    raised = _RAISED.match(reason)
    return raised is not None and f"raised {raised['type']}: " == SIMULATED_LOSS


def _level(reason: str) -> int:
    """Warning for a failure, info for a loss the simulation asked for (30 rounds of
    ``[dropout]`` gave 55 warning lines, each saying what the job file said it would do)."""
    return logging.INFO if is_simulated_loss(reason) else logging.WARNING


def _alike_key(kind: str) -> str:
    """A failure kind with its numbers masked, which tells one client's repeats: the
    straggler rule's reason names the seconds it waited, so a party cut off every round gave
    a new reason each round - warned about, recorded and remembered each time, for weeks."""
    return _MEASURED.sub("#", kind)


def failure_kind(client_id: str, text: str) -> str:
    """``text`` (a reason or a traceback) with ``client_id``, where it stands as a whole
    word (not inside another name: client ``0`` is not in ``client-0``), replaced by
    :data:`CLIENT_PLACEHOLDER`: the failures of clients that differ only in naming
    themselves are then one kind.

    Parameters
    ----------
    client_id
        The client that failed.
    text
        Its reason or traceback.

    Returns
    -------
    str
        ``text`` without the client's own id (unchanged for an empty id).
    """
    if not client_id:
        return text
    own_id = rf"(?<![A-Za-z0-9_-]){re.escape(client_id)}(?![A-Za-z0-9_-])"
    return re.sub(own_id, CLIENT_PLACEHOLDER, text)


class ClientFailureLog:
    """Reports each distinct client failure of a run once.

    Parameters
    ----------
    on_first
        Called with the first occurrence of each (client, reason) - a client's reasons that
        differ only in their numbers are one (a straggler's reason names the seconds it was
        waited for, each round others) - with the round, the client,
        the one-line reason and the traceback when the client ran in this federation's
        processes (a deployed party keeps its traceback and shows it in its own log); a
        traceback of a kind seen before (:func:`failure_kind`) is a line naming the client
        that showed it instead.
    """

    WARNINGS_PER_ROUND = 10
    """First failures warned about per round; past them one line says more were dropped and
    the rest go to debug level (1,000 clients failing alike gave 1,000 warning lines)."""

    def __init__(self, on_first: FirstFailure | None = None) -> None:
        self._on_first = on_first
        self._seen: dict[tuple[str, str], int] = {}
        self._tracebacks: dict[str, tuple[str, int]] = {}  # kind -> (first client, round)
        self._warned: dict[int, int] = {}  # this round's first failures warned about
        self._kinds: dict[str, str] = {}  # reason kind -> the client that showed it first
        self._alike: dict[int, dict[str, list[str]]] = {}  # round -> kind -> clients since

    def report(
        self, server_round: int, client_id: str, reason: str, traceback: str | None = None
    ) -> None:
        """Log one client's failure in ``server_round``: a warning the first time a kind of
        failure (:func:`failure_kind`) is seen; a client failing as another did before is
        counted for :meth:`end_round`'s line, a client failing again - also with a reason
        that differs only in its numbers (the seconds a straggler was waited for) - at debug
        level only."""
        kind = failure_kind(client_id, reason)
        key = (client_id, _alike_key(kind))
        repeat = self._seen.get(key, 0)
        self._seen[key] = repeat + 1
        if repeat:
            log.debug(
                "round %d: dropped client %s again (%d times): %s",
                server_round,
                client_id,
                repeat + 1,
                reason,
            )
            return
        hint = ""
        level = _level(reason)
        if level == logging.INFO:  # its traceback says only where the mod raised
            traceback = None
        if traceback is not None and not log.isEnabledFor(logging.DEBUG):
            hint = " (its traceback: rengo -v, or the run's events in `rengo runs show`)"
        first = self._kinds.setdefault(kind, client_id)
        warned = self._warned.get(server_round, 0)
        if first != client_id:  # as another client failed before: counted at the round's end
            self._alike.setdefault(server_round, {}).setdefault(kind, []).append(client_id)
            log.debug(
                "round %d: dropped client %s: %s (as client %s)",
                server_round,
                client_id,
                reason,
                first,
            )
        elif level == logging.INFO:
            log.info("round %d: dropped client %s: %s", server_round, client_id, reason)
        elif warned < self.WARNINGS_PER_ROUND:
            self._warned[server_round] = warned + 1
            log.warning("round %d: dropped client %s: %s%s", server_round, client_id, reason, hint)
        else:
            self._warned[server_round] = warned + 1
            if warned == self.WARNINGS_PER_ROUND:
                log.warning(
                    "round %d: more clients dropped; the round's failures list every one "
                    "(each also at debug level)",
                    server_round,
                )
            log.debug("round %d: dropped client %s: %s", server_round, client_id, reason)
        if traceback is not None:
            traceback = self._traceback_once(server_round, client_id, traceback)
        if self._on_first is not None:
            self._on_first(server_round, client_id, reason, traceback)

    def end_round(self, server_round: int) -> None:
        """One warning per kind of failure that more clients showed in ``server_round`` after
        the client that showed it first (1,000 clients, 1 in 7 failing alike: 132 warning
        lines over 30 rounds), with how many and the first few of them. The round's
        bookkeeping ends with it."""
        self._warned.pop(server_round, None)
        for kind, clients in self._alike.pop(server_round, {}).items():
            named = ", ".join(clients[:3]) + (", ..." if len(clients) > 3 else "")
            log.log(
                _level(kind),
                "round %d: %d more client(s) dropped as client %s was (%s): %s",
                server_round,
                len(clients),
                self._kinds[kind],
                named,
                kind,
            )

    def _traceback_once(self, server_round: int, client_id: str, traceback: str) -> str:
        """``traceback`` the first time its kind is seen (logged at debug level), else a line
        naming the client that showed it (1,000 clients failing alike kept 1,000 copies)."""
        kind = failure_kind(client_id, traceback)
        first = self._tracebacks.get(kind)
        if first is None:
            self._tracebacks[kind] = (client_id, server_round)
            log.debug("client %s raised in round %d:\n%s", client_id, server_round, traceback)
            return traceback
        return f"(the same traceback as client {first[0]}'s in round {first[1]})"

    def count(self, client_id: str, reason: str) -> int:
        """How many times ``client_id`` failed with ``reason`` (or alike: but for numbers)."""
        return self._seen.get((client_id, _alike_key(failure_kind(client_id, reason))), 0)


LISTED_ONE_BY_ONE = 10
"""Failures a round's error message lists one by one; more are summarised by kind."""


def failures_summary(failures: Mapping[str, str], most: int = LISTED_ONE_BY_ONE) -> str:
    """A round's failures for its error message: every ``client: reason`` when there are at
    most ``most``, else each kind of reason (:func:`failure_kind`: the same but for the
    client's own id) once with how many clients gave it and the first few of them (1,000
    clients failing alike made a 53 KB message).

    Parameters
    ----------
    failures
        Client id -> the one-line reason it was dropped.
    most
        How many failures are listed one by one.

    Returns
    -------
    str
        The summary (``"none failed"`` for none).
    """
    if not failures:
        return "none failed"
    if len(failures) <= most:
        return "; ".join(f"{c}: {r}" for c, r in failures.items())
    by_kind: dict[str, list[str]] = {}
    for client, reason in failures.items():
        by_kind.setdefault(failure_kind(client, reason), []).append(client)
    ranked = sorted(by_kind.items(), key=lambda item: -len(item[1]))
    parts = []
    for kind, clients in ranked[:most]:
        named = ", ".join(clients[:3]) + (", ..." if len(clients) > 3 else "")
        alike = len({failures[c] for c in clients}) == 1
        parts.append(
            f"{len(clients)} client(s) ({named}): {failures[clients[0]] if alike else kind}"
        )
    if len(ranked) > most:
        rest = sum(len(clients) for _, clients in ranked[most:])
        parts.append(f"{rest} more client(s) with {len(ranked) - most} other reason(s)")
    return f"{len(failures)} failed: " + "; ".join(parts)
