"""Operators see what happened: who was missing at the start, which side's TLS is wrong,
that the run they missed has finished, which party is too slow - each as one clear line
from real ``rengo`` / coordinator / party processes, never minutes of retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet import Fleet, free_port
from link_proxy import Proxy

from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates

JOB = """
[job]
name = "operators"
seed = 5
rounds = 2
[data]
dataset = "iris"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[train]
lr = 0.2
batch_size = 8
[strategy]
name = "fedavg"
"""
CLIENTS = ["client-0", "client-1", "client-2"]


@pytest.fixture
def job_certs(tmp_path: Path) -> tuple[Path, Path]:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    certs = tmp_path / "certs"
    init_certificates(certs, CLIENTS)
    return job, certs


def cli_coordinator(
    fleet: Fleet, job: Path, certs: Path | None, *options: str, address: str | None = None
) -> tuple:
    address = address or f"127.0.0.1:{free_port()}"
    tls = ["--certs", str(certs)] if certs is not None else ["--insecure"]
    proc = fleet.rengo(
        "coordinator",
        "--job",
        str(job),
        "--listen",
        address,
        *tls,
        "--store",
        str(fleet.tmp_path / "runs.db"),
        *options,
    )
    proc.expect(r"listening on")
    return proc, address


def cli_party(fleet: Fleet, address: str, name: str, job: Path, *tls: str):  # type: ignore[no-untyped-def]
    return fleet.rengo("party", "--coordinator", address, "--name", name, "--job", str(job), *tls)


@pytest.mark.timeout(300)
def test_the_coordinator_waits_for_the_jobs_parties_and_names_who_was_missing(
    fleet: Fleet, job_certs: tuple[Path, Path]
) -> None:
    job, certs = job_certs
    lonely, _ = cli_coordinator(fleet, job, certs, "--join-timeout", "3")
    assert lonely.wait(120) == 1
    assert "parties missing after 3s: client-0, client-1, client-2 (joined: none; the run " in (
        lonely.output
    )
    assert "Traceback" not in lonely.output
    # With a quorum the run starts without the missing party, and says so. (The parties
    # start first and retry until the coordinator listens: they are slow to start.)
    address = f"127.0.0.1:{free_port()}"
    parties = [cli_party(fleet, address, n, job, "--certs", str(certs)) for n in CLIENTS[:2]]
    for party in parties:
        party.expect("cannot reach")  # no connection existed to lose
    coordinator, _ = cli_coordinator(
        fleet, job, certs, "--quorum", "2", "--join-timeout", "30", address=address
    )
    assert coordinator.wait(240) == 0, coordinator.output[-3000:]
    assert "completed 2 rounds" in coordinator.output
    for party in parties:
        assert party.wait(60) == 0
        assert "completed" in party.output
    with RunStore(fleet.tmp_path / "runs.db", read_only=True) as store:
        run = store.list_runs(limit=1)[0]
        events = [e.message for e in store.events(run.run_id)]
    assert any(m.startswith("starting without client-2 (not joined after 30s") for m in events)


@pytest.mark.timeout(300)
def test_tls_mismatches_are_named_at_the_handshake_and_end_the_party_at_once(
    fleet: Fleet, job_certs: tuple[Path, Path], tmp_path: Path
) -> None:
    job, certs = job_certs
    other = tmp_path / "other-ca"
    init_certificates(other, CLIENTS)
    coordinator, address = cli_coordinator(fleet, job, certs, "--join-timeout", "200")
    plain = cli_party(fleet, address, "client-0", job, "--insecure")
    foreign = cli_party(fleet, address, "client-1", job, "--certs", str(other))
    assert plain.wait(120) == 1  # not 600 s of UNAVAILABLE retries
    assert "uses TLS but this party runs with --insecure" in plain.output
    assert foreign.wait(120) == 1  # its whole folder is another federation's
    assert "this party does not trust the coordinator's certificate" in foreign.output
    plain_coordinator, plain_address = cli_coordinator(fleet, job, None, "--join-timeout", "200")
    tls_party = cli_party(fleet, plain_address, "client-2", job, "--certs", str(certs))
    assert tls_party.wait(120) == 1
    assert "does not speak TLS but this party does: a coordinator started with --insecure" in (
        " ".join(tls_party.output.split())
    )
    for proc in (plain, foreign, tls_party):
        assert "Traceback" not in proc.output
    coordinator.kill()
    plain_coordinator.kill()


@pytest.mark.timeout(300)
def test_a_party_that_missed_the_end_of_the_run_is_told_it_finished(fleet: Fleet) -> None:
    coordinator, address, run_id = fleet.coordinator(3, ["p0", "p1", "p2"], "--farewell", "60")
    proxy = Proxy(address)
    steady = [fleet.party(address, name, "--sleep", "1") for name in ("p0", "p1")]
    late = fleet.party(proxy.address, "p2", "--sleep", "1")
    coordinator.expect(r"round 2/3")
    proxy.cut()  # p2 loses its link during round 3; the run ends without it
    coordinator.expect(r"round 3/3")
    proxy.restore()
    assert late.wait(120) == 0, late.output[-3000:]
    assert f"FINISHED run {run_id} completed" in late.output
    assert coordinator.wait(120) == 0
    for party in steady:
        assert party.wait(60) == 0 and f"FINISHED run {run_id} completed" in party.output
    proxy.close()


@pytest.mark.timeout(300)
def test_a_party_always_slower_than_the_round_timeout_is_no_longer_waited_for(
    fleet: Fleet,
) -> None:
    rounds = 5
    coordinator, address, run_id = fleet.coordinator(
        rounds,
        ["p0", "p1", "p2", "p3"],
        "--round-timeout",
        "3",
        "--slow-after",
        "2",
        "--slow-rounds",
        "20",
    )
    for name in ("p0", "p1", "p2"):
        fleet.party(address, name)
    fleet.party(address, "p3", "--sleep", "8")
    assert coordinator.wait(240) == 0, coordinator.output[-3000:]
    with RunStore(fleet.tmp_path / "runs.db", read_only=True) as store:
        slow = [(r.round, r.status, r.reason) for r in store.client_records(run_id, "p3")]
        assert [(r, s) for r, s, _ in slow] == [(1, "failed"), (2, "failed")]
        assert all(reason and reason.startswith("timed out") for _, _, reason in slow)
        events = [e.message for e in store.events(run_id, "warning")]
        assert any(
            m.startswith("client p3 is slow: it missed the round timeout 2 rounds in a row")
            for m in events
        )
        rounds_run = store.rounds(run_id)
        assert [r.num_clients for r in rounds_run] == [4, 4, 3, 3, 3]


@pytest.mark.timeout(120)
def test_bad_party_names_and_missing_certificates_get_one_clear_line(
    fleet: Fleet, job_certs: tuple[Path, Path]
) -> None:
    _job, certs = job_certs
    climb = fleet.rengo(
        "party", "--coordinator", "127.0.0.1:1", "--name", "../../etc", "--app", "m:f",
        "--certs", str(certs),
    )  # fmt: skip
    assert climb.wait(60) == 2
    assert "--name '../../etc' must be 1-64 ASCII letters (A-Z, a-z), digits" in climb.output
    missing = fleet.rengo(
        "party", "--coordinator", "127.0.0.1:1", "--name", "stranger", "--app", "m:f",
        "--certs", str(certs),
    )  # fmt: skip
    assert missing.wait(60) == 2
    assert "party stranger's certificate" in missing.output and "does not exist" in missing.output
    add = fleet.rengo("certs", "add", str(certs), "../escape")
    assert add.wait(60) == 2 and "must be 1-64 ASCII letters" in add.output
    for proc in (climb, missing, add):
        assert "Traceback" not in proc.output
    assert not (certs.parent / "escape.pem").exists()


@pytest.mark.timeout(120)
def test_certs_init_overwrite_writes_every_key_owner_only(fleet: Fleet, tmp_path: Path) -> None:
    folder = tmp_path / "fed"
    assert fleet.rengo("certs", "init", str(folder), "--parties", "a,b").wait(60) == 0
    (folder / "ca.key").chmod(0o644)
    (folder / "parties" / "a.key").chmod(0o644)
    again = fleet.rengo("certs", "init", str(folder), "--parties", "a,b", "--overwrite")
    assert again.wait(60) == 0
    keys = [folder / "ca.key", folder / "coordinator.key", *(folder / "parties").glob("*.key")]
    assert len(keys) == 4
    assert {oct(k.stat().st_mode & 0o777) for k in keys} == {"0o600"}
