"""`rengo certs init`, `rengo coordinator` and `rengo party` as real OS processes on loopback:
the deployed run records the same model quality, and values and pays its parties as,
`rengo run` in simulation."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

JOB = """
[job]
name = "deployed"
seed = 5
rounds = 3
[data]
dataset = "iris"
[partition]
scheme = "iid"
num_clients = 2
[model]
type = "logistic"
[train]
lr = 0.2
batch_size = 8
[strategy]
name = "fedavg"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rengo(*args: str) -> list[str]:
    return [sys.executable, "-m", "rengo.cli.main", *args]


def _deployed(
    job: Path, certs: Path, store: Path, names: tuple[str, ...]
) -> tuple[str, str, list[str]]:
    """``rengo coordinator --job`` and a ``rengo party`` per name as OS processes until the
    run ends: the address, the coordinator's output and each party's."""
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    coordinator = subprocess.Popen(
        _rengo(
            "coordinator",
            "--job",
            str(job),
            "--listen",
            address,
            "--certs",
            str(certs),
            "--parties",
            ",".join(names),
            "--store",
            str(store),
            "--join-timeout",
            "60",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    parties = [
        subprocess.Popen(
            _rengo(
                "party",
                "--coordinator",
                address,
                "--name",
                name,
                "--job",
                str(job),
                "--certs",
                str(certs),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for name in names
    ]
    try:
        out, _ = coordinator.communicate(timeout=90)
        assert coordinator.returncode == 0, out
        party_out = []
        for p in parties:
            p_out, _ = p.communicate(timeout=30)
            assert p.returncode == 0, p_out
            party_out.append(p_out)
    finally:
        for p in [coordinator, *parties]:
            if p.poll() is None:
                p.kill()
    return address, out, party_out


def _simulated_job(tmp_path: Path, extra: str, base: str = JOB) -> tuple[Path, Path, Path]:
    """The job (``base`` and ``extra``), its federation's certificates for client-0 and
    client-1, and the store of its `rengo run`."""
    runner = CliRunner()
    job = tmp_path / "job.toml"
    job.write_text(base + extra)
    certs = tmp_path / "certs"
    result = runner.invoke(app, ["certs", "init", str(certs), "--parties", "client-0,client-1"])
    assert result.exit_code == 0, result.output
    sim_store = tmp_path / "sim.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(sim_store), "--no-progress"])
    assert result.exit_code == 0, result.output
    return job, certs, sim_store


@pytest.mark.timeout(120)
def test_cli_deployment_matches_simulation(tmp_path: Path):
    job, certs, sim_store = _simulated_job(tmp_path, '[contribution]\nbudget = "100.00"\n')

    store = tmp_path / "deployed.db"
    address, out, party_out = _deployed(job, certs, store, ("client-0", "client-1"))

    def valued(s: RunStore, run_id: str) -> dict[str, float]:
        return {c.participant: c.value for c in s.contributions(run_id) if c.round is None}

    with RunStore(sim_store) as s:
        sim_run = s.list_runs()[0].run_id
        simulated = s.round_metrics(sim_run)["central_accuracy"]
        simulated_values = valued(s, sim_run)
    with RunStore(store) as s:
        run = s.list_runs()[0]
        assert run.status == "completed"
        deployed = s.round_metrics(run.run_id)["central_accuracy"]
        deployed_values = valued(s, run.run_id)
        paid = sum(int(e.amount) for e in s.ledger(run.run_id))
    assert [r for r, _ in deployed] == [1, 2, 3]
    assert [v for _, v in deployed] == pytest.approx([v for _, v in simulated])
    # the coordinator values each party's updates as the simulation values each client's
    assert set(deployed_values) == {"client-0", "client-1"}
    assert deployed_values == pytest.approx(simulated_values, abs=1e-9)
    assert paid == 10_000  # budget 100.00 credits, all paid
    # the coordinator says what it waits for and how each round went; parties their side
    flat = " ".join(out.split())
    assert f"listening on {address}, waiting for client-0, client-1" in flat
    # before the first round, the run id a killed coordinator is restarted with
    assert (
        f"(run {run.run_id}: `--resume {run.run_id}` if this process dies)"
        in flat.split("joined")[0]
    )
    assert "party client-0 joined" in flat
    assert all(f"round {k}/3: 2 of 2 parties reported" in flat for k in (1, 2, 3))
    assert "train_loss" in flat
    assert "client-0: round 1: trained on" in " ".join(party_out[0].split())


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "section",
    [
        '[compression]\nupdate = "topk"\nfraction = 0.2\n',
        '[compression]\nupdate = "topk"\nfraction = 0.2\nmodel = "int8"\nchunk = 4\n',
    ],
    ids=["topk update", "topk update and int8 model"],
)
def test_a_compressed_job_deployed_matches_its_simulation(tmp_path: Path, section: str):
    """``[compression]`` reaches the parties through the round config: `rengo party --job`
    decodes the model and encodes its update, the coordinator re-bases and decodes, and the
    run equals `rengo run` of the same job (the model's rounding is drawn from the seed)."""
    job, certs, sim_store = _simulated_job(tmp_path, section)
    store = tmp_path / "deployed.db"
    _deployed(job, certs, store, ("client-0", "client-1"))
    with RunStore(sim_store) as s:
        simulated = s.round_metrics(s.list_runs()[0].run_id)["central_accuracy"]
        sim_fits = [r for r in s.client_records(s.list_runs()[0].run_id) if r.phase == "fit"]
    with RunStore(store) as s:
        run = s.list_runs()[0]
        assert run.status == "completed"
        assert run.config["compression"]["update"] == "topk"
        assert run.config["compression"].get("model", "none") == (
            "int8" if "model" in section else "none"
        )
        deployed = s.round_metrics(run.run_id)["central_accuracy"]
        fits = [r for r in s.client_records(run.run_id) if r.phase == "fit"]
    assert [v for _, v in deployed] == pytest.approx([v for _, v in simulated], abs=1e-12)
    assert len(fits) == 6 and all(r.status == "ok" for r in fits)
    assert all(r.bytes_sent > 0 for r in sim_fits)


@pytest.mark.timeout(120)
def test_a_regression_job_deployed_matches_its_simulation(tmp_path: Path):
    """A continuous target (diabetes, least squares): each party standardises it as the
    simulation does, and the deployed run records the simulated RMSE, MAE and R^2 and
    values the parties by R^2 alike."""
    regression = (
        JOB.replace('dataset = "iris"', 'dataset = "diabetes"\ntask = "regression"')
        .replace('type = "logistic"', 'type = "linear"')
        .replace("lr = 0.2", "lr = 0.05")
    )
    job, certs, sim_store = _simulated_job(tmp_path, "[contribution]\n", regression)
    store = tmp_path / "deployed.db"
    _, out, _ = _deployed(job, certs, store, ("client-0", "client-1"))
    names = ("central_rmse", "central_mae", "central_r2")
    with RunStore(sim_store) as s:
        sim_run = s.list_runs()[0].run_id
        simulated = {m: s.round_metrics(sim_run)[m] for m in names}
        sim_values = {c.participant: c.value for c in s.contributions(sim_run) if c.round is None}
    with RunStore(store) as s:
        run = s.list_runs()[0]
        assert run.status == "completed"
        deployed = {m: s.round_metrics(run.run_id)[m] for m in names}
        values = {c.participant: c.value for c in s.contributions(run.run_id) if c.round is None}
        assert run.config["target_standardization"]["scale"] > 1  # diabetes: about 77
    for m in names:
        assert [v for _, v in deployed[m]] == pytest.approx([v for _, v in simulated[m]], abs=1e-9)
    assert values == pytest.approx(sim_values, abs=1e-9) and set(values) == {"client-0", "client-1"}
    assert "central_r2" in " ".join(out.split())


@pytest.mark.timeout(120)
def test_a_claim_frequency_job_deployed_matches_its_simulation(tmp_path: Path):
    """Two insurers (``model.type = "poisson"`` with ``[data] exposure``) as OS processes:
    each reads its policies' exposure from the job's table and the deployed run records the
    simulated held-out deviance, D^2 and Gini, and values the parties by D^2 alike."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    years = 1.0 - 0.9 * rng.random(400)
    claims = rng.poisson(years * np.exp(x @ [0.4, -0.3] - 1.0))
    rows = "".join(
        f"p{i},{x[i, 0]:.6f},{x[i, 1]:.6f},{years[i]:.6f},{claims[i]}\n" for i in range(400)
    )
    (tmp_path / "policies.csv").write_text("id,age,density,years,claims\n" + rows)
    frequency = (
        JOB.replace(
            'dataset = "iris"',
            'dataset = "csv"\npath = "policies.csv"\nlabel = "claims"\nid_column = "id"\n'
            'task = "regression"\nexposure = "years"',
        )
        .replace('type = "logistic"', 'type = "poisson"')
        .replace("lr = 0.2", "lr = 0.1")
    )
    job, certs, sim_store = _simulated_job(tmp_path, "[contribution]\n", frequency)
    store = tmp_path / "deployed.db"
    _deployed(job, certs, store, ("client-0", "client-1"))
    names = ("central_poisson_deviance", "central_d2_poisson", "central_gini")
    with RunStore(sim_store) as s:
        sim_run = s.list_runs()[0].run_id
        simulated = {m: s.round_metrics(sim_run)[m] for m in names}
        sim_values = {c.participant: c.value for c in s.contributions(sim_run) if c.round is None}
    with RunStore(store) as s:
        run = s.list_runs()[0]
        assert run.status == "completed"
        deployed = {m: s.round_metrics(run.run_id)[m] for m in names}
        values = {c.participant: c.value for c in s.contributions(run.run_id) if c.round is None}
    for m in names:
        assert [v for _, v in deployed[m]] == pytest.approx([v for _, v in simulated[m]], abs=1e-9)
    assert values == pytest.approx(sim_values, abs=1e-9) and set(values) == {"client-0", "client-1"}


def test_party_refuses_without_credentials(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["party", "--coordinator", "127.0.0.1:1", "--name", "x", "--app", "m:f"]
    )
    assert result.exit_code == 2
    assert "--certs" in result.output


def test_a_party_app_that_fails_to_import_is_one_line_naming_its_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "syntax_app.py").write_text("import os\ndef client_fn(name)\n    return None\n")
    (tmp_path / "raising_app.py").write_text("x = 1\nundefined_name + 1\n")
    for module, said in [
        ("syntax_app", "syntax error in " + str(tmp_path / "syntax_app.py") + ", line 2"),
        ("raising_app", "raised NameError: name 'undefined_name' is not defined ("),
    ]:
        result = CliRunner().invoke(
            app,
            [
                *("party", "--coordinator", "127.0.0.1:1", "--name", "x", "--insecure"),
                *("--app", f"{module}:client_fn"),
            ],
        )
        assert result.exit_code == 2, result.output
        assert said in _flat(result.output)
        assert "Traceback" not in result.output
    assert "raising_app.py, line 2" in _flat(result.output)


def test_a_party_name_outside_the_jobs_clients_is_refused_naming_them_and_the_app_route(
    tmp_path: Path,
):
    """A job's [deploy] parties (bank, card) are not its partition's client ids: `rengo party
    --job` under such a name listed every client id and left the --app route unsaid."""
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    result = CliRunner().invoke(
        app,
        [
            *("party", "--coordinator", "127.0.0.1:1", "--name", "bank", "--insecure"),
            *("--job", str(job)),
        ],
    )
    assert result.exit_code == 2, result.output
    flat = _flat(result.output)
    assert "--name 'bank' is not a client of" in flat and "clients (client-0, client-1" in flat
    assert "--app MODULE:CALLABLE instead of --job" in flat


def test_coordinator_requires_tls_material_or_insecure(tmp_path: Path):
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    result = CliRunner().invoke(app, ["coordinator", "--job", str(job)])
    assert result.exit_code == 2 and "TLS is on by default" in result.output


def test_a_coordinator_refuses_at_start_a_party_whose_token_was_taken_back(tmp_path: Path):
    """A leaked token removed from the tokens file, its party still in --parties: the run
    waited the whole join timeout for a party that could never join and failed with
    'parties missing', not saying why."""
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('client-0 = "token-of-client-0-abcdef"\n')
    tokens.chmod(0o600)
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(
        app,
        [
            *("coordinator", "--job", str(job), "--listen", f"127.0.0.1:{_free_port()}"),
            *("--insecure", "--tokens", str(tokens), "--parties", "client-0,client-1"),
            *("--store", str(store), "--join-timeout", "30"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "the tokens file holds no token for 'client-1'" in _flat(result.output)
    if store.exists():
        with RunStore(store, read_only=True) as runs:
            assert runs.list_runs() == []


def test_a_coordinator_that_cannot_listen_says_so_in_one_line_and_records_no_run(
    tmp_path: Path,
):
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = f"127.0.0.1:{held.getsockname()[1]}"
        for listen, said in [
            (busy, f"cannot listen on {busy}: Address already in use"),
            ("127.0.0.1:17630x", "listen address '127.0.0.1:17630x' must be HOST:PORT"),
            ("127.0.0.1", "listen address '127.0.0.1' must be HOST:PORT"),
        ]:
            result = CliRunner().invoke(
                app,
                [
                    *("coordinator", "--job", str(job), "--listen", listen, "--insecure"),
                    *("--store", str(store), "--join-timeout", "1"),
                ],
            )
            assert result.exit_code == 2, result.output
            assert said in _flat(result.output)
            assert "Traceback" not in result.output
    with RunStore(store) as runs:
        assert runs.list_runs() == []  # no 'failed' run of 0 s per attempt


@pytest.mark.timeout(60)
def test_a_coordinator_warning_is_printed_once(tmp_path: Path):
    import threading

    from rengo.transport.grpc_party import Backoff, PartyConnection
    from rengo.transport.grpc_security import PartyCredentials

    job = tmp_path / "job.toml"
    job.write_text(JOB)
    address = f"127.0.0.1:{_free_port()}"
    party = PartyConnection(
        address,
        "client-0",
        PartyCredentials(insecure=True),
        backoff=Backoff(initial=0.05, maximum=0.2, give_up_after=30),
    )
    threading.Thread(target=party.run, daemon=True).start()  # joins; client-1 never does
    try:
        result = CliRunner().invoke(
            app,
            [
                *("coordinator", "--job", str(job), "--listen", address, "--insecure"),
                *("--store", str(tmp_path / "runs.db"), "--quorum", "1", "--join-timeout", "2"),
            ],
        )
    finally:
        party.close()
    # the run starts without client-1 (a warning), then round 1 has too few clients
    assert _flat(result.output).count("starting without client-1") == 1, result.output


def _flat(text: str) -> str:
    """Console output with its line wrapping undone (rich wraps at the terminal's width)."""
    return " ".join(text.split())


def test_certs_revoke_writes_the_list_and_names_a_repeat_or_unknown_party(tmp_path: Path):
    from rengo.transport.certs import REVOKED_FILE
    from rengo.transport.revocation import RevocationList

    runner = CliRunner()
    certs = tmp_path / "certs"
    assert runner.invoke(app, ["certs", "init", str(certs), "--parties", "a,b"]).exit_code == 0
    result = runner.invoke(app, ["certs", "revoke", str(certs), "b"])
    assert result.exit_code == 0, result.output
    assert "revoked party b's certificate" in _flat(result.output)
    revocations = RevocationList(certs / REVOKED_FILE, (certs / "ca.pem").read_bytes())
    assert len(revocations.serials) == 1
    again = runner.invoke(app, ["certs", "revoke", str(certs), "b"])
    assert again.exit_code == 2 and "is revoked already" in _flat(again.output)
    unknown = runner.invoke(app, ["certs", "revoke", str(certs), "zed"])
    assert unknown.exit_code == 2 and "does not exist" in _flat(unknown.output)
    assert "Traceback" not in again.output + unknown.output


def test_certs_coordinator_keeps_its_host_names_and_the_previous_pair(tmp_path: Path):
    """A renewal without --hosts issues the certificate for the hosts the parties dial
    now (it fell back to localhost: every party then failed hostname verification), and
    keeps the previous pair beside the new one to go back to."""
    import stat

    from cryptography import x509

    runner = CliRunner()
    certs = tmp_path / "certs"
    init = ["certs", "init", str(certs), "--parties", "a", "--hosts", "coord.example.org,10.0.0.5"]
    assert runner.invoke(app, init).exit_code == 0
    old_cert, old_key = (
        (certs / "coordinator.pem").read_bytes(),
        (certs / "coordinator.key").read_bytes(),
    )
    result = runner.invoke(app, ["certs", "coordinator", str(certs)])
    assert result.exit_code == 0, result.output
    new = x509.load_pem_x509_certificate((certs / "coordinator.pem").read_bytes())
    names = new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["coord.example.org"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert "for coord.example.org, 10.0.0.5" in _flat(result.output)
    assert (certs / "coordinator.pem").read_bytes() != old_cert
    assert (certs / "coordinator.pem.old").read_bytes() == old_cert
    assert (certs / "coordinator.key.old").read_bytes() == old_key
    assert stat.S_IMODE((certs / "coordinator.key.old").stat().st_mode) == 0o600
    moved = runner.invoke(
        app, ["certs", "coordinator", str(certs), "--hosts", "coord2.example.org"]
    )
    assert moved.exit_code == 0, moved.output
    new = x509.load_pem_x509_certificate((certs / "coordinator.pem").read_bytes())
    names = new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["coord2.example.org"]
    (certs / "coordinator.pem").unlink()  # no certificate to read the hosts of: named
    missing = runner.invoke(app, ["certs", "coordinator", str(certs)])
    assert missing.exit_code == 2 and "--hosts" in _flat(missing.output)
    assert not (certs / "coordinator.pem").exists() and "Traceback" not in missing.output


def test_certs_list_shows_each_partys_serial_and_what_was_revoked(tmp_path: Path):
    from rengo.transport.certs import list_parties, revoke_party

    runner = CliRunner()
    certs = tmp_path / "certs"
    assert runner.invoke(app, ["certs", "init", str(certs), "--parties", "a,b"]).exit_code == 0
    serial = revoke_party(certs, "b")
    parties = {p.name: p for p in list_parties(certs)}
    assert parties["b"].serial == serial and parties["b"].revoked_at is not None
    assert parties["a"].revoked_at is None
    result = runner.invoke(app, ["certs", "list", str(certs)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│ a ")]
    rows_b = [line for line in result.output.splitlines() if line.startswith("│ b ")]
    assert len(rows) == len(rows_b) == 1
    assert f"{serial:x}"[:6] in rows_b[0]  # the serial (folded when the terminal is narrow)
    assert f"{parties['b'].revoked_at:%Y-%m-%d %H:%M}" in rows_b[0]
    assert rows[0].rstrip(" │").endswith("-")  # not revoked


SERVED_MODEL = '''
import numpy as np
from rengo.hfl import ClipUpdateMod, LogisticRegressionClient, softmax_init


def initial():
    """The coordinator's only knowledge of the model: its shape."""
    return softmax_init(4, 3)


def client_fn(name):
    """A party's own rows (here made up from its name)."""
    rng = np.random.default_rng(int(name.rsplit("-", 1)[1]))
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return LogisticRegressionClient(X, y, X_test=X, y_test=y)


tiny_clip = ClipUpdateMod(max_norm=0.01)  # a party's own mod, for `--mod served:tiny_clip`


class Tagged:
    """A mod class (`--mod served:Tagged` builds it): marks each fit reply's metrics."""

    def __call__(self, call, call_next):
        reply = call_next(call)
        if call.key == "fit":
            reply.metrics["tagged"] = 1
        return reply
'''

SERVED_JOB = """
[job]
name = "own-model"
rounds = 2
[model]
app = "served:initial"
[deploy]
parties = ["client-0", "client-1"]
"""


def _serve_own_model(tmp_path: Path, *party_options: str) -> tuple[Path, list[str]]:
    """Run SERVED_JOB with `rengo coordinator` and two `rengo party --app served:client_fn`
    processes (each also given ``party_options``) on loopback; the run store and the parties'
    outputs."""
    (tmp_path / "served.py").write_text(SERVED_MODEL)
    job = tmp_path / "job.toml"
    job.write_text(SERVED_JOB)
    elsewhere = tmp_path / "elsewhere"  # the coordinator finds served.py beside the job file
    elsewhere.mkdir()
    address = f"127.0.0.1:{_free_port()}"
    store = tmp_path / "deployed.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            _rengo(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        )

    coordinator = start(
        *("coordinator", "--job", str(job), "--listen", address, "--insecure"),
        *("--store", str(store), "--join-timeout", "60"),
        cwd=elsewhere,
    )
    parties = [
        start(
            *("party", "--coordinator", address, "--name", name, "--insecure"),
            *("--app", "served:client_fn", *party_options),
            cwd=tmp_path,
        )
        for name in ("client-0", "client-1")
    ]
    outputs = []
    try:
        out, _ = coordinator.communicate(timeout=90)
        assert coordinator.returncode == 0, out
        for p in parties:
            p_out, _ = p.communicate(timeout=30)
            assert p.returncode == 0, p_out
            outputs.append(p_out)
    finally:
        for p in [coordinator, *parties]:
            if p.poll() is None:
                p.kill()
    return store, outputs


@pytest.mark.timeout(120)
def test_a_job_naming_its_own_model_is_served_with_no_data_at_the_coordinator(
    tmp_path: Path,
) -> None:
    store, _ = _serve_own_model(tmp_path)
    with RunStore(store) as s:
        run = s.list_runs()[0]
        assert run.status == "completed"
        assert run.config["model"] == "served:initial"
        assert [r.round for r in s.rounds(run.run_id)] == [1, 2]
        assert all(np.isfinite(r.metrics["train_loss"]) for r in s.rounds(run.run_id))
    assert "dataset" not in run.config  # nothing was loaded at the coordinator
    assert {"data", "partition"}.isdisjoint(run.config["job_settings"])  # nor recorded


@pytest.mark.timeout(120)
def test_a_party_installs_its_own_client_mods_named_on_the_command_line(tmp_path: Path) -> None:
    """`rengo party --mod module:attribute` (Flower's ClientApp mods): every update the
    coordinator receives went through the party's own clipping mod, and a class is built."""
    store, outputs = _serve_own_model(
        tmp_path, "--mod", "served:tiny_clip", "--mod", "served:Tagged"
    )
    with RunStore(store) as s:
        run = s.list_runs()[0]
        fits = [r for r in s.client_records(run.run_id) if r.phase == "fit"]
    assert len(fits) == 4 and all(r.status == "ok" for r in fits)
    assert all(0 < r.metrics["update_norm"] <= 0.01 * (1 + 1e-9) for r in fits)
    assert all(r.metrics["tagged"] == 1 for r in fits)
    assert all(re.search(r"run \S+ completed", _flat(out)) for out in outputs), outputs


def test_a_job_naming_its_own_model_is_refused_where_clients_or_parties_are_missing(
    tmp_path: Path,
) -> None:
    (tmp_path / "served.py").write_text(SERVED_MODEL)
    job = tmp_path / "job.toml"
    runner = CliRunner()
    job.write_text(SERVED_JOB)
    result = runner.invoke(app, ["run", str(job), "--no-progress"])
    assert result.exit_code == 2
    assert "is your own model for a deployed coordinator" in " ".join(result.output.split())
    job.write_text(SERVED_JOB.split("[deploy]")[0])
    result = runner.invoke(app, ["coordinator", "--job", str(job), "--insecure"])
    assert result.exit_code == 2
    assert "name the parties to serve, [deploy] parties" in " ".join(result.output.split())
    job.write_text(SERVED_JOB.replace("served:initial", "served:nothing"))
    result = runner.invoke(app, ["coordinator", "--job", str(job), "--insecure"])
    assert result.exit_code == 2
    assert "module 'served' has no attribute 'nothing'" in " ".join(result.output.split())


BINARY = """
[job]
name = "deployed-binary"
seed = 1
rounds = 12
[data]
dataset = "breast_cancer"
[partition]
scheme = "iid"
num_clients = 2
[model]
type = "logistic"
[train]
lr = 0.5
[strategy]
name = "fedavg"
[early_stopping]
metric = "central_loss"
patience = 2
min_delta = 0.01
"""


@pytest.mark.timeout(150)
def test_a_deployed_run_records_the_kept_models_reliability_table_and_test_rows(
    tmp_path: Path,
) -> None:
    """`rengo coordinator --job` records what `rengo run` of the job does: the test split's
    rows and the reliability table of the round early stopping keeps; its card shows them."""
    job, certs, sim_store = _simulated_job(tmp_path, "", base=BINARY)
    store = tmp_path / "deployed.db"
    _deployed(job, certs, store, ("client-0", "client-1"))
    recorded = []
    for path in (sim_store, store):
        with RunStore(path) as s:
            run = s.list_runs()[0]
            assert run.status == "completed" and run.summary is not None
            curve = s.round_metrics(run.run_id)["central_loss"]
            recorded.append(
                (
                    run.summary["test_rows"],
                    run.summary["reliability_round"],
                    run.summary["reliability"],
                    curve[-1][0],
                )
            )
    (rows, kept, table, last), deployed = recorded
    assert rows == 114 and kept < last  # stopped after a round past the kept one
    assert deployed[:2] == (rows, kept)
    assert [b["rows"] for b in deployed[2]] == [b["rows"] for b in table]
    assert [b["mean_probability"] for b in deployed[2]] == pytest.approx(
        [b["mean_probability"] for b in table]
    )
    card = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["runs", "card", run.run_id, "--store", str(store)]
    )
    assert card.exit_code == 0, card.output
    assert f"Of the global model of round {kept} (the model the run keeps)" in card.output
    assert "114 held-out rows" in card.output and "| [0.90, 1.00] |" in card.output


def test_a_coordinator_refuses_a_dropout_section_it_would_ignore(tmp_path: Path):
    """[dropout] simulates lost clients; served, it would be silently ignored."""
    job = tmp_path / "job.toml"
    job.write_text(JOB + "\n[dropout]\ndropout = 0.2\n")
    result = CliRunner().invoke(
        app, ["coordinator", "--job", str(job), "--insecure", "--store", str(tmp_path / "r")]
    )
    flat = " ".join(result.output.split())
    assert result.exit_code == 2, result.output  # a configuration error, as the others
    assert "[dropout] simulates clients lost from rounds" in flat
    assert "rengo run" in flat
