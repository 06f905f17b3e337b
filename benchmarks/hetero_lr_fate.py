"""FATE 2.2 coordinated LR or LinR through FATE's standalone multiprocess launcher (bench
venv only).

Run by ``benchmarks/hetero_lr.py`` with the bench venv's interpreter; never imported by
rengo. Each rank (arbiter, guest, one or more hosts) loads its CSV, fits FATE's own
``CoordinatedLRModule{Arbiter,Guest,Host}`` (``--model linear``:
``CoordinatedLinRModule{Arbiter,Guest,Host}``, the label read as a float target) with the
settings given on the command line,
and writes ``<out_dir>/rank<k>.json``: load and fit wall seconds, the CPU seconds of its
process tree during the fit, its trained weights, and what it saw in the Paillier
ciphertexts it *received* over FATE's federation (every message passes through
``fate.arch.context._parties._pull``, which this script wraps): how many ciphertexts
arrived and how many have the unrandomised form ``c = 1 + n*m`` (so ``(c - 1) mod n = 0``
and ``m`` is read with the public key alone). For the first batch of the two-party
protocol it also reads the guest's ``half_d = 0.25 Xw - 0.5 y'`` out of those
ciphertexts (w = 0 there, so ``half_d = -y'/2``) and counts how many labels it recovers;
for linear regression the guest's ``half_d = Xw - y`` is ``-y`` there, so the host reads
every target of the first batch (the value ``m * 16**exponent`` of an unrandomised
ciphertext, with the exponent FATE sends beside it).

Both FATE modules take the same optimizer settings (``fate.ml.utils._optimizer``: torch SGD
at the scheduler's rate, L2 ``alpha * w`` added to the gradient, intercept not penalised);
the arbiter's ``weight_diff`` early stop at ``tol=0`` never fires, so every epoch runs.

FATE's dataclass argument parser does not accept postponed annotations, so this module
does not use ``from __future__ import annotations``.
"""

import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from fate.arch.launchers.argparser import HfArgumentParser
from fate.arch.launchers.multiprocess_launcher import launch


@dataclass
class BenchArguments:
    guest_data: str = field(default="")
    host_data: str = field(default="")
    out_dir: str = field(default="")
    key_bits: int = field(default=1024)
    epochs: int = field(default=2)
    batch_size: int = field(default=10_000)
    learning_rate: float = field(default=1.0)
    l2: float = field(default=1e-3)
    model: str = field(default="lr")


def _integer_at(state: bytes, i: int) -> tuple:
    """One serialised big integer at offset i (u32 radix 10 or 16, u64 length, digits)."""
    radix, length = struct.unpack_from("<IQ", state, i)
    text = state[i + 12 : i + 12 + length]
    if radix not in (10, 16) or not text or len(text) != length:
        raise ValueError(f"no serialised integer at byte {i}")
    return int(text.decode(), radix), i + 12 + length


def _public_modulus(state: bytes) -> int:
    """n: the first integer of a serialised fate_utils public key."""
    return _integer_at(state, 0)[0]


def _ciphertext_vector(state: bytes, exponents: bool = False) -> list:
    """The ciphertexts of a serialised fate_utils CiphertextVector: a u64 count, then per
    ciphertext its integer and an i32 fixed-point exponent (``exponents``: the list holds
    ``(ciphertext, exponent)`` pairs; a plaintext is ``m * 16**exponent``)."""
    count = struct.unpack_from("<Q", state, 0)[0]
    out, i = [], 8
    for _ in range(count):
        value, i = _integer_at(state, i)
        exponent = struct.unpack_from("<i", state, i)[0]
        out.append((value, exponent) if exponents else value)
        i += 4
    if i != len(state):
        raise ValueError(f"{len(state) - i} unparsed bytes after {count} ciphertexts")
    return out


def _ciphertexts(value, exponents: bool = False) -> list:
    """Raw ciphertext integers (``exponents``: with their fixed-point exponents) of a
    received PHETensor or distributed (DTensor) PHETensor."""
    from fate.arch.tensor.distributed import DTensor
    from fate.arch.tensor.phe._tensor import PHETensor

    if isinstance(value, PHETensor):
        return _ciphertext_vector(bytes(value._data.__getstate__()), exponents)
    if isinstance(value, DTensor):
        shards = sorted(value.shardings._data.collect(), key=lambda kv: kv[0])
        return [c for _, shard in shards for c in _ciphertexts(shard, exponents)]
    return []


def _dtensor_values(value) -> list:
    """The values of a plaintext distributed tensor, shard by shard, as floats."""
    shards = sorted(value.shardings._data.collect(), key=lambda kv: kv[0])
    return [float(v) for _, shard in shards for v in shard.reshape(-1).tolist()]


def _modulus(value):
    """n of a received FATE tensor encryptor (the arbiter sends it to everyone)."""
    pk = getattr(value, "_pk", None)
    raw = getattr(pk, "pk", pk)
    if raw is None or not hasattr(raw, "__getstate__"):
        return None
    return _public_modulus(bytes(raw.__getstate__()))


class MessageInspector:
    """Counts received ciphertexts and those of the form 1 + n*m (no randomness)."""

    def __init__(self, model: str = "lr") -> None:
        self.model = model
        self.modulus = None
        self.by_name: dict = {}
        self.first_half_d: list = []
        self.first_labels: list = []

    def see(self, name: str, value) -> None:
        if name == "encryptor":
            self.modulus = _modulus(value)
            return
        pairs = _ciphertexts(value, exponents=True)
        cts = [c for c, _ in pairs]
        if not cts or self.modulus is None:
            return
        n = self.modulus
        plain = [(c - 1) % n == 0 for c in cts]
        seen = self.by_name.setdefault(name, {"ciphertexts": 0, "of_form_1_plus_n_m": 0})
        seen["ciphertexts"] += len(cts)
        seen["of_form_1_plus_n_m"] += sum(plain)
        if name == "half_d" and not self.first_half_d:
            # m = (c - 1) / n mod n, read with the public key only
            residues = [((c - 1) % (n * n)) // n for c in cts]
            if self.model == "lr":
                # half_d = -y'/2 when w = 0, so the sign of m is minus the label y' in {-1, 1}
                self.first_half_d = [
                    (-1 if m < n // 2 else 1) if ok else 0
                    for m, ok in zip(residues, plain, strict=True)
                ]
            else:
                # half_d = Xw - y = -y when w = 0: the target is minus the plaintext
                # m * 16**exponent (None where the ciphertext is randomised)
                self.first_half_d = [
                    -float((m if m < n // 2 else m - n) * 16.0**exponent) if ok else None
                    for m, ok, (_, exponent) in zip(residues, plain, pairs, strict=True)
                ]

    def wrap(self) -> None:
        import fate.arch.context._parties as parties

        original = parties._pull

        def pull(ctx, federation, name, namespace, party_list):
            values = original(ctx, federation, name, namespace, party_list)
            for value in values:
                try:
                    self.see(name, value)
                except Exception as exc:  # an inspection failure must not stop FATE
                    self.by_name.setdefault("inspection_errors", []).append(repr(exc))
            return values

        parties._pull = pull

    def record_first_labels(self) -> None:
        """On the guest: keep the labels y' (linear regression: targets y) of the first
        batch, to score the host's reading."""
        if self.model == "lr":
            from fate.ml.glm.hetero.coordinated_lr import guest

            estimator = guest.CoordinatedLREstimatorGuest
        else:
            from fate.ml.glm.hetero.coordinated_linr import guest

            estimator = guest.CoordinatedLinREstimatorGuest
        original = estimator.asynchronous_compute_gradient

        def compute(this, batch_ctx, encryptor, w, X, Y, weight):
            if not self.first_labels:
                values = _dtensor_values(Y)
                self.first_labels = [round(v) for v in values] if self.model == "lr" else values
            return original(this, batch_ctx, encryptor, w, X, Y, weight)

        estimator.asynchronous_compute_gradient = compute


def _tree_cpu_seconds() -> float:
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _read(ctx, path: str, with_label: bool, label_type: str = "int32"):
    from fate.arch import dataframe

    kwargs = {"sample_id_name": None, "match_id_name": "id", "delimiter": ",", "dtype": "float64"}
    if with_label:
        kwargs.update(label_name="y", label_type=label_type)
    return dataframe.CSVReader(**kwargs).to_frame(ctx, path)


def _modules(model: str) -> tuple:
    """FATE's (arbiter, guest, host) module classes of ``model``."""
    from fate.ml import glm

    if model == "lr":
        return (
            glm.CoordinatedLRModuleArbiter,
            glm.CoordinatedLRModuleGuest,
            glm.CoordinatedLRModuleHost,
        )
    if model == "linear":
        return (
            glm.CoordinatedLinRModuleArbiter,
            glm.CoordinatedLinRModuleGuest,
            glm.CoordinatedLinRModuleHost,
        )
    raise ValueError(f"unknown model {model!r}")


def run_coordinated_lr(ctx) -> None:
    args = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(
        return_remaining_strings=True
    )[0]
    arbiter_module, guest_module, host_module = _modules(args.model)
    ctx.cipher.set_phe(ctx.device, {"kind": "paillier", "key_length": args.key_bits})
    optimizer = {
        "method": "sgd",
        "penalty": "l2",
        "alpha": args.l2,
        "optimizer_params": {"lr": args.learning_rate},
    }
    # FATE's own default schedule ("linear" from factor 1.0 to 1.0): a constant rate
    schedule = {"method": "linear", "scheduler_params": {"start_factor": 1.0}}
    init = {"method": "zeros", "fit_intercept": True}
    inspector = MessageInspector(args.model)
    inspector.wrap()
    if ctx.is_on_guest:
        inspector.record_first_labels()
    role = "arbiter" if ctx.is_on_arbiter else "guest" if ctx.is_on_guest else "host"
    start = time.perf_counter()
    if ctx.is_on_arbiter:
        module = arbiter_module(
            epochs=args.epochs,
            early_stop="weight_diff",
            tol=0.0,
            batch_size=args.batch_size,
            optimizer_param=optimizer,
            learning_rate_param=schedule,
        )
        data = None
    elif ctx.is_on_guest:
        module = guest_module(
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer_param=optimizer,
            learning_rate_param=schedule,
            init_param=init,
        )
        label_type = "int32" if args.model == "lr" else "float64"
        data = _read(ctx, args.guest_data, with_label=True, label_type=label_type)
    else:
        module = host_module(
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer_param=optimizer,
            learning_rate_param=schedule,
            init_param={**init, "fit_intercept": False},
        )
        host_files = args.host_data.split(",")
        data = _read(ctx, _host_file(ctx, host_files), with_label=False)
    load_s = time.perf_counter() - start
    cpu_before, fit_start, wall_start = _tree_cpu_seconds(), time.perf_counter(), time.time()
    if data is None:
        module.fit(ctx)
    else:
        module.fit(ctx, data)
    fit_s = time.perf_counter() - fit_start
    cpu_fit = _tree_cpu_seconds() - cpu_before
    weights = []
    if role != "arbiter":
        weights = [float(v) for v in module.estimator.w.detach().reshape(-1).tolist()]
    report = {
        "role": role,
        "party": f"{ctx.local.role}:{ctx.local.party_id}",
        "load_s": load_s,
        "fit_s": fit_s,
        "fit_started_at": wall_start,
        "cpu_fit_s": cpu_fit,
        "weights": weights,
        "received": inspector.by_name,
        "labels_read_by_host_batch0": inspector.first_half_d,
        "labels_batch0": inspector.first_labels,
        "pid": os.getpid(),
    }
    out = Path(args.out_dir) / f"{ctx.local.role}-{ctx.local.party_id}.json"
    out.write_text(json.dumps(report))


def _host_file(ctx, host_files: list) -> str:
    """Host k (in the order of the --parties list) reads the k-th host file."""
    hosts = [party.party[1] for party in ctx.hosts]
    return host_files[hosts.index(ctx.local.party_id)]


if __name__ == "__main__":
    launch(run_coordinated_lr, extra_args_desc=[BenchArguments])
