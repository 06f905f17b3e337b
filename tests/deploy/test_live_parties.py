"""A running deployed run changes parties without a restart, and a party revoked while all
was down is not waited for: the operator's request (``rengo runs parties RUN --admit NAME
--remove NAME``) is applied before the next round and recorded as a resume records one, a
request the run cannot serve is dropped naming why, and the revocation list is read at start
and whenever it changes."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from child_env import child_env
from child_processes import Processes

from rengo.core.errors import AuthenticationError, ConfigError
from rengo.core.parameters import Parameters
from rengo.deploy.coordinator import _RoundTraffic, serve_coordinator
from rengo.deploy.live_parties import LiveParties
from rengo.hfl import FedAvg, SecAggPlus
from rengo.hfl.coordinator import RoundShortOfClients
from rengo.hfl.strategy.dp import DifferentialPrivacy
from rengo.tracking import (
    RunStore,
    recorded_party_changes,
    recorded_party_requests,
    recorded_revocations,
)
from rengo.tracking.membership_table import membership_rows
from rengo.transport.certs import init_certificates, revoke_party
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_security import HubSecurity
from rengo.transport.revocation import revoked_reason
from rengo.transport.tokens import read_tokens_file
from rengo.valuation import ContributionTracker
from tests.transport.test_hub_party_removal import read_to_the_end
from tests.transport.test_token_authentication import CallMetadata


class FakeHub:
    """What the round hooks and :class:`LiveParties` ask of the hub."""

    exchange_context = ""

    def __init__(self, security: HubSecurity, joined: Collection[str] = ()) -> None:
        self.security = security
        self.joined = set(joined)
        self.changes: list[tuple[list[str], str]] = []
        self.awaited: list[list[str]] = []

    def revoked_parties(self) -> frozenset[str]:
        return frozenset()

    def change_parties(
        self, parties: Collection[str], reason: str, tokens: Mapping[str, str] | None = None
    ) -> list[str]:
        self.changes.append((sorted(parties), reason))
        self.security = dataclasses.replace(
            self.security,
            parties=frozenset(parties),
            tokens=self.security.tokens if tokens is None else tokens,
        )
        return []

    def client_ids(self) -> list[str]:
        return sorted(self.joined)

    def never_joined(self, names: Collection[str]) -> list[str]:
        return [n for n in names if n not in self.joined]

    def wait_for_parties(
        self, names: Collection[str] | None, count: int | None, timeout: float | None
    ) -> bool:
        self.awaited.append(sorted(names or ()))
        return True

    def traffic(self) -> tuple[int, int]:
        return 0, 0


def live(
    tmp_path: Path,
    strategy: FedAvg | DifferentialPrivacy,
    quorum: int | None,
    hub: FakeHub,
    workflow: object | None = None,
    observers: Sequence[object] = (),
) -> tuple[RunStore, str, LiveParties, list[tuple[str, str]]]:
    store = RunStore(tmp_path / "runs.db")
    parties = ["p0", "p1", "p2", "p3"]
    run_id = store.start_run("hfl-deployed", {"parties": parties}, name="hospitals")
    events: list[tuple[str, str]] = []
    members = LiveParties(
        store,
        run_id,
        hub,  # type: ignore[arg-type]
        strategy,
        quorum,
        parties,
        lambda level, text: events.append((level, text)),
        workflow,
        observers,
    )
    return store, run_id, members, events


def test_an_admitted_party_is_allowed_from_the_next_round_and_not_awaited_until_it_joins(
    tmp_path: Path,
) -> None:
    hub = FakeHub(HubSecurity(insecure=True, parties=frozenset({"p0", "p1", "p2", "p3"})))
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    hooks = _RoundTraffic(
        hub,  # type: ignore[arg-type]
        rounds=9,
        record_event=lambda level, text: None,
        expected=members.parties,
        rejoin_wait=60.0,
        first_round=1,
        progress=None,
        live_parties=members,
    )
    hooks.before_round(2)  # nothing asked: nothing changes
    store.request_party_change(run_id, admit=["p4"], remove=["p3"])
    hooks.before_round(3)
    assert hub.changes == [
        (["p0", "p1", "p2", "p4"], f"removed from run {run_id} by the federation's operator "
         "after round 2"),
    ]  # fmt: skip
    assert hooks.expected == ["p0", "p1", "p2", "p4"]
    assert hub.awaited == [["p0", "p1", "p2", "p3"], ["p0", "p1", "p2"]]  # p4 not yet joined
    hub.joined.add("p4")
    hooks.before_round(4)
    assert hub.awaited[-1] == ["p0", "p1", "p2", "p4"]  # once it joined, as every party
    config = store.get_run(run_id).config
    (change,) = recorded_party_changes(config)
    assert (change.after_round, change.admitted, change.removed) == (2, ("p4",), ("p3",))
    assert recorded_party_requests(config) == [] and config["parties"] == list(change.parties)
    assert events == [("info", change.describe())]
    store.close()


def test_a_round_short_of_an_admitted_party_waits_for_it_as_not_joined_yet(
    tmp_path: Path,
) -> None:
    """A round that cannot start because a party admitted mid-run has not joined yet says so
    and waits for it to join: it never joined, so it did not lose its link (before, the run
    waited for it and, when it did not come, was recorded interrupted naming it among the
    parties that lost their link)."""
    hub = FakeHub(
        HubSecurity(insecure=True, parties=frozenset({"p0", "p1", "p2", "p3"})),
        joined={"p0", "p1", "p2", "p3"},
    )
    strategy = FedAvg(min_fit_clients=4, min_available_clients=4)
    store, run_id, members, _ = live(tmp_path, strategy, None, hub)
    said: list[tuple[str, str]] = []
    hooks = _RoundTraffic(
        hub,  # type: ignore[arg-type]
        rounds=9,
        record_event=lambda level, text: said.append((level, text)),
        expected=members.parties,
        rejoin_wait=60.0,
        first_round=1,
        progress=None,
        live_parties=members,
    )
    store.request_party_change(run_id, admit=["p4"], remove=["p3"])
    hub.joined.discard("p3")  # removed: dropped by the hub
    hooks.before_round(3)
    assert hooks.expected == ["p0", "p1", "p2", "p4"]
    short = RoundShortOfClients("round 3: 3 clients available, 4 needed", {})
    assert hooks.retry_round(3, short)  # p4 joins within the wait (the fake hub says so)
    assert said == [
        ("warning", "round 3 fell short: p4, admitted mid-run, not joined yet; waiting up to "
         "60s for them to join, then running the round again"),
        ("info", "round 3 runs again: p4 joined"),
    ]  # fmt: skip
    assert hub.awaited[-1] == ["p4"]
    assert hooks.missing(short) == ([], ["p4"])
    hub.joined.discard("p1")  # a party that had joined lost its link too
    assert hooks.missing(short) == (["p1"], ["p4"])
    hub.joined |= {"p1", "p4"}
    assert hooks.missing(short) == ([], [])  # p4 joined: from now on as every party
    store.close()


@pytest.mark.parametrize(
    ("strategy", "quorum", "admit", "remove", "why"),
    [
        (FedAvg(min_available_clients=2), 4, [], ["p3"], "fewer than the run's quorum of 4"),
        (FedAvg(min_fit_clients=4, min_available_clients=4), None, [], ["p3"],
         "fewer than FedAvg's min_available_clients=4"),
        (DifferentialPrivacy(FedAvg(min_available_clients=2), delta=0.22), None, ["p4"], [],
         r"delta = 0.22 is not below 1/n = 0.2 for n = 5 clients"),
    ],
)  # fmt: skip
def test_a_request_the_run_cannot_serve_is_dropped_naming_why(
    tmp_path: Path,
    strategy: FedAvg | DifferentialPrivacy,
    quorum: int | None,
    admit: list[str],
    remove: list[str],
    why: str,
) -> None:
    hub = FakeHub(HubSecurity(insecure=True, parties=frozenset({"p0", "p1", "p2", "p3"})))
    store, run_id, members, events = live(tmp_path, strategy, quorum, hub)
    request = store.request_party_change(run_id, admit=admit, remove=remove)
    members.apply(5)
    config = store.get_run(run_id).config
    assert hub.changes == [] and members.parties == ["p0", "p1", "p2", "p3"]
    assert config["parties"] == ["p0", "p1", "p2", "p3"] and "party_changes" not in config
    assert recorded_party_requests(config) == []  # settled: not tried again each round
    ((level, text),) = events
    assert level == "warning" and text.startswith(
        f"the operator's request to {request.describe()} (made {request.at}) was not applied: "
    )
    assert re.search(why, text), text
    store.close()


@pytest.mark.parametrize(
    ("workflow", "observers", "admit", "remove", "why"),
    [
        (SecAggPlus(), (), [], ["p2", "p3"],
         r"secure aggregation needs at least 3 sampled clients \(got 2\)"),
        (None, (ContributionTracker(lambda parameters: 0.0, "mr"),),
         [f"p{i}" for i in range(4, 13)], [],
         "values at most 12 clients a round exactly, and this run's rounds take up to 13"),
    ],
)  # fmt: skip
def test_a_request_whose_rounds_the_workflow_or_an_observer_would_refuse_is_dropped(
    tmp_path: Path,
    workflow: object | None,
    observers: Sequence[object],
    admit: list[str],
    remove: list[str],
    why: str,
) -> None:
    """The checks the start runs (SecAgg+ needs 3 clients a round; exact "mr" values at
    most 12): a change that passes them only to fail the run's next round is dropped now."""
    hub = FakeHub(HubSecurity(insecure=True, parties=frozenset({"p0", "p1", "p2", "p3"})))
    strategy = FedAvg(min_fit_clients=2, min_available_clients=2)
    store, run_id, members, events = live(tmp_path, strategy, None, hub, workflow, observers)
    store.request_party_change(run_id, admit=admit, remove=remove)
    members.apply(5)
    assert hub.changes == [] and members.parties == ["p0", "p1", "p2", "p3"]
    assert "party_changes" not in store.get_run(run_id).config
    ((level, text),) = events
    assert level == "warning" and re.search(why, text), text
    store.request_party_change(run_id, admit=admit[:8], remove=remove[:1])  # 12, or 3, parties
    members.apply(6)  # within the limits: applied
    assert len(members.parties) == (12 if admit else 3)
    store.close()


@pytest.mark.parametrize("min_fit_clients", [2, 3])
def test_the_start_refuses_parties_whose_rounds_secure_aggregation_cannot_run(
    tmp_path: Path, min_fit_clients: int
) -> None:
    """The same check at the start: two parties under SecAgg+ are refused before a run is
    recorded, not failed at round 1 - also with a min_fit_clients above the parties named
    (the check took the strategy's count, 3, for a round of the 2 there are, and passed)."""
    store = RunStore(tmp_path / "runs.db")
    refusal = {2: r"needs at least 3 sampled clients \(got 2\)", 3: "exceeds the 2 parties"}
    with pytest.raises(ConfigError, match=refusal[min_fit_clients]):
        serve_coordinator(
            FedAvg(min_fit_clients=min_fit_clients, min_available_clients=2),
            Parameters([np.zeros(3)]),
            rounds=2,
            listen="127.0.0.1:0",
            security=HubSecurity(insecure=True),
            parties=["p0", "p1"],
            store=store,
            workflow=SecAggPlus(),
        )
    assert store.list_runs() == []
    store.close()


def test_an_entry_this_release_cannot_read_stays_named_and_the_applied_request_goes(
    tmp_path: Path,
) -> None:
    """Settling removes exactly the requests applied: before, it removed as many of the
    oldest raw entries as it could read, so an unreadable entry (another release's, a hand
    edit) was removed in a read request's place, which was then applied again each round."""
    hub = FakeHub(HubSecurity(insecure=True, parties=frozenset({"p0", "p1", "p2", "p3"})))
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    odd = {"admit": ["p9"], "when": "tomorrow"}  # not a request this release reads
    with sqlite3.connect(tmp_path / "runs.db") as db:  # a hand edit, oldest first
        (raw,) = db.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        config = {**json.loads(raw), "party_requests": [odd]}
        db.execute("UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps(config), run_id))
    store.request_party_change(run_id, remove=["p3"])
    members.apply(1)
    members.apply(2)  # nothing left to apply; the odd entry is not named again
    config = store.get_run(run_id).config
    assert config["party_requests"] == [odd]  # left in place, never applied
    assert members.parties == ["p0", "p1", "p2"] and len(hub.changes) == 1
    ((level, text), applied) = events
    assert level == "warning" and repr(odd) in text and "cannot read" in text
    assert applied[1].startswith("parties changed after round 1: removed p3")
    store.close()


def test_a_party_to_admit_whose_certificate_is_revoked_or_missing_is_not_admitted(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, ["p0", "p1", "p2", "p3", "p4"])
    serial = revoke_party(certs, "p4")
    security = HubSecurity.from_directory(certs, parties=["p0", "p1", "p2", "p3"])
    hub = FakeHub(security)
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    store.request_party_change(run_id, admit=["p4"])
    store.request_party_change(run_id, admit=["p9"])  # a misspelt name: no certificate
    store.request_party_change(run_id, remove=["p3"])  # the next request still applies
    members.apply(1)
    assert revoked_reason("p4", serial) in events[0][1] and "rengo certs add DIR p4" in events[0][1]
    assert (
        f"party p9 holds no certificate of the federation in {certs / 'parties'}" in (events[1][1])
    )
    assert f"`rengo certs add {certs} p9`" in events[1][1]
    (change,) = recorded_party_changes(store.get_run(run_id).config)
    assert (change.admitted, change.removed) == ((), ("p3",))
    assert members.parties == ["p0", "p1", "p2"]
    store.close()


def _token(name: str) -> str:
    return f"{name}-token-0123456789abcdef"


def test_on_tokens_a_party_whose_line_was_added_while_the_run_ran_is_admitted(
    tmp_path: Path,
) -> None:
    """The coordinator read its tokens file at start; the operator adds p4's line while the
    run goes on and asks to admit p4. Before, the request was dropped (no token in the file
    read at start) and only a restart could admit p4; the file is now read again before
    requests are applied, and a request whose party still has no line names the file."""
    tokens_file = tmp_path / "tokens.toml"
    lines = [f'{n} = "{_token(n)}"' for n in ("p0", "p1", "p2", "p3")]
    tokens_file.write_text("\n".join(lines) + "\n")
    tokens_file.chmod(0o600)  # else the re-read warns of it, as the start does
    security = HubSecurity(
        insecure=True,
        tokens=read_tokens_file(tokens_file),
        parties=frozenset({"p0", "p1", "p2", "p3"}),
        tokens_file=tokens_file,
    )
    hub = FakeHub(security)
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    store.request_party_change(run_id, admit=["p4"])  # its line is not there yet
    members.apply(3)
    ((level, text),) = events
    assert level == "warning" and members.parties == ["p0", "p1", "p2", "p3"]
    assert f"the tokens file {tokens_file} holds no token for party p4: add its line" in text
    tokens_file.write_text(tokens_file.read_text() + f'p4 = "{_token("p4")}"\n')
    store.request_party_change(run_id, admit=["p4"])
    members.apply(5)
    assert members.parties == ["p0", "p1", "p2", "p3", "p4"]
    (change,) = recorded_party_changes(store.get_run(run_id).config)
    assert (change.after_round, change.admitted) == (5, ("p4",))
    assert hub.security.authenticate(CallMetadata("p4", _token("p4"))) == "p4"  # type: ignore[arg-type]
    store.close()


def test_a_tokens_file_unreadable_mid_run_keeps_the_tokens_in_force_and_says_why(
    tmp_path: Path,
) -> None:
    tokens_file = tmp_path / "tokens.toml"
    tokens_file.write_text("\n".join(f'{n} = "{_token(n)}"' for n in ("p0", "p1", "p2", "p3")))
    tokens = read_tokens_file(tokens_file)
    security = HubSecurity(
        insecure=True, tokens=tokens, parties=frozenset(tokens), tokens_file=tokens_file
    )
    hub = FakeHub(security)
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    tokens_file.write_text("p0 = [not toml")  # a half-saved edit
    store.request_party_change(run_id, remove=["p3"])
    members.apply(2)
    assert events[0][0] == "warning" and events[0][1].startswith(
        f"the tokens file was not read again (--tokens {tokens_file}: "
    )
    assert "the tokens read before stay" in events[0][1]
    assert members.parties == ["p0", "p1", "p2"]  # the request still applies
    assert hub.security.tokens == tokens
    store.close()


def test_the_hub_knows_at_start_who_is_revoked_and_records_it(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, ["p0", "p1", "p2"])
    serial = revoke_party(certs, "p2")
    told: list[tuple[str, int]] = []
    hub = GrpcHub(
        "127.0.0.1:0",
        HubSecurity.from_directory(certs, parties=["p0", "p1", "p2"]),
        on_revoked=lambda party, number: told.append((party, number)),
    )
    with hub:
        assert hub.revoked_parties() == {"p2"}
        assert told == [("p2", serial)]


def _port_and_run(coordinator: subprocess.Popen[str]) -> tuple[int, str]:
    assert coordinator.stdout is not None
    port = None
    for line in coordinator.stdout:
        if line.startswith("PORT "):
            port = int(line.split()[1])
        if line.startswith("RUN "):
            assert port is not None
            return port, line.split()[1]
    raise AssertionError("the coordinator printed no port and run")


@pytest.mark.timeout(420)
def test_a_running_run_admits_and_removes_parties_without_a_restart(
    processes: Processes, certs: Path, tmp_path: Path
) -> None:
    """Real processes and the real command: while p0, p1 and p2 train, the operator asks
    (``rengo runs parties RUN --admit p3 --remove p2``). The coordinator applies it before its
    next round: p2 is dropped, told why, and takes part in no later round; p3 joins and
    trains; every round is run and the change is recorded with its round."""
    store_path = tmp_path / "runs.db"
    rounds = 400  # 0.3 s each while the test waits for p3, a few ms after
    coordinator = processes.start(
        "coordinator", "127.0.0.1:0", str(certs), str(store_path), str(rounds), "p0,p1,p2",
        "--rejoin-wait", "0",
    )  # fmt: skip
    port, run_id = _port_and_run(coordinator)
    hold = tmp_path / "slow"  # rounds take 0.3 s until p3 took part
    hold.touch()
    slow = {"RENGO_TEST_SLOW_WHILE": str(hold)}
    party = {n: processes.party(f"127.0.0.1:{port}", n, certs, **slow) for n in ("p0", "p1", "p2")}
    with RunStore(store_path) as store:
        deadline = time.monotonic() + 120
        while not store.checkpoint_rounds(run_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.checkpoint_rounds(run_id), "no round completed"
    asked = subprocess.run(
        [sys.executable, "-m", "rengo", "runs", "parties", run_id, "--admit", "p3",
         "--remove", "p2", "--store", str(store_path)],
        capture_output=True, text=True, timeout=120, env=child_env(),
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert f"asked the coordinator of run {run_id} to admit p3; remove p2" in " ".join(
        asked.stdout.split()
    )
    party["p3"] = processes.party(f"127.0.0.1:{port}", "p3", certs, **slow)
    with RunStore(store_path) as store:
        deadline = time.monotonic() + 150
        while not store.client_records(run_id, "p3") and time.monotonic() < deadline:
            time.sleep(0.2)
    hold.unlink()
    output, _ = coordinator.communicate(timeout=240)
    assert coordinator.returncode == 0, output
    removed, _ = party["p2"].communicate(timeout=60)
    assert party["p2"].returncode != 0
    assert f"coordinator refused party p2: removed from run {run_id} by the federation's" in (
        removed
    )
    admitted, _ = party["p3"].communicate(timeout=60)
    assert party["p3"].returncode == 0, admitted
    assert "refused" not in admitted and f"run {run_id} completed" in admitted  # it joined
    with RunStore(store_path) as store:
        run = store.get_run(run_id)
        assert run.status == "completed"
        assert [r.round for r in store.rounds(run_id)] == list(range(1, rounds + 1))
        (change,) = recorded_party_changes(run.config)
        assert (change.admitted, change.removed) == (("p3",), ("p2",))
        assert run.config["parties"] == ["p0", "p1", "p3"]
        assert 1 <= change.after_round < rounds
        took_part = {(r.round, r.client_id) for r in store.client_records(run_id)}
        assert not {c for n, c in took_part if n > change.after_round} & {"p2"}
        assert {n for n, c in took_part if c == "p3"} <= set(range(change.after_round + 1, 401))
        assert any(c == "p3" for _, c in took_part)
        rows = membership_rows(store, run)
        assert [(r[1], r[2]) for r in rows] == [
            (f"after {change.after_round}", "admitted p3; removed p2 (now 3: p0, p1, p3)")
        ]


@pytest.mark.timeout(240)
def test_a_party_revoked_while_the_coordinator_waits_at_start_is_not_waited_for(
    processes: Processes, tmp_path: Path
) -> None:
    """Real processes: the coordinator waits for p0, p1 and p2 (all of them: no quorum) and
    the operator revokes p2, which is stopped and never connects. The hub reads the new list
    and stops waiting for p2: the run starts with p0 and p1 and completes (it waited the
    whole start deadline and failed, 'parties missing', before), recording the revocation."""
    certs = tmp_path / "certs"
    names = ["p0", "p1", "p2"]
    init_certificates(certs, names)
    store_path = tmp_path / "runs.db"
    coordinator = processes.start(
        "coordinator", "127.0.0.1:0", str(certs), str(store_path), "3", ",".join(names),
        "--join-timeout", "60",
    )  # fmt: skip
    port, run_id = _port_and_run(coordinator)
    serial = revoke_party(certs, "p2")
    for name in names[:2]:
        processes.party(f"127.0.0.1:{port}", name, certs)
    output, _ = coordinator.communicate(timeout=180)
    assert coordinator.returncode == 0, output
    with RunStore(store_path) as store:
        run = store.get_run(run_id)
        assert run.status == "completed"
        (record,) = recorded_revocations(run.config)
        assert (record.party, record.serial, record.after_round) == ("p2", serial, 0)
    assert f"{revoked_reason('p2', serial)}: it cannot join" in output


def test_the_start_refuses_a_strategy_minimum_above_the_parties_named(tmp_path: Path) -> None:
    """A run whose strategy needs more clients a round than the parties named could never
    run one: it was recorded and failed at round 1 (rengo coordinator refused it only by way
    of another check)."""
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(ConfigError, match=r"min_fit_clients=3 exceeds the 2 parties named"):
        serve_coordinator(
            FedAvg(min_fit_clients=3, min_available_clients=2),
            Parameters([np.zeros(3)]),
            rounds=2,
            listen="127.0.0.1:0",
            security=HubSecurity(insecure=True),
            parties=["p0", "p1"],
            store=store,
        )
    assert store.list_runs() == []
    store.close()


def _on_tokens(tmp_path: Path) -> tuple[Path, FakeHub]:
    """A tokens file for p0..p3 (its owner's only) and a hub that read it at start."""
    tokens_file = tmp_path / "tokens.toml"
    tokens_file.write_text("".join(f'{n} = "{_token(n)}"\n' for n in ("p0", "p1", "p2", "p3")))
    tokens_file.chmod(0o600)
    security = HubSecurity(
        insecure=True,
        tokens=read_tokens_file(tokens_file),
        parties=frozenset({"p0", "p1", "p2", "p3"}),
        tokens_file=tokens_file,
    )
    return tokens_file, FakeHub(security)


def _accepts(hub: FakeHub, name: str) -> bool:
    try:
        hub.security.authenticate(CallMetadata(name, _token(name)))  # type: ignore[arg-type]
    except AuthenticationError:
        return False
    return True


def test_on_tokens_one_party_swapped_for_another_in_one_request_is_applied(
    tmp_path: Path,
) -> None:
    """The operator replaces p3's line by p4's and asks `--remove p3 --admit p4` at once.
    Before, the file was checked against the parties still in the run (p3 among them), so
    it was not read, the admission was refused with a false "holds no token for party p4"
    and the removal dropped with it; both now apply, and p3's token stops counting."""
    tokens_file, hub = _on_tokens(tmp_path)
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    tokens_file.write_text(
        "".join(f'{n} = "{_token(n)}"\n' for n in ("p0", "p1", "p2", "p4"))  # p3's line: p4's
    )
    store.request_party_change(run_id, admit=["p4"], remove=["p3"])
    members.apply(3)
    assert [level for level, _ in events] == ["info"], events
    assert members.parties == ["p0", "p1", "p2", "p4"]
    assert _accepts(hub, "p4") and not _accepts(hub, "p3")
    store.close()


def test_on_tokens_a_too_short_new_token_is_refused_saying_it_is_too_short(
    tmp_path: Path,
) -> None:
    """p4's line was added with a 10-character token: before, the refusal said the file
    held no token for p4 (its line was there); it now says the token is too short."""
    tokens_file, hub = _on_tokens(tmp_path)
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    tokens_file.write_text(tokens_file.read_text() + 'p4 = "shorttoken"\n')
    store.request_party_change(run_id, admit=["p4"])
    members.apply(3)
    refusal = events[-1][1]
    assert refusal.startswith("the operator's request to admit p4")
    assert "the token of 'p4' is shorter than 16 characters" in refusal
    assert "holds no token" not in refusal
    assert members.parties == ["p0", "p1", "p2", "p3"] and not _accepts(hub, "p4")
    store.close()


def test_on_tokens_a_line_taken_out_counts_only_with_its_partys_removal(
    tmp_path: Path,
) -> None:
    """p3's token was stolen and its line taken out; the next request (admit p4) is refused
    naming p3 and the `--remove` that takes it out (a half-saved file looks the same), and
    p3's token keeps counting until that removal, which then stops it."""
    tokens_file, hub = _on_tokens(tmp_path)
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    tokens_file.write_text(
        "".join(f'{n} = "{_token(n)}"\n' for n in ("p0", "p1", "p2", "p4"))  # p3's line out
    )
    store.request_party_change(run_id, admit=["p4"])
    members.apply(3)
    ((level, refusal),) = events
    assert level == "warning" and f"the tokens file {tokens_file} holds no token for p3" in refusal
    assert "`rengo runs parties RUN --remove p3` added" in refusal
    assert "holds no token for party p4" not in refusal
    assert members.parties == ["p0", "p1", "p2", "p3"] and _accepts(hub, "p3")
    store.request_party_change(run_id, admit=["p4"], remove=["p3"])
    members.apply(4)
    assert members.parties == ["p0", "p1", "p2", "p4"]
    assert not _accepts(hub, "p3") and _accepts(hub, "p4")
    store.close()


def test_a_tokens_file_others_may_read_is_warned_of_when_read_again_mid_run(
    tmp_path: Path,
) -> None:
    """A tokens file replaced mid-run by one other users may read (a save-as, a `mv`): the
    start warns of such a file, the re-read before applying requests did not."""
    tokens_file, hub = _on_tokens(tmp_path)
    store, run_id, members, events = live(tmp_path, FedAvg(min_available_clients=2), None, hub)
    tokens_file.write_text(tokens_file.read_text() + f'p4 = "{_token("p4")}"\n')
    tokens_file.chmod(0o644)
    store.request_party_change(run_id, admit=["p4"])
    members.apply(3)
    assert (
        "warning",
        f"the tokens file {tokens_file} can be read by other users of this machine (mode "
        f"644): make it its owner's only with `chmod 600 {tokens_file}`",
    ) in events
    assert members.parties == ["p0", "p1", "p2", "p3", "p4"]  # a warning, as at start
    store.close()


def test_through_the_real_hub_a_party_admitted_by_its_new_token_line_joins(
    tmp_path: Path,
) -> None:
    """The coordinator's hub (gRPC, as deployed) must take the tokens read again when it
    applies a request: a party whose line was added mid-run and then admitted connects with
    its token and says hello. The other tests of this file use a stand-in hub."""
    import threading
    from collections.abc import Iterator

    import grpc

    from rengo.transport.grpc_frames import OutgoingMessage, envelope_frames
    from rengo.transport.grpc_security import NAME_HEADER, TOKEN_HEADER
    from rengo.transport.grpc_wire import CHANNEL_OPTIONS, FULL_METHOD, HELLO, hello_payload

    tokens_file, stand_in = _on_tokens(tmp_path)
    done = threading.Event()
    refused: list[grpc.RpcError] = []

    def frames() -> Iterator[bytes]:
        message = OutgoingMessage("p4", "coordinator", HELLO, hello_payload("raw", False))
        yield from envelope_frames(message)
        done.wait(30)

    with GrpcHub("127.0.0.1:0", stand_in.security, heartbeat_interval=2.0) as hub:
        strategy = FedAvg(min_available_clients=2)
        store, run_id, members, events = live(tmp_path, strategy, None, hub)  # type: ignore[arg-type]
        tokens_file.write_text(tokens_file.read_text() + f'p4 = "{_token("p4")}"\n')
        store.request_party_change(run_id, admit=["p4"])
        members.apply(3)
        assert members.parties == ["p0", "p1", "p2", "p3", "p4"], events
        metadata = [(NAME_HEADER, "p4"), (TOKEN_HEADER, _token("p4"))]
        with grpc.insecure_channel(hub.address, options=CHANNEL_OPTIONS) as channel:
            call = channel.stream_stream(FULL_METHOD)(frames(), metadata=metadata, timeout=30)
            reader = threading.Thread(target=read_to_the_end, args=(call, refused), daemon=True)
            reader.start()
            deadline = time.monotonic() + 30
            while "p4" not in hub.client_ids() and not refused and time.monotonic() < deadline:
                time.sleep(0.05)
            joined = hub.client_ids()
            done.set()
            call.cancel()
            reader.join(10)
        store.close()
    assert "p4" in joined, [exc.details() for exc in refused]
