"""A vertical federation at a bank's scale, from the parties' side: time and peak memory of
each stage on synthetic tables (``rengo vfl align``, reading a party's CSV, PSI, one hetero
LR epoch, one SecureBoost tree), each run in its own process, at several sizes so that the
1M-3M-row figures can be extrapolated on a small machine.

Tables: an ID column ``id`` of 12-digit IDs with leading zeros (kept as text), a 0/1 label
``y`` at the bank, and numeric features with 4 significant digits, about 1 % of cells empty.
The bank holds rows ``0 .. n``, the telecom ``2n/3 .. 5n/3``: a third of each overlaps.

Stages (``--stages``):

``align``
    :func:`rengo.vfl.align_csv` (``rengo vfl align``) of the two tables, once per source
    tree in ``--src`` (e.g. an older checkout unpacked with ``git archive``), interleaved.
``read``
    :func:`rengo.deploy.vertical_data.load_party_data` of the bank's table (``rengo vfl
    party --csv``), its columns standardised as a party's are (``benchmarks/csv_load.py``
    sets rengo's reader beside ``numpy.loadtxt`` and pandas).
``party``
    A deployed party's table (``rengo vfl party --csv``): the bank's table read, standardised,
    and its ``--shared`` share of rows (every k-th row, in a shuffled order, as PSI's agreed
    order gives them) taken as the training role sees them. A tree whose
    ``load_party_data`` reads the shared rows after PSI (``shared_rows_later``) does so:
    the IDs and every cell checked first, the shared rows' features in a second pass; an
    older tree reads the whole table and indexes it (``AlignedData.features``).
``score``
    A deployed party's rows to score (``rengo vfl party --load-model M --score-csv NEW``,
    and ``--score-csv`` after training, which reads the file the same way): the bank's
    table as the scoring CSV, its label kept for evaluation, z-scored with a kept model's
    scaling, and its ``--shared`` share of rows (every k-th, shuffled, as scoring's PSI
    gives them) taken as the prediction role sees them. A tree whose
    ``load_scoring_data`` reads them after PSI (``shared_rows_later``) reads the shared
    rows' features in a second pass; an older tree reads the whole file and indexes it.
``run``
    What ``rengo run JOB.toml`` holds of a vertical job's CSV tables once the training roles
    have their rows (:func:`rengo.jobs.vertical.build_vertical_job`, then each party's
    shared training rows, shuffled as PSI's agreed order): the bank's and the telecom's
    tables, 20 % of the customers held out to score, every party in the one process. A tree
    whose job reads the shared rows after PSI (``VerticalDataset.later``) reads them in a
    second pass; an older tree reads the tables whole and indexes them.
``psi``
    :func:`rengo.vfl.private_set_intersection` of the two ID columns: wall, CPU of the
    process and its worker processes, peak memory, bytes sent per ID.
``ciphertexts``
    Bytes a Paillier ciphertext takes held (gmpy2 ``mpz``) and sent, 1024/2048-bit keys.
``predict``
    Hetero LR's encrypted scoring (:mod:`rengo.vfl.hetero_lr.predict`) of the bank's row
    count with a bank guest (100 columns) and a telecom host (50), random weights, every
    role in one process on a :class:`~rengo.transport.channel.LocalBus`, 1024-bit keys, the
    guest's default batch (all rows at once before batching): peak memory is the roles'
    together; ``max message MiB`` the largest message that crossed the bus.
``hetero_lr`` / ``secureboost``
    One epoch (batch 1,024) / one tree (depth 3) of the estimators on the aligned rows
    (every role in one process: peak memory is the roles' together), 1024-bit keys.

Each child prints wall s, CPU s (its own and its children's) and peak MiB (its own maximum
resident set; ``children MiB`` the largest of its worker processes).

    .venv/bin/python benchmarks/vertical_scale.py --stages align --rows 20000 60000 120000 \\
        --src /tmp/old/src src --repeats 3
    .venv/bin/python benchmarks/vertical_scale.py --stages read psi --rows 100000 300000 1000000
    .venv/bin/python benchmarks/vertical_scale.py --stages predict --rows 30000 90000 \\
        --columns 1 --src /tmp/old/src src --repeats 3
    .venv/bin/python benchmarks/vertical_scale.py --stages party --rows 500000 \\
        --shared 0.1 0.5 --src /tmp/old/src src --repeats 3
    .venv/bin/python benchmarks/vertical_scale.py --stages score run --rows 500000 \\
        --shared 0.1 0.5 --src /tmp/old/src src --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from child_timing import child_json
from fate_bench import spread

HERE = Path(__file__).resolve().parent
STAGES = (
    "align",
    "read",
    "party",
    "score",
    "run",
    "psi",
    "hetero_lr",
    "secureboost",
    "ciphertexts",
    "predict",
)


def write_table(path: Path, ids: range, columns: int, label: bool, seed: int) -> None:
    """``id`` (12 digits, leading zeros), ``y`` when ``label``, and ``columns`` features
    (4 significant digits, about 1 % empty)."""
    rng = np.random.default_rng(seed)
    names = ["id", *(["y"] if label else []), *(f"x{j}" for j in range(columns))]
    with path.open("w", newline="") as handle:
        handle.write(",".join(names) + "\r\n")
        for start in range(ids.start, ids.stop, 10_000):
            stop = min(start + 10_000, ids.stop)
            block = np.char.mod("%.4g", rng.normal(size=(stop - start, columns)))
            block[rng.random(block.shape) < 0.01] = ""
            lines = []
            for i, row in zip(range(start, stop), block.tolist(), strict=True):
                head = f"{i:012d},{i % 2}," if label else f"{i:012d},"
                lines.append(head + ",".join(row) + "\r\n")
            handle.writelines(lines)


def tables(folder: Path, rows: int, columns: int) -> tuple[Path, Path]:
    """The bank's and the telecom's tables of ``rows`` rows each (written once)."""
    bank, telco = folder / f"bank-{rows}.csv", folder / f"telco-{rows}.csv"
    for path, ids, width, label, seed in (
        (bank, range(rows), columns, True, 1),
        (telco, range(2 * rows // 3, 5 * rows // 3), columns // 2, False, 2),
    ):
        if not path.exists():  # written whole or not at all (a stopped run leaves none)
            partial = path.with_suffix(".partial")
            write_table(partial, ids, width, label, seed)
            partial.replace(path)
    return bank, telco


def run_stage(
    stage: str, bank: Path, telco: Path, out: Path, shared: float = 1 / 3
) -> dict[str, Any]:
    """Child process: one stage; its figures (besides time and memory) as a dict."""
    if stage == "party":
        return _party_rows(bank, shared)
    if stage == "score":
        return _scoring_rows(bank, shared)
    if stage == "run":
        return _job_tables(bank, telco, out)
    if stage == "align":
        from rengo.vfl import align_csv

        written = align_csv({"bank": bank, "telco": telco}, "id", "bank", out, seed=0)
        return {"out MiB": sum(p.stat().st_size for p in written.values()) / 2**20}
    if stage == "read":
        from rengo.deploy.vertical_data import load_party_data

        party = load_party_data(bank, "id", label="y")
        assert party.table is not None
        return {"cells": int(party.table.features.size)}
    if stage == "ciphertexts":
        return _ciphertext_bytes()
    if stage == "predict":
        return _encrypted_scoring(len(_ids(bank)))
    ids = {p: _ids(path) for p, path in {"bank": bank, "telco": telco}.items()}
    if stage == "psi":
        from rengo.vfl import private_set_intersection

        result = private_set_intersection(ids, "bank")
        sent = sum(result.bytes_sent.values())
        return {"shared": result.size, "bytes/ID": sent / sum(map(len, ids.values()))}
    from rengo.deploy.vertical_data import load_party_data

    data = {
        p: load_party_data(path, "id", label="y" if p == "bank" else None)
        for p, path in {"bank": bank, "telco": telco}.items()
    }
    parties = {p: (d.table.ids, d.table.features) for p, d in data.items() if d.table is not None}
    y = data["bank"].labels
    if stage == "hetero_lr":
        from rengo.vfl import HeteroLogisticRegression

        HeteroLogisticRegression(
            epochs=1, batch_size=1024, key_bits=1024, optimizer="adam", missing="zero"
        ).fit(parties, "bank", y)
        return {}
    from rengo.vfl import HeteroSecureBoost

    HeteroSecureBoost(n_trees=1, max_depth=3, key_bits=1024).fit(parties, "bank", y)
    return {}


def _party_rows(bank: Path, shared: float) -> dict[str, Any]:
    """The bank party's training features of its ``shared`` share of rows, in a shuffled
    order, read as this tree's ``rengo vfl party --csv`` reads them."""
    import inspect

    from rengo.deploy.vertical_data import load_party_data

    later = "shared_rows_later" in inspect.signature(load_party_data).parameters
    kwargs = {"shared_rows_later": True} if later else {}
    data = load_party_data(bank, "id", label="y", **kwargs)  # type: ignore[arg-type]
    assert data.table is not None
    n = len(data.table.ids)
    rows = np.random.default_rng(0).permutation(np.arange(0, n, max(1, round(1 / shared))))
    if later:
        assert data.later is not None
        features = data.later.read(rows)
    else:  # the training role's AlignedData(table, rows).features
        features = data.table.features[rows]
    return {
        "shared rows": len(rows),
        "checksum": float(np.nansum(features[:1000])),
        "two passes": later,
    }


def _scoring_rows(bank: Path, shared: float) -> dict[str, Any]:
    """The bank party's rows to score of its ``shared`` share, in a shuffled order, read as
    this tree's ``rengo vfl party --load-model --score-csv`` reads them (a kept model's
    columns and scaling, the label kept for evaluation)."""
    import inspect

    from rengo.deploy.vertical_data import load_scoring_data
    from rengo.vfl.registry import AlignedData

    names = [f"x{j}" for j in range(len(_header(bank)) - 2)]
    mean, scale = np.full(len(names), 0.01), np.full(len(names), 1.1)
    later = "shared_rows_later" in inspect.signature(load_scoring_data).parameters
    kwargs = {"shared_rows_later": True} if later else {}
    data = load_scoring_data(  # type: ignore[call-arg]
        bank, "id", names, mean, scale, label="y", classes=["0", "1"], **kwargs
    )
    assert data.score_table is not None
    n = len(data.score_table.ids)
    rows = np.random.default_rng(0).permutation(np.arange(0, n, max(1, round(1 / shared))))
    if later:
        later_rows = data.score_later  # type: ignore[attr-defined]
        assert later_rows is not None
        features = later_rows.read(rows)
    else:  # the prediction role's AlignedData(table, rows).features
        features = AlignedData(data.score_table, rows).features
    return {
        "scored rows": len(rows),
        "checksum": float(np.nansum(features[:1000])),
        "two passes": later,
    }


def _job_tables(bank: Path, telco: Path, out: Path) -> dict[str, Any]:
    """What ``rengo run`` of a vertical job over the two tables holds once each party's
    training role has its shared rows (the IDs both tables hold, shuffled as PSI's agreed
    order is): a tree whose ``build_vertical_job`` reads them after PSI
    (``shared_rows_later``) reads them then; an older tree indexes its whole tables."""
    from rengo.jobs import load_job
    from rengo.jobs.vertical import build_vertical_job
    from rengo.vfl.registry import AlignedData

    out.mkdir(parents=True, exist_ok=True)
    job = out / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nname = "bank-scale"\nseed = 0\n\n'
        '[vfl]\nalgorithm = "hetero_lr"\nlabel_party = "bank"\nlabel = "y"\n'
        'id_column = "id"\ntest_size = 0.2\nmissing = "mean"\n\n'
        f'[vfl.parties]\nbank = "{bank}"\ntelco = "{telco}"\n'
    )
    built = build_vertical_job(load_job(job))
    later = getattr(built.train, "later", {})
    tables = built.train.parties
    shared = np.intersect1d(tables["bank"].ids, tables["telco"].ids)
    np.random.default_rng(0).shuffle(shared)
    held = sum(t.features.nbytes for t in (*tables.values(), *built.test.parties.values()))
    features = {}
    for name, table in tables.items():
        rows = np.searchsorted(table.ids, shared, sorter=np.argsort(table.ids))
        rows = np.argsort(table.ids)[rows]
        if name in later:
            features[name] = later[name].read(rows)
        else:  # the training role's AlignedData(table, rows).features
            features[name] = AlignedData(table, rows).features
    return {
        "shared rows": len(shared),
        "feature MiB before PSI": held / 2**20,
        "checksum": float(sum(np.nansum(f[:1000]) for f in features.values())),
        "two passes": bool(later),
    }


def _header(path: Path) -> list[str]:
    with path.open() as handle:
        return handle.readline().strip().split(",")


def _ciphertext_bytes() -> dict[str, Any]:
    """Bytes a Paillier ciphertext takes in memory (its gmpy2 ``mpz`` and a pointer) and on
    the wire, against the ``2 x key bits / 8`` of an integer mod n^2, for 1024- and
    2048-bit keys."""
    from rengo.core import codec
    from rengo.crypto import generate_paillier_keypair
    from rengo.crypto.encrypted_array import encrypt_array

    figures: dict[str, Any] = {}
    for bits in (1024, 2048):
        public, _ = generate_paillier_keypair(bits)
        encrypted = encrypt_array(np.linspace(-1, 1, 1000), public, precision_bits=32)
        held = sum(sys.getsizeof(c) + 8 for c in encrypted.ciphertexts.tolist()) / 1000
        figures[f"{bits}-bit minimum B"] = 2 * bits // 8
        figures[f"{bits}-bit held B"] = held
        figures[f"{bits}-bit wire B"] = len(codec.encode(encrypted)) / 1000
    return figures


def _encrypted_scoring(rows: int) -> dict[str, Any]:
    """Score ``rows`` rows with hetero LR's encrypted scoring roles; the largest message."""
    from rengo.crypto import generate_paillier_keypair
    from rengo.transport.channel import LocalBus, run_roles
    from rengo.vfl.hetero_lr.predict import (
        hetero_lr_predict_coordinator,
        hetero_lr_predict_guest,
        hetero_lr_predict_host,
    )
    from rengo.vfl.hetero_lr.roles import GuestModel, HostModel

    rng = np.random.default_rng(0)
    x_guest, x_host = rng.normal(size=(rows, 100)), rng.normal(size=(rows, 50))
    guest = GuestModel(rng.normal(size=100) / 10, 0.1)
    host = HostModel(rng.normal(size=50) / 10, 1)
    keys = generate_paillier_keypair(1024, seed=1)
    bus = LocalBus(["coordinator", "bank", "telco"])
    largest = [0]
    post = bus._post

    def posted(sender: str, to: str, key: str, value: Any) -> None:
        before = bus.bytes_sent[sender]
        post(sender, to, key, value)
        largest[0] = max(largest[0], bus.bytes_sent[sender] - before)

    bus._post = posted  # type: ignore[method-assign]
    scores = run_roles(
        bus,
        {
            "coordinator": lambda c: hetero_lr_predict_coordinator(
                c, ["bank", "telco"], "bank", keys
            ),
            "bank": lambda c: hetero_lr_predict_guest(c, x_guest, guest, ["telco"]),
            "telco": lambda c: hetero_lr_predict_host(c, x_host, host, "bank"),
        },
    )["bank"]
    return {"max message MiB": largest[0] / 2**20, "mean score": float(np.mean(scores))}


def _ids(path: Path) -> list[str]:
    with path.open() as handle:
        next(handle)
        return [line.split(",", 1)[0] for line in handle]


def child(stage: str, bank: str, telco: str, out: str, shared: str = "0.3333") -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    figures = run_stage(stage, Path(bank), Path(telco), Path(out), float(shared))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures |= {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu + kids.ru_utime + kids.ru_stime,
        "mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children MiB": kids.ru_maxrss / 1024,
    }
    print(json.dumps(figures), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=["align"])
    parser.add_argument("--rows", nargs="+", type=int, default=[20_000, 60_000, 120_000])
    parser.add_argument("--columns", type=int, default=100, help="the bank's; telecom half")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    parser.add_argument("--data", type=Path, default=None, help="keep tables here")
    parser.add_argument(
        "--shared", nargs="+", type=float, default=[1 / 3], help="party: shares of rows PSI shares"
    )
    args = parser.parse_args()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
        f"load average at start {os.getloadavg()}"
    )
    runs: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.data or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(args.repeats):
            for rows in args.rows:
                bank, telco = tables(folder, rows, args.columns)
                for stage in args.stages:
                    shares = args.shared if stage in ("party", "score") else [1 / 3]
                    for share, src in [(f, s) for f in shares for s in args.src]:
                        out = Path(scratch) / "out"
                        argv = [stage, str(bank), str(telco), str(out), str(share)]
                        got = child_json(__file__, argv, src)
                        label = f"{stage} ({Path(src).resolve()})"
                        if stage in ("party", "score"):
                            label += f", {share:.0%} shared"
                        runs.setdefault((label, rows, stage), []).append(got)
    print(f"load average at end {os.getloadavg()}")
    print("| stage | rows (bank) | wall s | CPU s | peak MiB | children MiB | other |")
    print("|---|---|---|---|---|---|---|")
    for (label, rows, _), got in runs.items():
        other = {
            k: v for k, v in got[-1].items() if k not in ("wall", "cpu", "mib", "children MiB")
        }
        print(
            f"| {label} | {rows:,} | {spread([r['wall'] for r in got], '{:.2f}')} | "
            f"{spread([r['cpu'] for r in got], '{:.2f}')} | "
            f"{spread([r['mib'] for r in got], '{:.0f}')} | "
            f"{spread([r['children MiB'] for r in got], '{:.0f}')} | "
            + ", ".join(
                f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in other.items()
            )
            + " |"
        )


if __name__ == "__main__":
    main()
