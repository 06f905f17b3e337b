"""A running deployed run's parties, changed between rounds at the operator's request.

The operator records a request in the run store (``rengo runs parties RUN --admit NAME`` or
``--remove NAME``: :meth:`rengo.tracking.RunStore.request_party_change`); before each round
the coordinator applies the requests it finds, oldest first. A request the run cannot serve
is dropped with a warning event naming why; nothing else changes:

- a party to admit with no certificate in the federation folder (a misspelt name) or whose
  latest certificate there is revoked (it could never join), or, on tokens, one without a
  token in the tokens file, which the coordinator reads again before applying requests (so
  the operator adds the new party's line first, with no restart);
- on tokens, a list with a party the tokens file read again holds no line for (a line taken
  out, or a half-saved file): a token stops counting only when its party is removed, in the
  same request or before;
- a list shorter than the quorum (``--quorum``) or than the strategy's
  ``min_available_clients`` / ``min_fit_clients`` (rounds could not start);
- under central DP, a list of ``n`` parties with ``delta >= 1/n`` (the round would refuse it);
- a list whose rounds the run's fit workflow or a round observer would refuse: the checks
  the start runs (:func:`rengo.hfl.round_clients_fit.check_round_clients_fit`: SecAgg+ needs
  at least 3 clients a round, contribution method "mr" values at most 12).

The others become the run's parties from the next round on, recorded as a resume records a
change (:meth:`rengo.tracking.RunStore.change_parties`: ``parties``, ``party_changes`` and
the event), and the hub's allow-list becomes them: a removed party is dropped, told why, and
refused from then on; an admitted one may join.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from rengo.core.errors import ConfigError
from rengo.core.files import owner_only_note, readable_by_others
from rengo.hfl.round_clients_fit import check_round_clients_fit
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.dp import DifferentialPrivacy
from rengo.privacy.config import check_delta
from rengo.tracking.party_requests import (
    PartyRequest,
    recorded_party_requests,
    requested_parties,
    unreadable_party_requests,
)
from rengo.tracking.store import RunStore
from rengo.transport.certs import party_paths
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_security import HubSecurity
from rengo.transport.revocation import revoked_reason
from rengo.transport.tokens import MAKE_A_TOKEN

log = logging.getLogger("rengo.deploy")


def has_certificate(certificates: Path, name: str) -> bool:
    """Whether the federation folder ``certificates`` holds a certificate for party ``name``
    (``rengo certs add`` and ``rengo certs sign`` write each there)."""
    return party_paths(certificates, name)[0].is_file()


def check_parties_fit(
    strategy: Strategy,
    parties: Sequence[str],
    quorum: int | None,
    workflow: object | None = None,
    observers: Sequence[object] = (),
) -> None:
    """Refuse a list of parties a running deployed run could not go on with.

    Parameters
    ----------
    strategy
        The run's strategy.
    parties
        The parties it would have.
    quorum
        The run's ``min_parties`` (None: all of its parties).
    workflow
        The run's fit workflow (None: none).
    observers
        The run's round observers.

    Raises
    ------
    ConfigError
        If the list is shorter than ``quorum`` or than the strategy's
        ``min_available_clients`` or ``min_fit_clients``, or, under central DP, its size
        ``n`` makes ``delta >= 1/n``, or the workflow or an observer refuses rounds of the
        clients it gives (the start's check,
        :func:`rengo.hfl.round_clients_fit.check_round_clients_fit`).
    """
    count = len(parties)
    if quorum is not None and count < quorum:
        raise ConfigError(f"it leaves {count} parties, fewer than the run's quorum of {quorum}")
    for name in ("min_available_clients", "min_fit_clients"):
        needed = int(getattr(strategy, name))
        if count < needed:
            raise ConfigError(
                f"it leaves {count} parties, fewer than {strategy.name}'s {name}={needed}"
            )
    if isinstance(strategy, DifferentialPrivacy):
        check_delta(strategy.dp, count)
    check_round_clients_fit(strategy, workflow, observers, count)


class LiveParties:
    """Applies a running deployed run's pending party requests before each round.

    Parameters
    ----------
    store, run_id
        Where the run is recorded.
    hub
        The run's hub, whose allow-list follows the run's parties.
    strategy
        The run's strategy (what the parties must still fit, see :func:`check_parties_fit`).
    quorum
        The run's ``min_parties`` (None: all of its parties).
    parties
        The run's parties now.
    record_event
        Receives ``(level, message)`` for each change and each request dropped.
    workflow
        The run's fit workflow (None: none), which the parties must still fit.
    observers
        The run's round observers, which the parties must still fit.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        hub: GrpcHub,
        strategy: Strategy,
        quorum: int | None,
        parties: Sequence[str],
        record_event: Callable[[str, str], None],
        workflow: object | None = None,
        observers: Sequence[object] = (),
    ) -> None:
        self._store = store
        self._workflow = workflow
        self._observers = tuple(observers)
        self._run_id = run_id
        self._hub = hub
        self._strategy = strategy
        self._quorum = quorum
        self._record_event = record_event
        self.parties: list[str] = sorted(parties)
        """The run's parties now."""
        self._unreadable_told: set[str] = set()  # unreadable request entries warned of
        self.admitted: set[str] = set()
        """Parties admitted while this coordinator ran (not awaited until they first join)."""

    def apply(self, after_round: int) -> None:
        """Apply the run's pending requests, oldest first, after round ``after_round``: the
        ones it can serve become its parties from the next round on (recorded, and the hub's
        allow-list), the others are dropped with a warning event naming why."""
        config = self._store.get_run(self._run_id).config
        self._warn_unreadable(unreadable_party_requests(config))
        requests = recorded_party_requests(config)
        if not requests:
            return
        security, unread = self._security_now()
        parties = list(self.parties)
        for request in requests:
            proposed = requested_parties(parties, [request])
            why = self._refusal(request, proposed, security, unread)
            if why is None:
                parties = proposed
                continue
            text = (
                f"the operator's request to {request.describe()} (made {request.at}) was not "
                f"applied: {why}"
            )
            log.warning("%s", text)
            self._record_event("warning", text)
        change = self._store.change_parties(self._run_id, parties, after_round, settled=requests)
        if change is None:
            return
        self._hub.change_parties(
            change.parties,
            f"removed from run {self._run_id} by the federation's operator after round "
            f"{after_round}",
            tokens=security.tokens,
        )
        self.parties = list(change.parties)
        self.admitted |= set(change.admitted)
        self.admitted -= set(change.removed)
        log.info("%s", change.describe())
        self._record_event("info", change.describe())

    def _warn_unreadable(self, entries: Sequence[str]) -> None:
        """Name, once each, the pending request entries this release cannot read (left in
        place, never applied: another release's, or a hand edit)."""
        for entry in entries:
            if entry in self._unreadable_told:
                continue
            self._unreadable_told.add(entry)
            text = (
                f"run {self._run_id}'s pending party requests hold an entry this release "
                f"cannot read, left in place and not applied: {entry[:300]} (ask again with "
                "`rengo runs parties RUN --admit/--remove`)"
            )
            log.warning("%s", text)
            self._record_event("warning", text)

    def _security_now(self) -> tuple[HubSecurity, str | None]:
        """The hub's security with its tokens file read again (on tokens; checked on its own,
        not against the parties, which each request's check does), and None; if that file
        cannot be read now, the tokens in force and why, with a warning event naming it. A
        file others may read gets the warning it gets at start."""
        try:
            security = self._hub.security.with_tokens_reread()
        except ConfigError as exc:
            text = f"the tokens file was not read again ({exc}): the tokens read before stay"
            log.warning("%s", text)
            self._record_event("warning", text)
            return self._hub.security, str(exc)
        path = security.tokens_file
        if path is not None and readable_by_others(path):
            text = owner_only_note("the tokens file", path)
            log.warning("%s", text)
            self._record_event("warning", text)
        return security, None

    def _refusal(
        self,
        request: PartyRequest,
        proposed: Sequence[str],
        security: HubSecurity,
        unread: str | None,
    ) -> str | None:
        """Why ``request`` (making the parties ``proposed``) cannot be applied under
        ``security`` (on tokens, its file read again, or the tokens in force when it could
        not be read: ``unread`` says why), or None."""
        revoked = security.revoked_parties(request.admitted)
        gone = self._hub.revoked_parties()
        for name in request.admitted:
            if security.certificates is not None and not has_certificate(
                security.certificates, name
            ):
                return (
                    f"party {name} holds no certificate of the federation in "
                    f"{security.certificates / 'parties'} (a misspelt name?): issue it one "
                    f"(`rengo certs add {security.certificates} {name}`), then ask again"
                )
            if name in revoked:
                return (
                    f"{revoked_reason(name, revoked[name])}, so it could never join (`rengo "
                    f"certs add DIR {name}` issues it a new one)"
                )
            if name in gone:
                return f"party {name}'s certificate was revoked (`rengo certs add DIR {name}`)"
            if security.tokens is not None and name not in security.tokens:
                if unread is not None:
                    return (
                        f"the tokens file could not be read again ({unread}), so party "
                        f"{name}'s line was not read: mend the file, then ask again"
                    )
                return (
                    f"the tokens file{_where(security)} holds no token for party {name}: add "
                    f'its line ({name} = "TOKEN"), then ask again; {MAKE_A_TOKEN}'
                )
        tokens = security.tokens
        tokenless = [] if tokens is None else sorted(set(proposed) - set(tokens))
        if tokenless:
            removal = "rengo runs parties RUN " + " ".join(f"--remove {n}" for n in tokenless)
            return (
                f"the tokens file{_where(security)} holds no token for "
                f"{', '.join(tokenless)}, still among the run's parties after this request (a "
                "line taken out, or a half-saved file): a token taken out of the file stops "
                "counting only when its party is taken out of the run too, so put the line "
                f"back, or ask again with `{removal}` added to this request (a removal asked "
                "after this request comes too late for it)"
            )
        try:
            dataclasses.replace(security, parties=frozenset(proposed))  # its own rules (tokens)
            check_parties_fit(
                self._strategy, proposed, self._quorum, self._workflow, self._observers
            )
        except ConfigError as exc:
            return str(exc)
        return None


def _where(security: HubSecurity) -> str:
    """`` PATH`` of the tokens file ``security`` was read from, or nothing."""
    return "" if security.tokens_file is None else f" {security.tokens_file}"
