"""Benchmark: coordinated hetero LR (or linear regression), rengo vs FATE 2.2, side by side.

Data: FATE's ``default_credit_hetero_{guest,host}`` (30,000 rows; guest 13 features + label,
host 10 features; with ``--hosts 2`` the host's columns are split 5 + 5 between two hosts).
Settings shared by both systems: Paillier keys of ``--bits``, batch ``--batch-size`` (10,000),
``--epochs`` (2), SGD at learning rate 1.0 (``--model linear``: 0.2), L2 1e-3 (intercept not
penalised), zero start, a fixed number of epochs (no early stopping on either side).

Models (``--model``):

* ``lr`` (default): coordinated logistic regression — FATE's
  ``CoordinatedLRModule{Arbiter,Guest,Host}``, rengo's hetero LR (Taylor loss); the
  table reports the train AUC.
* ``linear``: coordinated linear regression (squared loss) on the same data and split, the
  0/1 label taken as a continuous target (a timing case; the model is a linear probability
  model) — FATE's ``CoordinatedLinRModule{Arbiter,Guest,Host}``, rengo's hetero linear
  regression (the same protocol and roles with :data:`rengo.vfl.hetero_lr.objective.SQUARED`,
  configured by :class:`rengo.vfl.hetero_linear.HeteroLinearConfig`); the table reports the
  train mean squared error and R² of each system's joint model, and the run prints those of
  scikit-learn's ``LinearRegression`` and ``Ridge`` (``alpha = n_rows * l2``, as rengo's
  ``l2``) fitted on the joined columns as a reference. The learning rate is 0.2 for both
  systems: with the squared loss the largest eigenvalue of ``X^T X / n`` (intercept column
  included) is about 6.5 on these columns, so SGD at 1.0 diverges (it needs a rate below
  ~0.3). FATE 2.2 has no hetero Poisson module (``fate.ml.glm`` holds coordinated LR, LinR,
  SSHE LR/LinR and homo LR), so rengo's hetero Poisson regression has no anchor here.

Every run is its own OS process, started from here and measured the same way for every
system: wall time and CPU seconds (user + system) of the whole process tree (``wait4``
counts every descendant that was waited for), the peak summed PSS of the tree (sampled
from /proc), the load average when it started, and — reported by the run itself — the
wall and CPU seconds of the fit alone (FATE: the guest rank's ``module.fit`` wall, the CPU
of every rank's process tree during its ``module.fit``; rengo threads: the one process, all
role threads; rengo ``-procs``: first role's start to last role's end, the CPU of every role
process and its worker processes during its role — key generation included in both, as in
FATE's arbiter), and the train AUC of the joint model. Systems are interleaved
(FATE, rengo local, rengo dealt, ... then again) for ``--repeats`` rounds; medians and
ranges are printed, and ratios only between systems of this invocation. The default
systems are ``fate``, ``rengo-local-djn`` (+ ``-procs``), ``rengo-local-full``,
``rengo-dealt`` (+ ``-procs``).

Systems:

* ``fate``: FATE 2.2 ``CoordinatedLRModule{Arbiter,Guest,Host}`` (``--model linear``:
  ``CoordinatedLinRModule{Arbiter,Guest,Host}``) through FATE's standalone
  multiprocess launcher (``benchmarks/hetero_lr_fate.py``, run by the bench venv). The run
  also checks every Paillier ciphertext that each FATE party *received* and prints how many
  have the unrandomised form ``1 + n*m`` — and how many of the guest's labels (linear
  regression: targets) the host read out of the first batch with the public key alone.
* ``rengo-local-djn``: rengo's default — each party makes its own obfuscators, as DJN
  short exponents (``l = ceil(k/2)``) from a fixed-base table
  (``obfuscator_scheme="djn"``, :class:`rengo.crypto.ShortExponentObfuscators`).
* ``rengo-local-full``: each party's own obfuscators as Paillier's full ``r^n``
  (``obfuscator_scheme="full"``: DCR alone; the default before issue 15).
* ``rengo-dealt``: the coordinator deals CRT obfuscators (``obfuscator_source="coordinator"``).
* ``rengo-local-djn-workers``: the default with each party's obfuscators made in one worker
  process (``obfuscator_processes=1``), so table lookups leave the GIL to the other roles.
* ``rengo-local-djn-short``: each party's own DJN obfuscators with the opt-in shorter
  exponents, twice the key's security bits (``obfuscator_scheme="djn-short"``: 224 bits at
  1024- and 2048-bit keys), same assumption as the default, 2-4x cheaper per obfuscator.
* ``rengo-local-djn-procs``, ``rengo-dealt-procs``, ``rengo-local-djn-workers-procs``,
  ``rengo-local-djn-short-procs``: the
  same configurations with every role (coordinator, guest, each host) in its own OS
  process, connected as deployed parties are — the coordinator's role on rengo's gRPC hub,
  each party's role on its own mTLS connection (``rengo.deploy.serve_role`` /
  ``run_role``), as FATE's ranks are separate processes. The thread systems are the
  simulation figure: one process, one GIL, so their wall time is their CPU time. What the
  ``-procs`` fit span holds (from a start barrier after imports, data loading and
  connecting, to the last role's end; key generation in it) is in
  ``benchmarks/hetero_lr_processes.py``; the table also prints their start-up before and
  after the fit, as for FATE, and each role's fit CPU.

Every rengo system is a configuration of the protocol (:class:`HeteroLRConfig`, or
:class:`HeteroLinearConfig` for ``--model linear``: optimizer ``"sgd"`` and ``tol=0``, which
turns off both early stopping and the adaptive schedule's cuts, so every epoch runs at the
constant rate as in FATE); nothing is patched. Shared measuring code (bench venv, process
trees, spreads) is in ``benchmarks/fate_bench.py``.

For rengo the run also counts ciphertext operations per role and epoch: obfuscators made
(ahead of use / on demand) and used (one per encryption, re-randomisation or mask),
decryptions, and the multi-exponentiations of ``Enc(d)^T X`` (rows x columns terms); in
the ``-procs`` systems each role's process counts its own, summed per role. It also splits
each role's obfuscator time into offline and online wall seconds (``PoolStats``):
``obfuscator_s_ahead``, made ahead of use while the peers work, and
``obfuscator_s_on_demand``, spent inside ``take`` on the protocol's critical path.
With FATE in the run, each rengo system with local randomness also gets its obfuscator
floor: obfuscators used per epoch times one obfuscator's CPU (its scheme, its table, timed
here after the runs), the share of the system's fit CPU that is, and FATE's CPU over it -
the most any implementation that makes those obfuscators could be ahead of FATE here.

Set-up (once; FATE lives in its own venv ``.bench-venv-fate``, shared with
``benchmarks/secureboost.py``, never in .venv; ``--fate-venv`` points at another)::

    .venv/bin/python benchmarks/hetero_lr.py --setup

Run::

    .venv/bin/python benchmarks/hetero_lr.py --bits 1024 --repeats 3
    .venv/bin/python benchmarks/hetero_lr.py --bits 2048 --epochs 1 --systems fate rengo-local-djn
    .venv/bin/python benchmarks/hetero_lr.py --bits 1024 --hosts 2
    .venv/bin/python benchmarks/hetero_lr.py --rows 3000 --repeats 1   # a quick check
    .venv/bin/python benchmarks/hetero_lr.py --systems rengo-local-djn rengo-local-djn-procs
    .venv/bin/python benchmarks/hetero_lr.py --bits 2048 --systems fate rengo-local-djn-procs \
        rengo-local-djn-short-procs
    .venv/bin/python benchmarks/hetero_lr.py --model linear --systems fate rengo-local-djn-procs
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fate_bench import (
    FATE_VENV,
    ProcessRun,
    become_subreaper,
    fate_python,
    run_process,
    setup,
    spread,
)

if TYPE_CHECKING:
    from rengo.crypto import LocalObfuscatorScheme, PaillierPublicKey

FATE_SCRIPT = Path(__file__).resolve().with_name("hetero_lr_fate.py")
PROCESSES_SUFFIX = "-procs"
SYSTEMS = (
    "fate",
    "rengo-local-djn",
    "rengo-local-djn-procs",
    "rengo-local-full",
    "rengo-dealt",
    "rengo-dealt-procs",
    "rengo-local-djn-workers",
    "rengo-local-djn-workers-procs",
    "rengo-local-djn-short",
    "rengo-local-djn-short-procs",
)
DEFAULT_SYSTEMS = SYSTEMS[:6]
LOCAL_SCHEMES = {"rengo-local-full": "full", "rengo-local-djn-short": "djn-short"}
"""The ``obfuscator_scheme`` of the systems that do not use the default ``"djn"``."""
MODELS = ("lr", "linear")
L2 = 1e-3
LEARNING_RATES = {"lr": 1.0, "linear": 0.2}
"""SGD's (constant) learning rate per model, the same for both systems (see the docstring:
the squared loss diverges at 1.0 on these columns)."""
LEARNING_RATE = LEARNING_RATES["lr"]


# ------------------------------------------------------------------------------- data
def data_files() -> tuple[Path, Path]:
    from rengo.data.shared import shared_data_dir

    folder = shared_data_dir("fate")
    return folder / "default_credit_hetero_guest.csv", folder / "default_credit_hetero_host.csv"


def load(rows: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, guest features, labels, host features)`` of default_credit, first ``rows``."""
    from rengo.core.errors import DataError

    guest_file, host_file = data_files()
    guest = np.loadtxt(guest_file, delimiter=",", skiprows=1)
    host = np.loadtxt(host_file, delimiter=",", skiprows=1)
    if not np.array_equal(guest[:, 0], host[:, 0]):
        raise DataError("guest and host files are not row-aligned")
    keep = slice(None) if rows is None else slice(0, rows)
    return guest[keep, 0], guest[keep, 2:], guest[keep, 1], host[keep, 1:]


def host_column_groups(hosts: int, columns: int) -> list[np.ndarray]:
    """The host columns each of ``hosts`` feature parties holds (contiguous, near-equal)."""
    return [np.asarray(part) for part in np.array_split(np.arange(columns), hosts)]


def write_fate_inputs(folder: Path, hosts: int, rows: int | None) -> tuple[Path, list[Path]]:
    """CSV files in FATE's layout for this case (the shared files when nothing changes)."""
    guest_file, host_file = data_files()
    if hosts == 1 and rows is None:
        return guest_file, [host_file]
    ids, x_guest, y, x_host = load(rows)
    guest_out = folder / "guest.csv"
    header = "id,y," + ",".join(f"x{i}" for i in range(x_guest.shape[1]))
    np.savetxt(
        guest_out,
        np.column_stack([ids, y, x_guest]),
        delimiter=",",
        header=header,
        comments="",
        fmt=["%d", "%d", *["%.10g"] * x_guest.shape[1]],
    )
    outs = []
    for k, cols in enumerate(host_column_groups(hosts, x_host.shape[1])):
        path = folder / f"host{k}.csv"
        header = "id," + ",".join(f"x{i}" for i in range(len(cols)))
        np.savetxt(
            path,
            np.column_stack([ids, x_host[:, cols]]),
            delimiter=",",
            header=header,
            comments="",
            fmt=["%d", *["%.10g"] * len(cols)],
        )
        outs.append(path)
    return guest_out, outs


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    from rengo.metrics import roc_auc as auc

    return auc(y, score)


def model_of(spec: dict[str, Any]) -> str:
    """The case's model (``"lr"`` when a spec names none)."""
    return str(spec.get("model", "lr"))


def quality(model: str, y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """The train metrics of a joint model's linear predictor ``score``: AUC for LR, mean
    squared error and R² for linear regression."""
    if model == "lr":
        return {"auc": roc_auc(y, score)}
    from rengo.metrics import r2_score

    return {"mse": float(np.mean((score - y) ** 2)), "r2": r2_score(y, score)}


def objective_of(spec: dict[str, Any]) -> Any:
    """The loss rengo's guest and hosts train for the case's model."""
    from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR, SQUARED

    return SQUARED if model_of(spec) == "linear" else LOGISTIC_TAYLOR


def reference_fits(rows: int | None) -> dict[str, dict[str, float]]:
    """Train MSE and R² of scikit-learn's ``LinearRegression`` and ``Ridge`` (``alpha =
    n_rows * l2``, rengo's ``l2`` on the mean loss; intercept not penalised) fitted in
    plaintext on the joined columns: the optimum the federated runs approach."""
    from sklearn.linear_model import LinearRegression, Ridge

    _, x_guest, y, x_host = load(rows)
    x = np.hstack([x_guest, x_host])
    out = {}
    for name, model in (
        ("LinearRegression", LinearRegression()),
        (f"Ridge(alpha={len(y) * L2:g})", Ridge(alpha=len(y) * L2)),
    ):
        out[name] = quality("linear", y, model.fit(x, y).predict(x))
    return out


def quality_text(model: str, reports: list[dict[str, Any]]) -> str:
    """The distinct train metrics of ``reports`` (4 decimals), for the table."""
    keys = ("auc",) if model == "lr" else ("mse", "r2")
    seen = sorted({tuple(round(r[k], 4) for k in keys) for r in reports})
    return "/".join(" ".join(f"{v:.4f}" for v in values) for values in seen) or "-"


# ------------------------------------------------------------------ rengo (child run)
class OperationCounts:
    """Counts rengo's ciphertext operations per role, by wrapping the crypto entry points
    in this (benchmark) process. Roles run as threads named ``role-<name>``, or — in the
    process mode — one role per process, named by ``process_role``."""

    def __init__(self, process_role: str | None = None) -> None:
        self.pools: list[tuple[str, Any]] = []
        self.decryptions = 0
        self.multiexp: dict[str, dict[str, int]] = {}
        self.process_role = process_role
        self._inside = threading.local()

    def role(self) -> str:
        if self.process_role is not None:
            return self.process_role
        name = threading.current_thread().name
        return name[len("role-") :] if name.startswith("role-") else "other"

    def install(self) -> None:
        import rengo.crypto.encrypted_array as encrypted_array
        import rengo.crypto.keys as keys
        import rengo.crypto.obfuscators as obfuscators

        counts = self
        pool_class = obfuscators.ObfuscatorPool
        original_init = pool_class.__init__

        def init(pool: Any, public_key: Any, **kwargs: Any) -> None:  # records, changes nothing
            original_init(pool, public_key, **kwargs)
            counts.pools.append((counts.role(), pool))

        pool_class.__init__ = init  # type: ignore[method-assign]

        decrypt_array = keys.PaillierPrivateKey.raw_decrypt_array

        def counted_decrypt(key: Any, ciphertexts: np.ndarray) -> np.ndarray:
            counts.decryptions += int(np.size(ciphertexts))
            return decrypt_array(key, ciphertexts)

        keys.PaillierPrivateKey.raw_decrypt_array = counted_decrypt  # type: ignore[method-assign]

        def counting(fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(encrypted: Any, matrix: Any, *args: Any, **kwargs: Any) -> Any:
                if getattr(counts._inside, "active", False):
                    return fn(encrypted, matrix, *args, **kwargs)
                counts._inside.active = True
                try:
                    shape = np.shape(matrix)
                    rows = shape[0] if shape else 1
                    cols = shape[1] if len(shape) > 1 else 1
                    outputs = cols * (encrypted.size // max(1, encrypted.shape[-1]))
                    entry = counts.multiexp.setdefault(
                        counts.role(), {"calls": 0, "terms": 0, "outputs": 0}
                    )
                    entry["calls"] += 1
                    entry["terms"] += rows * outputs
                    entry["outputs"] += outputs
                    return fn(encrypted, matrix, *args, **kwargs)
                finally:
                    counts._inside.active = False

            return wrapper

        encrypted_array.EncryptedArray.matmul = counting(  # type: ignore[method-assign]
            encrypted_array.EncryptedArray.matmul
        )
        for name, module in list(sys.modules.items()):
            if name.startswith("rengo.vfl") and hasattr(module, "encrypted_matmul"):
                module.encrypted_matmul = counting(module.encrypted_matmul)

    def close_pools(self) -> None:
        for _, pool in self.pools:
            pool.close()

    def per_role(self, epochs: int) -> dict[str, dict[str, float]]:
        """Counts per role and epoch (``epochs=1``: totals)."""
        out: dict[str, dict[str, float]] = {}
        for role, pool in self.pools:
            stats = pool.stats
            entry = out.setdefault(
                role, {"obfuscators_made_ahead": 0, "obfuscators_made_on_demand": 0}
            )
            entry["obfuscators_made_ahead"] += stats.made_ahead / epochs
            entry["obfuscators_made_on_demand"] += stats.made_on_demand / epochs
            entry["obfuscators_used"] = entry.get("obfuscators_used", 0) + stats.taken / epochs
            # offline (made ahead, while the peers work) vs online (inside take) wall seconds
            entry["obfuscator_s_ahead"] = (
                entry.get("obfuscator_s_ahead", 0.0) + stats.seconds_ahead / epochs
            )
            entry["obfuscator_s_on_demand"] = (
                entry.get("obfuscator_s_on_demand", 0.0) + stats.seconds_on_demand / epochs
            )
            made = getattr(pool.scheme, "inner", pool.scheme)  # worker processes wrap it
            bits = getattr(made, "exponent_bits", None)  # DJN: the short exponents' length
            entry["obfuscator_scheme"] = (  # type: ignore[assignment]
                pool.method if bits is None else f"{pool.method} ({bits}-bit exponents)"
            )
        out.setdefault("coordinator", {})["decryptions"] = self.decryptions / epochs
        for role, entry in self.multiexp.items():
            target = out.setdefault(role, {})
            target["multiexp_terms"] = entry["terms"] / epochs
            target["multiexp_outputs"] = entry["outputs"] / epochs
        return out


def rengo_config(spec: dict[str, Any]) -> Any:
    """The :class:`HeteroLRConfig` (``--model linear``: :class:`HeteroLinearConfig`) of a
    rengo system (a ``-procs`` system: its thread twin's configuration; only where the
    roles run differs). ``tol=0``: no early stopping and no adaptive cut of the rate
    (:func:`rengo.vfl.hetero_lr.math.adaptive_lr_scale` keeps it at 1), so every epoch
    runs at ``learning_rate``, as FATE's runs do."""
    from rengo.vfl.hetero_linear.config import HeteroLinearConfig
    from rengo.vfl.hetero_lr.config import HeteroLRConfig

    system = spec["system"].removesuffix(PROCESSES_SUFFIX)
    model = model_of(spec)
    config_type = HeteroLinearConfig if model == "linear" else HeteroLRConfig
    return config_type(
        epochs=spec["epochs"],
        batch_size=spec["batch_size"],
        learning_rate=LEARNING_RATES[model],
        optimizer="sgd",
        l2=L2,
        tol=0.0,
        obfuscator_source="coordinator" if system == "rengo-dealt" else "local",
        obfuscator_scheme=LOCAL_SCHEMES.get(system, "djn"),
        obfuscator_processes=1 if system.endswith("-workers") else 0,
    )


def host_features(x_host: np.ndarray, hosts: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """The host parties' names and each one's columns of the host table."""
    groups = host_column_groups(hosts, x_host.shape[1])
    host_names = [f"host{k}" for k in range(hosts)]
    return host_names, {
        name: x_host[:, cols] for name, cols in zip(host_names, groups, strict=True)
    }


def run_rengo(spec: dict[str, Any]) -> dict[str, Any]:
    """One rengo training run (the child side of the harness): every role a thread of this
    process, or — for a ``-procs`` system — every role its own process
    (``benchmarks/hetero_lr_processes.py``)."""
    if spec["system"].endswith(PROCESSES_SUFFIX):
        from hetero_lr_processes import run_role_processes

        return run_role_processes(spec)
    from rengo.crypto import generate_paillier_keypair
    from rengo.transport.channel import LocalBus, run_roles
    from rengo.vfl.hetero_lr.roles import (
        hetero_lr_coordinator,
        hetero_lr_guest,
        hetero_lr_host,
    )

    bits = spec["bits"]
    _, x_guest, y, x_host = load(spec["rows"])
    host_names, host_x = host_features(x_host, spec["hosts"])
    counts = OperationCounts()
    counts.install()
    config = rengo_config(spec)
    objective = objective_of(spec)
    parties = ["guest", *host_names]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_start, start = time.process_time(), time.perf_counter()
    keypair = generate_paillier_keypair(bits)
    bus = LocalBus(["coordinator", *parties])

    def host_role(name: str) -> Callable[[Any], Any]:
        return lambda channel: hetero_lr_host(channel, host_x[name], "guest", objective=objective)

    results = run_roles(
        bus,
        {
            "coordinator": lambda c: hetero_lr_coordinator(c, parties, "guest", keypair=keypair),
            "guest": lambda c: hetero_lr_guest(
                c, x_guest, y, host_names, config, seed=1, objective=objective
            ),
            **{name: host_role(name) for name in host_names},
        },
    )
    fit_s = time.perf_counter() - start
    counts.close_pools()  # worker processes, if any, are reaped and counted below
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_fit = (
        time.process_time()
        - cpu_start
        + sum(getattr(after, f) - getattr(children, f) for f in ("ru_utime", "ru_stime"))
    )
    guest = results["guest"]
    score = x_guest @ guest.weights + guest.intercept
    for name in host_names:
        score = score + host_x[name] @ results[name].weights
    return {
        "fit_s": fit_s,
        "cpu_fit_s": cpu_fit,
        **quality(model_of(spec), y, score),
        "epochs": guest.epochs_run,
        "operations_per_epoch": counts.per_role(guest.epochs_run),
    }


# --------------------------------------------------------------- processes (parent)
def rengo_run(case: dict[str, Any], system: str) -> ProcessRun:
    spec = {**case, "system": system}
    command = [sys.executable, __file__, "--child-rengo", json.dumps(spec)]
    # the child runs in a scratch folder: tell it where the shared data is
    env = {**os.environ, "RENGO_SHARED_DATA": str(data_files()[0].parents[1])}
    started = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        run = run_process(system, command, env, Path(scratch))
    lines = [line for line in run.log_tail.splitlines() if line.startswith("{")]
    if run.returncode == 0 and lines:
        run.report = json.loads(lines[-1])
        if "fit_started_at" in run.report:  # the process mode: start-up as for FATE
            before = run.report["fit_started_at"] - started
            run.report["startup_s"] = before
            run.report["after_fit_s"] = run.wall_s - before - run.report["fit_s"]
    return run


def fate_run(case: dict[str, Any], venv: Path) -> ProcessRun:
    python = fate_python(venv)
    hosts, model = case["hosts"], model_of(case)
    with tempfile.TemporaryDirectory(prefix="rengo-bench-fate-") as scratch:
        folder = Path(scratch)
        guest_csv, host_csvs = write_fate_inputs(folder, hosts, case["rows"])
        out = folder / "out"
        out.mkdir()
        parties = ["guest:9999", *[f"host:{10000 + k}" for k in range(hosts)], "arbiter:9000"]
        command = [
            str(python),
            str(FATE_SCRIPT),
            "--parties",
            *parties,
            "--log_level",
            "WARNING",
            "--data_dir",
            str(folder / "fate-data"),
            "--guest_data",
            str(guest_csv),
            "--host_data",
            ",".join(str(p) for p in host_csvs),
            "--out_dir",
            str(out),
            "--key_bits",
            str(case["bits"]),
            "--epochs",
            str(case["epochs"]),
            "--batch_size",
            str(case["batch_size"]),
            "--learning_rate",
            str(LEARNING_RATES[model]),
            "--l2",
            str(L2),
            "--model",
            model,
        ]
        env = {**os.environ, "PYTHONPATH": "", "PYTHONWARNINGS": "ignore"}
        started = time.time()
        run = run_process("fate", command, env, folder)
        reports = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
        if run.returncode == 0 and reports:
            run.report = summarise_fate(reports, case, started, run.wall_s)
    return run


def summarise_fate(
    reports: dict[str, dict[str, Any]], case: dict[str, Any], started: float, wall: float
) -> dict[str, Any]:
    """Fit time (the guest's), fit CPU (every rank), AUC (linear regression: MSE and R²),
    and what the parties received."""
    guest = next(r for r in reports.values() if r["role"] == "guest")
    hosts = sorted((r for r in reports.values() if r["role"] == "host"), key=lambda r: r["party"])
    _, x_guest, y, x_host = load(case["rows"])
    weights = np.asarray(guest["weights"])
    score = x_guest @ weights[:-1] + weights[-1]
    for host, cols in zip(hosts, host_column_groups(len(hosts), x_host.shape[1]), strict=True):
        score = score + x_host[:, cols] @ np.asarray(host["weights"])
    received: dict[str, dict[str, int]] = {}
    for report in reports.values():
        for name, seen in report["received"].items():
            if isinstance(seen, dict):
                entry = received.setdefault(
                    f"{report['role']}<-{name}", {"ciphertexts": 0, "of_form_1_plus_n_m": 0}
                )
                entry["ciphertexts"] += seen["ciphertexts"]
                entry["of_form_1_plus_n_m"] += seen["of_form_1_plus_n_m"]
    recovered = None
    read = [r["labels_read_by_host_batch0"] for r in hosts if r["labels_read_by_host_batch0"]]
    if read and guest["labels_batch0"]:
        truth = np.asarray(guest["labels_batch0"], dtype=float)
        # LR: -1/+1 from a sign (0: a randomised ciphertext); linear regression: the target
        # itself (NaN: a randomised ciphertext)
        seen = np.asarray(read[0], dtype=float)
        right = seen == truth if model_of(case) == "lr" else np.abs(seen - truth) < 1e-6
        recovered = {"rows": len(truth), "labels_read_correctly": int(right.sum())}
    fit_start = guest["fit_started_at"]
    return {
        "fit_s": guest["fit_s"],
        "cpu_fit_s": sum(r["cpu_fit_s"] for r in reports.values()),
        **quality(model_of(case), y, score),
        "epochs": case["epochs"],
        "startup_s": fit_start - started,
        "after_fit_s": wall - (fit_start - started) - guest["fit_s"],
        "received": received,
        "host_read_batch0_labels": recovered,
    }


# --------------------------------------------------------------------------- report
@functools.cache
def public_key(bits: int) -> PaillierPublicKey:
    """One public key of ``bits`` bits for this process's measurements (made once: a
    2048-bit key takes seconds)."""
    from rengo.crypto import generate_paillier_keypair

    return generate_paillier_keypair(bits)[0]


def obfuscator_cpu_s(
    bits: int, scheme: LocalObfuscatorScheme, expected_count: int, sample: int = 600
) -> float:
    """CPU seconds of one obfuscator of ``scheme`` at ``bits``-bit keys, from a table sized
    for ``expected_count`` as the runs size theirs, measured in this process (after the
    runs, so nothing else runs beside it); the table's build is not counted."""
    from rengo.crypto import ObfuscatorPool

    pool = ObfuscatorPool.for_encryptor(public_key(bits), scheme, expected_count=expected_count)
    pool.take(10)  # warm
    start = time.process_time()
    pool.take(sample)
    return (time.process_time() - start) / sample


def print_obfuscator_floor(
    case: dict[str, Any], runs: list[ProcessRun], medians: dict[str, tuple[float, float]]
) -> None:
    """How much of each rengo system's CPU its obfuscators alone take (obfuscators used
    per epoch x one obfuscator's CPU, measured here), and the largest CPU ratio to FATE that
    any implementation making those obfuscators could reach on this machine."""
    epochs = case["epochs"]
    for system, (_, cpu) in medians.items():
        ok = [r for r in runs if r.system == system and r.report] if system != "fate" else []
        if not ok:
            continue
        config = rengo_config({**case, "system": system})
        if config.obfuscator_source != "local":  # dealt: the coordinator's CRT obfuscators
            continue
        roles = ok[-1].report["operations_per_epoch"].values()
        used = sum(ops.get("obfuscators_used", 0) for ops in roles if "obfuscator_scheme" in ops)
        if not used:
            continue
        local = [ops for ops in roles if ops.get("obfuscator_scheme", "").startswith("djn")]
        scheme = config.obfuscator_scheme
        per_role = max(ops["obfuscators_used"] for ops in local) if local else used
        each = obfuscator_cpu_s(case["bits"], scheme, int(per_role * epochs))
        floor = used * each
        line = (
            f"  {system}: obfuscators alone {used:.0f}/epoch x {each * 1e3:.3f} ms "
            f"({scheme}) = {floor:.1f} CPU s/epoch, {floor / cpu:.0%} of its fit CPU"
        )
        if "fate" in medians:
            line += f"; FATE CPU / that = {medians['fate'][1] / floor:.2f}x at most"
        print(line)


def print_case(case: dict[str, Any], runs: list[ProcessRun]) -> None:
    epochs, model = case["epochs"], model_of(case)
    metric = "train AUC" if model == "lr" else "train MSE R2"
    print(
        f"\n== {'hetero LR' if model == 'lr' else 'hetero linear regression'}, "
        f"{case['bits']}-bit keys, {1 + case['hosts']} parties + coordinator "
        f"({case['hosts']} host(s)), {case['rows'] or 30_000} rows, batch "
        f"{case['batch_size']}, {epochs} epoch(s) =="
    )
    print(
        f"{'system':30s} {'fit wall s/epoch':>20s} {'fit CPU s/epoch':>20s} "
        f"{'process wall s':>18s} {'process CPU s':>18s} {'peak PSS MiB':>14s} "
        f"{metric:>13s} {'load':>10s}"
    )
    medians: dict[str, tuple[float, float]] = {}
    for system in SYSTEMS:
        mine = [r for r in runs if r.system == system]
        if not mine:
            continue
        ok = [r for r in mine if r.report]
        wall = [r.report["fit_s"] / epochs for r in ok]
        cpu = [r.report["cpu_fit_s"] / epochs for r in ok]
        if ok:
            medians[system] = (statistics.median(wall), statistics.median(cpu))
        loads = [r.load_at_start for r in mine]
        print(
            f"{system:30s} {spread(wall):>20s} {spread(cpu):>20s} "
            f"{spread([r.wall_s for r in mine]):>18s} {spread([r.cpu_s for r in mine]):>18s} "
            f"{spread([r.peak_memory_mib for r in mine], '{:.0f}'):>14s} "
            f"{quality_text(model, [r.report for r in ok]):>13s} "
            f"{min(loads):.1f}-{max(loads):.1f}"
        )
        for r in mine:
            if not r.report:
                print(f"  run failed (exit {r.returncode}):\n{r.log_tail[-1500:]}")
    if "fate" in medians:
        fate_wall, fate_cpu = medians["fate"]
        for system, (wall, cpu) in medians.items():
            if system != "fate":
                print(
                    f"  FATE / {system}: wall {fate_wall / wall:.2f}x, CPU {fate_cpu / cpu:.2f}x "
                    "(medians of this invocation)"
                )
    if model == "linear":
        for name, fit in reference_fits(case["rows"]).items():
            print(
                f"  scikit-learn {name} on the joined columns (plaintext, to convergence): "
                f"train MSE {fit['mse']:.4f}, R2 {fit['r2']:.4f}"
            )
    print_obfuscator_floor(case, runs, medians)
    fate_runs = [r for r in runs if r.system == "fate" and r.report]
    if fate_runs:
        report = fate_runs[-1].report
        print(
            f"  FATE start-up before fit {spread([r.report['startup_s'] for r in fate_runs])} s, "
            f"after fit {spread([r.report['after_fit_s'] for r in fate_runs])} s (launcher "
            "teardown)"
        )
        for name, seen in report["received"].items():
            print(
                f"  FATE {name}: {seen['of_form_1_plus_n_m']} of {seen['ciphertexts']} received "
                "ciphertexts are 1 + n*m (no randomness: m = (c - 1) / n with the public key)"
            )
        recovered = report["host_read_batch0_labels"]
        if recovered:
            print(
                f"  FATE host read {recovered['labels_read_correctly']} of {recovered['rows']} "
                f"guest {'labels' if model == 'lr' else 'targets'} of batch 1 from the "
                "guest's half_d ciphertexts"
            )
    for system in SYSTEMS:
        ok = [r for r in runs if r.system == system and "startup_s" in r.report]
        if ok and system != "fate":
            last = ok[-1].report
            waited = last["runqueue_wait_s_by_role"]
            print(
                f"  {system}: start-up before fit {spread([r.report['startup_s'] for r in ok])} "
                f"s, after fit {spread([r.report['after_fit_s'] for r in ok])} s; per role and "
                "epoch (last run), fit CPU s / s waiting for a core: "
                + ", ".join(
                    f"{role} {cpu / epochs:.1f} / {waited[role] / epochs:.1f}"
                    for role, cpu in sorted(last["cpu_fit_s_by_role"].items())
                )
            )
    for system in SYSTEMS:
        ok = [r for r in runs if r.system == system and r.report and system != "fate"]
        if ok:
            print(f"  {system} ciphertext operations per epoch (last run):")
            for role, ops in sorted(ok[-1].report["operations_per_epoch"].items()):
                text = ", ".join(
                    f"{k} {v:.2f}"
                    if k.endswith("_s_ahead") or k.endswith("_s_on_demand")
                    else f"{k} {v:.0f}"
                    if isinstance(v, (int, float))
                    else f"{k} {v}"
                    for k, v in ops.items()
                )
                print(f"    {role:12s} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="install FATE into the bench venv")
    parser.add_argument(
        "--model", choices=MODELS, default="lr", help="logistic (lr) or linear regression"
    )
    parser.add_argument("--bits", type=int, nargs="+", default=[1024])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1], help="feature parties")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=None, help="first N rows (smoke tests)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--systems", nargs="+", default=list(DEFAULT_SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--fate-venv", type=Path, default=FATE_VENV, help="FATE's bench venv")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--child-rengo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rengo:
        print(json.dumps(run_rengo(json.loads(args.child_rengo))), flush=True)
        return
    if args.setup:
        setup(args.fate_venv)
        return
    subreaper = become_subreaper()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, model {args.model}, systems interleaved "
        f"{args.systems}; orphaned "
        f"processes {'are' if subreaper else 'are NOT'} counted (child subreaper)"
    )
    everything = []
    for bits in args.bits:
        for hosts in args.hosts:
            case = {
                "model": args.model,
                "bits": bits,
                "hosts": hosts,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "rows": args.rows,
            }
            runs: list[ProcessRun] = []
            for round_ in range(args.repeats):
                for system in args.systems:
                    run = (
                        fate_run(case, args.fate_venv)
                        if system == "fate"
                        else rengo_run(case, system)
                    )
                    runs.append(run)
                    fit = run.report.get("fit_s")
                    print(
                        f"  round {round_ + 1} {system}: process {run.wall_s:.1f} s wall, "
                        f"{run.cpu_s:.1f} s CPU, fit {fit if fit is None else round(fit, 1)} s, "
                        f"load {run.load_at_start:.1f}",
                        flush=True,
                    )
            print_case(case, runs)
            everything.append({"case": case, "runs": [asdict(r) for r in runs]})
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1, default=str))


if __name__ == "__main__":
    main()
