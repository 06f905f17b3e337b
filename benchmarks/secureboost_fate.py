"""FATE 2.2 hetero SecureBoost through FATE's standalone multiprocess launcher (bench venv).

Run by ``benchmarks/secureboost.py`` with the bench venv's interpreter; never imported by
rengo. Each rank (guest, host) loads its CSV, fits FATE's own
``HeteroSecureBoost{Guest,Host}`` with the settings given on the command line, and writes
``<out_dir>/<role>-<party id>.json``: load and fit wall seconds, the CPU seconds of its
process tree during the fit, the wall seconds of each tree (guest) and the train AUC from
FATE's own train predictions (guest). FATE encrypts (g, h) in spawned worker processes;
``benchmarks/secureboost.py`` counts those encryptions there (``fate_ciphertexts.py``).

FATE's dataclass argument parser does not accept postponed annotations, so this module does
not use ``from __future__ import annotations``.
"""

import json
import os
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
    num_trees: int = field(default=5)
    max_depth: int = field(default=3)
    max_bin: int = field(default=32)
    learning_rate: float = field(default=0.3)
    l2: float = field(default=1.0)


def tree_timer(times: list) -> None:
    """Record the wall seconds of every guest tree (``booster_fit``)."""
    from fate.ml.ensemble.learner.decision_tree.hetero.guest import HeteroDecisionTreeGuest

    original = HeteroDecisionTreeGuest.booster_fit

    def booster_fit(self, *args, **kwargs):
        start = time.perf_counter()
        out = original(self, *args, **kwargs)
        times.append(time.perf_counter() - start)
        return out

    HeteroDecisionTreeGuest.booster_fit = booster_fit


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


def _read(ctx, path: str, with_label: bool):
    from fate.arch import dataframe

    kwargs = {"sample_id_name": None, "match_id_name": "id", "delimiter": ",", "dtype": "float64"}
    if with_label:
        kwargs.update(label_name="y", label_type="int32")
    return dataframe.CSVReader(**kwargs).to_frame(ctx, path)


def _train_auc(module) -> float:
    from sklearn.metrics import roc_auc_score

    frame = module.get_train_predict().as_pd_df()
    return float(roc_auc_score(frame["label"].astype(int), frame["predict_score"].astype(float)))


def run_secureboost(ctx) -> None:
    from fate.ml.ensemble import HeteroSecureBoostGuest, HeteroSecureBoostHost

    args = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(
        return_remaining_strings=True
    )[0]
    ctx.cipher.set_phe(ctx.device, {"kind": "paillier", "key_length": args.key_bits})
    role = "guest" if ctx.is_on_guest else "host"
    trees: list = []
    start = time.perf_counter()
    if ctx.is_on_guest:
        tree_timer(trees)
        module = HeteroSecureBoostGuest(
            num_trees=args.num_trees,
            max_depth=args.max_depth,
            max_bin=args.max_bin,
            learning_rate=args.learning_rate,
            l2=args.l2,
            objective="binary:bce",
        )
        data = _read(ctx, args.guest_data, with_label=True)
    else:
        module = HeteroSecureBoostHost(
            num_trees=args.num_trees, max_depth=args.max_depth, max_bin=args.max_bin
        )
        data = _read(ctx, args.host_data, with_label=False)
    load_s = time.perf_counter() - start
    cpu_before, fit_start, wall_start = _tree_cpu_seconds(), time.perf_counter(), time.time()
    module.fit(ctx, data)
    fit_s = time.perf_counter() - fit_start
    report = {
        "role": role,
        "load_s": load_s,
        "fit_s": fit_s,
        "fit_started_at": wall_start,
        "cpu_fit_s": _tree_cpu_seconds() - cpu_before,
        "tree_s": trees,
        "auc": _train_auc(module) if ctx.is_on_guest else None,
        "pid": os.getpid(),
    }
    out = Path(args.out_dir) / f"{ctx.local.role}-{ctx.local.party_id}.json"
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    launch(run_secureboost, extra_args_desc=[BenchArguments])
