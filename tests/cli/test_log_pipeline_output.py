"""What a log pipeline (journald, ``docker logs``, Promtail, Filebeat) reads from a deployed
horizontal run whose ``rengo coordinator`` and ``rengo party`` processes write to pipes, not
a terminal: one line per event, no progress bar frames or escape codes, a clean run quiet on
stderr; under ``--log-format json`` every stderr line one JSON record with its UTC time, level,
logger and run/round/party, results alone on stdout, and no secret at debug level."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.cli.test_deploy_cli import JOB  # iris, 2 clients, 3 rounds

PARTIES = ("client-0", "client-1")
TOKENS = {"client-0": "tok0-Vq3kP9xZr7LmN2sT", "client-1": "tok1-Hc8wY4dJf6QbE1uA"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_listening(address: str, coordinator: subprocess.Popen[str]) -> None:
    """Wait until ``address`` accepts connections, as a service manager's ordering would
    (a party started before its coordinator warns that it cannot reach it, and retries)."""
    host, port = address.rsplit(":", 1)
    while coordinator.poll() is None:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            threading.Event().wait(0.1)
    raise AssertionError(f"the coordinator exited {coordinator.returncode} before listening")


def _finished(procs: dict[str, subprocess.Popen[str]]) -> dict[str, tuple[str, str]]:
    """Each role's (stdout, stderr) once it exited 0; every process still running is killed
    when one fails or times out."""
    said = {}
    try:
        for role, proc in procs.items():
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"{role} exited {proc.returncode}:\n{out}\n{err}"
            said[role] = (out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    return said


def _deployed_run(tmp_path: Path, auth: str, *flags: str) -> dict[str, tuple[str, str]]:
    """Run JOB deployed (``auth``: certs or tokens) with ``flags`` on every command and
    stdout and stderr piped apart, as a service manager does; each process's (stdout,
    stderr), by role, once all exited 0."""
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    if auth == "certs":
        certs = tmp_path / "certs"
        made = subprocess.run(
            [sys.executable, "-m", "rengo.cli.main", "certs", "init", str(certs),
             "--parties", ",".join(PARTIES)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        coordinator_auth = ["--certs", str(certs)]
        party_auth = {name: ["--certs", str(certs)] for name in PARTIES}
    else:
        tokens = tmp_path / "tokens.toml"
        tokens.write_text("".join(f'{n} = "{t}"\n' for n, t in TOKENS.items()))
        tokens.chmod(0o600)
        coordinator_auth = ["--insecure", "--tokens", str(tokens)]
        party_auth = {name: ["--insecure"] for name in PARTIES}
    address = f"127.0.0.1:{_free_port()}"

    def start(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "rengo.cli.main", *args, *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, **(extra_env or {})},
        )

    coordinator = start(
        "coordinator", "--job", str(job), "--listen", address, *coordinator_auth,
        "--parties", ",".join(PARTIES), "--store", str(tmp_path / "runs.db"),
        "--join-timeout", "60",
    )  # fmt: skip
    procs = {"coordinator": coordinator}
    _wait_until_listening(address, procs["coordinator"])
    for name in PARTIES:
        procs[name] = start(
            "party", "--coordinator", address, "--name", name, "--job", str(job),
            *party_auth[name], "--retry-for", "60",
            extra_env={"RENGO_TOKEN": TOKENS[name]} if auth == "tokens" else None,
        )  # fmt: skip
    return _finished(procs)


def test_piped_output_is_one_line_per_event_with_no_bars_escape_codes_or_warnings(
    tmp_path: Path,
) -> None:
    """Piped, rich wrapped each line at 80 columns (a round's line became two records) and
    printed the progress bar's last frame (box-drawing characters, cut with '…') into the
    file."""
    said = _deployed_run(tmp_path, "certs")
    for role, (out, err) in said.items():
        for text in (out, err):
            assert "\x1b" not in text and "━" not in text and "…" not in text, (role, text)
        assert err == "", (role, err)  # a clean run says nothing on stderr
    coordinator = said["coordinator"][0].splitlines()
    rounds = [line for line in coordinator if line.startswith("round ")]
    assert len(rounds) == 3
    assert all("received" in line for line in rounds), coordinator
    assert coordinator[0].endswith("waiting for client-0, client-1"), coordinator
    assert coordinator[-1].startswith("run ") and coordinator[-1].endswith("completed 3 rounds")
    for name in PARTIES:
        lines = said[name][0].splitlines()
        assert lines[0].startswith(f"{name}: serving ") and lines[0].endswith("coordinator)")
        assert all(line.startswith(f"{name}: ") for line in lines), lines


def _secrets(tmp_path: Path) -> list[str]:
    """What must never reach a log: every private key's base64 body lines and the tokens."""
    found = list(TOKENS.values())
    for key in (tmp_path / "certs").rglob("*.key"):
        body = [line for line in key.read_text().splitlines() if not line.startswith("-----")]
        found += [line for line in body if len(line) >= 16]
        der = base64.b64decode("".join(body))
        found.append(der.hex())
    return found


@pytest.mark.parametrize("auth", ["certs", "tokens"])
def test_json_logs_at_debug_are_one_record_a_line_with_run_round_party_and_no_secrets(
    tmp_path: Path, auth: str
) -> None:
    said = _deployed_run(tmp_path, auth, "--log-format", "json", "--log-level", "debug")
    records: dict[str, list[dict[str, object]]] = {}
    for role, (_, err) in said.items():
        assert err.strip(), role
        records[role] = [json.loads(line) for line in err.splitlines()]  # each line parses
        for record in records[role]:
            assert {"time", "level", "logger", "message"} <= record.keys(), record
            assert str(record["time"]).endswith("+00:00"), record
            assert str(record["logger"]).startswith("rengo"), record
            if record["level"] not in ("DEBUG", "INFO"):  # a clean run: no warnings but
                assert auth == "tokens" and "plain text" in str(record["message"]), record
    coordinator_out = said["coordinator"][0].splitlines()
    assert len(coordinator_out) == 1 and coordinator_out[0].endswith("completed 3 rounds")
    run_id = coordinator_out[0].split()[1]
    rounds = [r for r in records["coordinator"] if str(r["message"]).startswith("round ")]
    assert [r["round"] for r in rounds] == [1, 2, 3], rounds
    assert all(r["run_id"] == run_id for r in rounds), rounds
    for name in PARTIES:
        assert said[name][0] == "", said[name][0]  # a party has no results to print
        assert all(r.get("party") == name for r in records[name])
        # from the coordinator's welcome on, a party's records name the run it serves
        joined = next(i for i, r in enumerate(records[name]) if "connected to" in str(r["message"]))
        assert all(r.get("run_id") == run_id for r in records[name][joined:]), records[name]
        trained = [r for r in records[name] if "trained on" in str(r["message"])]
        assert [r["round"] for r in trained] == [1, 2, 3], trained

    everything = "".join(out + err for out, err in said.values())
    assert "PRIVATE KEY" not in everything
    if auth == "certs":
        for secret in _secrets(tmp_path):
            assert secret not in everything
    for token in TOKENS.values():
        assert token not in everything


def test_text_log_lines_carry_utc_time_level_logger_and_run(tmp_path: Path) -> None:
    said = _deployed_run(tmp_path, "certs", "--log-format", "text")
    lines = said["coordinator"][1].splitlines()
    run_id = said["coordinator"][0].split()[1]
    rounds = [line for line in lines if " round=" in line]
    assert len(rounds) == 3, lines
    for number, line in enumerate(rounds, 1):
        time, level, logger, run, round_, *_ = line.split(" ")
        assert time.endswith("+00:00") and level == "INFO" and logger.startswith("rengo")
        assert run == f"run_id={run_id}" and round_ == f"round={number}", line


def test_rengo_run_piped_prints_no_bar_and_under_json_only_its_result_on_stdout(
    tmp_path: Path,
) -> None:
    """`rengo run` piped wrote its progress bar's last frame into the file and wrapped its
    result line at 80 columns."""
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    command = [sys.executable, "-m", "rengo.cli.main", "run", str(job)]
    plain = subprocess.run(
        [*command, "--store", str(tmp_path / "a.db")], capture_output=True, text=True, env=env
    )
    assert plain.returncode == 0, plain.stderr
    assert "━" not in plain.stdout and "\x1b" not in plain.stdout and plain.stderr == ""
    last = plain.stdout.splitlines()[-1]
    assert last.startswith("run ") and "central_accuracy=" in last and "train_loss=" in last

    logged = subprocess.run(
        [*command, "--store", str(tmp_path / "b.db"), "--log-format", "json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert logged.returncode == 0, logged.stderr
    assert len(logged.stdout.splitlines()) == 1 and logged.stdout.startswith("run ")
    records = [json.loads(line) for line in logged.stderr.splitlines()]
    assert [r["round"] for r in records if "round" in r] == [1, 2, 3], records
    assert all(r["level"] == "INFO" for r in records), records


VERTICAL = Path(__file__).resolve().parents[2] / "examples" / "vertical_regression"


def test_a_deployed_vertical_run_logs_json_lines_with_each_epoch_and_no_key(
    tmp_path: Path,
) -> None:
    """Piped, `rengo vfl coordinator` and `rengo vfl party` wrote their progress bars' last
    frames into the file; under --log-format json each epoch a role ends is a record."""
    text = (VERTICAL / "poisson.toml").read_text()
    text = text.replace("epochs = 20", "epochs = 2").replace("key_bits = 1024", "key_bits = 512")
    for name in ("insurer", "bank", "telecom"):
        text = text.replace(f"data/{name}.csv", str(VERTICAL / "data" / f"{name}.csv"))
    job = tmp_path / "job.toml"
    job.write_text(text)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    rengo = [sys.executable, "-m", "rengo.cli.main"]
    certs = tmp_path / "certs"
    made = subprocess.run(
        [*rengo, "certs", "init", str(certs), "--parties", "insurer,bank,telecom"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    address = f"127.0.0.1:{_free_port()}"
    logs = ["--log-format", "json", "--log-level", "debug"]

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*rengo, "vfl", *args, "--certs", str(certs), *logs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )  # fmt: skip

    coordinator = start(
        "coordinator", "--job", str(job), "--listen", address, "--join-timeout", "60",
        "--store", str(tmp_path / "runs.db"),
    )  # fmt: skip
    procs = {"coordinator": coordinator}
    _wait_until_listening(address, coordinator)
    for name in ("insurer", "bank", "telecom"):
        procs[name] = start("party", "--coordinator", address, "--name", name, "--job", str(job))
    said = _finished(procs)
    run_id = said["coordinator"][0].split()[1].rstrip(":")
    for role, (out, err) in said.items():
        assert "━" not in out + err and "\x1b" not in out + err, role
        records = [json.loads(line) for line in err.splitlines()]
        assert all(r["level"] in ("DEBUG", "INFO") for r in records), records
        assert all(str(r["time"]).endswith("+00:00") for r in records)
        if role == "insurer":  # the label party: its loss at each epoch's end
            epochs = [r for r in records if "epoch" in str(r["message"])]
            assert [str(r["message"]).split(",")[0] for r in epochs] == [
                "insurer: epoch 1/2 done",
                "insurer: epoch 2/2 done",
            ], records
            assert all(r["party"] == "insurer" for r in records)
            assert {r.get("run_id") for r in epochs} == {run_id}, epochs
    assert (
        said["coordinator"][0].startswith("run ") and len(said["coordinator"][0].splitlines()) == 1
    )
    everything = "".join(out + err for out, err in said.values())
    for secret in _secrets(tmp_path):
        if secret not in TOKENS.values():
            assert secret not in everything


def test_a_stopped_command_says_so_on_stderr_leaving_stdout_to_its_results(
    tmp_path: Path,
) -> None:
    """`systemctl stop` (SIGTERM) on `rengo ui`: its 'terminated (SIGTERM)' line went to
    stdout, among what a script reads as the command's output."""
    import signal

    from rengo.tracking import RunStore

    store = tmp_path / "runs.db"
    RunStore(store).close()
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "NO_COLOR": "1"}
    ui = subprocess.Popen(
        [sys.executable, "-m", "rengo.cli.main", "ui", "--store", str(store), "--listen", address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        _wait_until_listening(address, ui)
        ui.send_signal(signal.SIGTERM)
        out, err = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
    assert ui.returncode == 143, (out, err)
    assert out.splitlines() == [
        f"dashboard at http://{address}/ (this machine only); Ctrl-C to stop"
    ]
    assert err.splitlines() == ["terminated (SIGTERM)"], err


def test_a_deployed_dp_run_ends_with_the_privacy_it_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rengo coordinator` ended a central-DP run with "completed 3 rounds" and no epsilon:
    its last line now states the spend as `rengo runs show` does."""
    pytest.importorskip("dp_accounting")
    from rengo.privacy import epsilon_after
    from rengo.privacy.epsilon_text import epsilon_shown

    privacy = (
        '[privacy]\ndp = "central"\nnoise_multiplier = 2.0\ndelta = 1e-3\naccountant = "rdp"\n'
    )
    monkeypatch.setattr(sys.modules[__name__], "JOB", JOB + privacy)
    said = _deployed_run(tmp_path, "certs")
    coordinator = said["coordinator"][0].splitlines()
    assert coordinator[-2].endswith("completed 3 rounds"), coordinator
    spent = epsilon_shown(epsilon_after(3, 2.0, 1e-3, 1.0, "rdp"))
    assert coordinator[-1] == f"privacy: epsilon {spent} at delta 0.001 after 3 rounds"
