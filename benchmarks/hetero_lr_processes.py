"""Hetero LR with every role in its own OS process, over rengo's deployed transport.

The ``-procs`` systems of ``benchmarks/hetero_lr.py``. The thread systems run the
coordinator, the guest and the hosts as threads of one process (the simulation figure:
one GIL, so wall time equals CPU time). Deployed parties are separate processes on
separate machines, and FATE's ranks are separate processes too; here every role is a
process of its own, connected exactly as ``rengo.deploy`` connects them: the coordinator's
role runs on the gRPC hub (:func:`rengo.deploy.serve_role`), each party's role on its own
outbound gRPC connection (:func:`rengo.deploy.run_role`), authenticated by mTLS with
certificates from :func:`rengo.transport.certs.init_certificates` (a fresh federation CA
per run). The role functions are the ones the thread systems run
(:func:`hetero_lr_coordinator`, :func:`hetero_lr_guest`, :func:`hetero_lr_host`) with the
same :class:`HeteroLRConfig` (from :func:`hetero_lr.rengo_config`), the same seed and
the same key length; no PSI and no plan exchange (the rows are aligned, as in the thread
systems and in FATE's run). Only the Channel under the roles differs.

Processes: the harness's measured child (``hetero_lr.py --child-rengo``) is the launcher.
Outside every timed span it creates the certificates and starts one process per role
(``python hetero_lr_processes.py SPEC``) at once; the coordinator's listens on a free
local port and prints its address, which the launcher hands to each party on its stdin.
Each role process imports rengo (``rengo.deploy``, as a deployed party does), loads its
own columns of the CSV files, connects (TLS handshakes, hub registration), and then
passes a start barrier: the coordinator, once every party has joined, sends each
party one ``start`` message in the harness's own scope; each party waits for it.

The timed span of a role process starts right after the barrier and ends when its role
function returns; its CPU seconds (``time.process_time``: every thread of the process,
gRPC's included) cover the same span plus closing the role's obfuscator pools, and add
the CPU of the process's children reaped meanwhile (obfuscator worker processes, which
``close`` reaps) — as the thread systems count their pools. In the span: key generation
(the coordinator's role makes its key pair, as FATE's arbiter does inside its fit), the
whole protocol over gRPC with mTLS, obfuscator tables and worker start-up. Not in it:
interpreter start-up, imports, loading the CSV files, certificates, hub start, TLS
connections and the barrier; after it, each party's linger until the hub ends the run,
writing its report and exiting.

Reported to the harness (the launcher prints one JSON line, as the thread systems do):
``fit_s`` = last role's end minus first role's start (every process's wall clock on this
machine; FATE reports its guest rank's fit), ``cpu_fit_s`` = the sum over every role
process, ``fit_started_at`` (so the harness can tell start-up from fit, as for FATE),
per-role fit wall and CPU, per-role seconds spent waiting for a core during the fit (the
threads' run-queue wait from /proc: near 0 on a quiet machine; on a busy one it says the
fit wall measures the machine, not rengo), the train AUC of the joint model (``--model linear``:
its train MSE and R²; the roles then train with the squared loss), and the ciphertext
operation counts of :class:`hetero_lr.OperationCounts` that each process counted for its
own role, summed per role across processes. The harness's own measurement of the
launcher's process tree (wall, CPU, peak PSS) includes every role process and their
workers.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hetero_lr import (
    OperationCounts,
    host_features,
    load,
    model_of,
    objective_of,
    quality,
    rengo_config,
)

BARRIER_SCOPE = "benchmark-start"
JOIN_TIMEOUT_S = 120.0
COORDINATOR = "coordinator"


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _runqueue_wait_seconds() -> float:
    """Seconds this process's threads have waited, runnable, for a core (Linux
    ``/proc/self/task/*/schedstat``, summed over threads; 0 elsewhere): how busy the machine
    was, not what the role did."""
    total = 0
    tasks = Path("/proc/self/task")
    for task in tasks.iterdir() if tasks.is_dir() else []:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _timed(
    protocol: Callable[[Any], Any],
    counts: OperationCounts,
    parties: list[str],
    out: dict[str, Any],
) -> Callable[[Any], Any]:
    """``protocol`` behind the start barrier, its fit wall and CPU written into ``out``."""

    def role(channel: Any) -> Any:
        barrier = channel.scope(BARRIER_SCOPE)
        if channel.name == COORDINATOR:
            for party in parties:
                barrier.send(party, "start", 1)
        else:
            barrier.recv(COORDINATOR, "start")
        children, cpu = _children_cpu_seconds(), time.process_time()
        waited = _runqueue_wait_seconds()
        started_at, start = time.time(), time.perf_counter()
        result = protocol(channel)
        out["fit_s"] = time.perf_counter() - start
        out["runqueue_wait_s"] = _runqueue_wait_seconds() - waited
        out["started_at"], out["ended_at"] = started_at, started_at + out["fit_s"]
        counts.close_pools()  # worker processes, if any, are reaped and counted
        out["cpu_fit_s"] = time.process_time() - cpu + _children_cpu_seconds() - children
        return result

    return role


def role_process(spec: dict[str, Any]) -> None:
    """One role of the run, in this process; writes ``<scratch>/<role>.json``."""
    from rengo.deploy import run_role, serve_role
    from rengo.transport.grpc_security import HubSecurity, PartyCredentials
    from rengo.vfl.hetero_lr.roles import (
        hetero_lr_coordinator,
        hetero_lr_guest,
        hetero_lr_host,
    )

    name, certs = spec["role"], Path(spec["certs"])
    _, x_guest, y, x_host = load(spec["rows"])
    host_names, host_x = host_features(x_host, spec["hosts"])
    parties = ["guest", *host_names]
    config = rengo_config(spec)
    objective = objective_of(spec)
    counts = OperationCounts(process_role=name)
    counts.install()
    timing: dict[str, Any] = {}
    report: dict[str, Any] = {"role": name}
    if name == COORDINATOR:
        coordinator = _timed(
            lambda c: hetero_lr_coordinator(c, parties, "guest", key_bits=spec["bits"]),
            counts,
            parties,
            timing,
        )

        def listening(hub: Any) -> None:
            print(json.dumps({"address": hub.address}), flush=True)

        result = serve_role(
            coordinator,
            "127.0.0.1:0",
            HubSecurity.from_directory(certs, parties=parties),
            parties,
            join_timeout=JOIN_TIMEOUT_S,
            on_listening=listening,
        )
        report["epochs"] = result.epochs_run
    else:
        if name == "guest":
            protocol: Callable[[Any], Any] = lambda c: hetero_lr_guest(  # noqa: E731
                c, x_guest, y, host_names, config, seed=1, objective=objective
            )
        else:
            features = host_x[name]
            protocol = lambda c: hetero_lr_host(  # noqa: E731
                c, features, "guest", objective=objective
            )
        line = sys.stdin.readline()  # the launcher passes the hub's address on
        if not line:
            sys.exit(f"{name}: no hub address (the coordinator's process did not listen)")
        address = json.loads(line)["address"]
        result = run_role(
            address,
            name,
            _timed(protocol, counts, parties, timing),
            PartyCredentials.from_directory(certs, name),
            connect_timeout=JOIN_TIMEOUT_S,
        )
        report["weights"] = np.asarray(result.weights, dtype=float).tolist()
        if name == "guest":
            report["intercept"] = float(result.intercept)
            report["epochs"] = result.epochs_run
    report.update(timing, operations=counts.per_role(1))
    (certs.parent / f"{name}.json").write_text(json.dumps(report))


def _start(spec: dict[str, Any], **pipes: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, json.dumps(spec)], text=True, **pipes)


def run_role_processes(spec: dict[str, Any]) -> dict[str, Any]:
    """The launcher: one process per role, their reports combined (see the module
    docstring for what is timed).

    Raises
    ------
    RuntimeError
        If a role process fails (each one's exit code is named; its error is in the log).
    """
    from rengo.transport.certs import init_certificates

    _, x_guest, y, x_host = load(spec["rows"])
    host_names, host_x = host_features(x_host, spec["hosts"])
    parties = ["guest", *host_names]
    with tempfile.TemporaryDirectory(prefix="rengo-bench-roles-") as scratch:
        certs = Path(scratch) / "certs"
        init_certificates(certs, parties)
        base = {**spec, "certs": str(certs)}
        coordinator = _start({**base, "role": COORDINATOR}, stdout=subprocess.PIPE)
        # every role process imports and loads its data at once; a party then waits on its
        # stdin for the hub's address (its stdout goes to the log's stderr side: only the
        # launcher prints JSON lines)
        started = {
            name: _start({**base, "role": name}, stdin=subprocess.PIPE, stdout=sys.stderr)
            for name in parties
        }
        assert coordinator.stdout is not None
        line = coordinator.stdout.readline()
        for proc in started.values():
            assert proc.stdin is not None
            if line:
                proc.stdin.write(line)
            proc.stdin.close()  # without an address the party stops at once
        if not line:
            raise RuntimeError(f"the coordinator exited ({coordinator.wait()}) before listening")
        codes = {name: proc.wait() for name, proc in started.items()}
        coordinator.stdout.read()
        codes[COORDINATOR] = coordinator.wait()
        failed = {name: code for name, code in codes.items() if code != 0}
        if failed:
            raise RuntimeError(f"role processes failed (exit codes): {failed}")
        reports = {
            name: json.loads((Path(scratch) / f"{name}.json").read_text())
            for name in [COORDINATOR, *parties]
        }
    guest = reports["guest"]
    score = x_guest @ np.asarray(guest["weights"]) + guest["intercept"]
    for name in host_names:
        score = score + host_x[name] @ np.asarray(reports[name]["weights"])
    first = min(r["started_at"] for r in reports.values())
    last = max(r["ended_at"] for r in reports.values())
    epochs = int(guest["epochs"])
    return {
        "fit_s": last - first,
        "cpu_fit_s": sum(r["cpu_fit_s"] for r in reports.values()),
        "fit_started_at": first,
        "fit_s_by_role": {name: r["fit_s"] for name, r in reports.items()},
        "cpu_fit_s_by_role": {name: r["cpu_fit_s"] for name, r in reports.items()},
        "runqueue_wait_s_by_role": {name: r["runqueue_wait_s"] for name, r in reports.items()},
        **quality(model_of(spec), y, score),
        "epochs": epochs,
        "operations_per_epoch": combine_operations(
            [r["operations"] for r in reports.values()], epochs
        ),
    }


def combine_operations(
    per_process: list[dict[str, dict[str, Any]]], epochs: int
) -> dict[str, dict[str, Any]]:
    """Each process's per-role operation totals summed per role, per epoch (a role's
    obfuscator scheme, a name, is kept as it is)."""
    out: dict[str, dict[str, Any]] = {}
    for counts in per_process:
        for role, ops in counts.items():
            entry = out.setdefault(role, {})
            for key, value in ops.items():
                if isinstance(value, (int, float)):
                    entry[key] = entry.get(key, 0) + value / epochs
                else:
                    entry[key] = value
    return out


if __name__ == "__main__":
    role_process(json.loads(sys.argv[1]))
