"""``rengo vfl coordinator`` and ``rengo vfl party``: vertical hetero LR between machines.

The coordinator holds the Paillier key and the run's settings; each party keeps its CSV,
its rows and its weights, and connects outbound over TLS (mutual certificates by default).
The label party writes the scores of its scoring rows; every party can save its own model.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rengo.cli.deploy import hub_security, party_credentials
from rengo.cli.errors import friendly_errors
from rengo.core.errors import ConfigError, RengoError

console = Console()


def _names(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if len(set(names)) != len(names):
        raise ConfigError(f"party names must be distinct: {names}")
    return names


def vfl_coordinator(
    parties: Annotated[str, typer.Option(help="Comma-separated party names, e.g. bank,card.")],
    label_party: Annotated[str, typer.Option(help="The party that holds the labels.")],
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "0.0.0.0:7443",
    certs: Annotated[Path | None, typer.Option(help="Folder made by `rengo certs init`.")] = None,
    tokens: Annotated[
        Path | None, typer.Option(help="TOML file of name = token (weaker than mTLS).")
    ] = None,
    key_bits: Annotated[int, typer.Option(help="Paillier key size (1024: tests only).")] = 2048,
    epochs: Annotated[int, typer.Option(help="Training epochs (at most).")] = 10,
    batch_size: Annotated[int, typer.Option(help="Rows per mini-batch.")] = 1024,
    learning_rate: Annotated[float, typer.Option(help="Step size.")] = 0.1,
    l2: Annotated[float, typer.Option(help="L2 penalty weight on the mean loss.")] = 0.0,
    tol: Annotated[float, typer.Option(help="Stop when the loss changes less (0: never).")] = 1e-4,
    optimizer: Annotated[str, typer.Option(help="adam or sgd.")] = "adam",
    obfuscators: Annotated[
        str, typer.Option(help="Who makes encryption randomness: local or coordinator.")
    ] = "local",
    predict_mode: Annotated[
        str, typer.Option(help="Scoring: encrypted (default) or plain (FATE's way).")
    ] = "encrypted",
    score: Annotated[
        bool, typer.Option(help="Score the parties' --score-csv rows after training.")
    ] = True,
    seed: Annotated[
        int | None, typer.Option(help="Fixes PSI's row order and the batch order.")
    ] = None,
    join_timeout: Annotated[float, typer.Option(help="Seconds to wait for parties.")] = 300.0,
    rejoin_wait: Annotated[
        float, typer.Option(help="Seconds a party may be unreachable before the run fails.")
    ] = 30.0,
    store: Annotated[Path | None, typer.Option(help="Run store (SQLite).")] = None,
    name: Annotated[str | None, typer.Option(help="Run name in the store.")] = None,
    insecure: Annotated[bool, typer.Option(help="Plain text, no TLS (testing only).")] = False,
) -> None:
    """Serve one vertical logistic regression run: hand out the plan and the public key,
    decrypt masked gradients and scores, and record the run."""
    from rengo.deploy.vertical import serve_vertical_coordinator
    from rengo.tracking import RunStore, resolve_store_path
    from rengo.vfl import HeteroLRConfig

    with friendly_errors(console):
        names = _names(parties)
        security = hub_security(certs, tokens, names, insecure)
        config = HeteroLRConfig(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            l2=l2,
            tol=tol,
            optimizer=optimizer,  # type: ignore[arg-type]
            obfuscator_source=obfuscators,  # type: ignore[arg-type]
        )

        def listening(hub: Any) -> None:
            console.print(f"listening on {hub.address}; waiting for {', '.join(names)}")

        with RunStore(resolve_store_path(store)) as run_store:
            report = serve_vertical_coordinator(
                listen,
                security,
                names,
                label_party,
                config=config,
                key_bits=key_bits,
                seed=seed,
                predict_mode=predict_mode,  # type: ignore[arg-type]
                score=score,
                join_timeout=join_timeout,
                rejoin_wait=rejoin_wait,
                store=run_store,
                run_name=name,
                on_listening=listening,
            )
        done = report.outcome.parties[label_party]
        console.print(
            f"run {report.run_id}: {report.outcome.training.epochs_run} epochs on "
            f"{done['train_rows']} common rows"
            + (f", scored {done['scored_rows']} rows" if score else "")
            + f" in {report.wall_time_s:.1f}s"
        )


def vfl_party(
    coordinator: Annotated[str, typer.Option(help="Coordinator HOST:PORT.")],
    name: Annotated[str, typer.Option(help="This party's name (as in its certificate).")],
    csv_path: Annotated[Path, typer.Option("--csv", help="This party's training table.")],
    id_column: Annotated[str, typer.Option(help="The ID column (matched by PSI).")] = "id",
    label: Annotated[str | None, typer.Option(help="Label column (the label party only).")] = None,
    features: Annotated[
        str | None, typer.Option(help="Comma-separated feature columns (default: the rest).")
    ] = None,
    score_csv: Annotated[
        Path | None, typer.Option(help="New rows to score after training (same columns).")
    ] = None,
    standardize: Annotated[
        bool, typer.Option(help="Z-score columns with this party's training statistics.")
    ] = True,
    predictions: Annotated[
        Path, typer.Option(help="Where the label party writes id,score of scored rows.")
    ] = Path("scores.csv"),
    model: Annotated[Path | None, typer.Option(help="Save this party's model (JSON).")] = None,
    certs: Annotated[Path | None, typer.Option(help="Certs folder (ca.pem, parties/).")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="RENGO_TOKEN", help="Token (weaker than mTLS).")
    ] = None,
    ca: Annotated[Path | None, typer.Option(help="CA certificate, with --token.")] = None,
    give_up_after: Annotated[
        float, typer.Option(help="Stop retrying after this many seconds unconnected.")
    ] = 600.0,
    insecure: Annotated[bool, typer.Option(help="Plain text, no TLS (testing only).")] = False,
) -> None:
    """Join a vertical run with this party's CSV: align rows by PSI, train, score."""
    import numpy as np

    from rengo.deploy.vertical import run_vertical_party
    from rengo.deploy.vertical_data import load_party_data
    from rengo.metrics import roc_auc
    from rengo.transport.grpc_party import DEFAULT_BACKOFF, Backoff

    with friendly_errors(console):
        creds = party_credentials(name, certs, token, ca, insecure)
        data = load_party_data(
            csv_path,
            id_column,
            label=label,
            score_csv=score_csv,
            features=_names(features) if features else None,
            standardize=standardize,
        )
        backoff = Backoff(
            DEFAULT_BACKOFF.initial,
            DEFAULT_BACKOFF.factor,
            DEFAULT_BACKOFF.maximum,
            DEFAULT_BACKOFF.jitter,
            give_up_after,
        )
        try:
            result = run_vertical_party(
                coordinator,
                name,
                data.table,
                creds,
                labels=data.labels,
                score_table=data.score_table,
                backoff=backoff,
            )
        except ConnectionError as exc:
            raise RengoError(str(exc)) from exc
        console.print(
            f"{name}: trained {result.model.epochs_run} epochs on {len(result.train_rows)} "
            f"common rows as the {'label party' if result.is_label_party else 'host'}"
        )
        if result.scores is not None and result.score_ids is not None:
            _write_scores(predictions, id_column, result.score_ids, result.scores)
            line = f"{name}: scored {len(result.scores)} rows -> {predictions}"
            if data.score_labels is not None and data.score_table is not None:
                truth = dict(zip(data.score_table.ids, data.score_labels, strict=True))
                y = np.array([truth[i] for i in result.score_ids])
                line += f"; AUC {roc_auc(y, result.scores):.4f}"
            console.print(line)
        if model is not None:
            _write_model(model, name, result, data)
            console.print(f"{name}: model -> {model}")


def _write_scores(path: Path, id_column: str, ids: Any, scores: Any) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_column, "score"])
        writer.writerows((i, repr(float(s))) for i, s in zip(ids, scores, strict=True))


def _write_model(path: Path, name: str, result: Any, data: Any) -> None:
    from rengo.vfl import GuestModel

    document: dict[str, Any] = {
        "party": name,
        "label_party": result.plan.label_party,
        "features": list(data.feature_names),
        "weights": result.model.weights.tolist(),
        "epochs_run": result.model.epochs_run,
        "mean": None if data.mean is None else data.mean.tolist(),
        "scale": None if data.scale is None else data.scale.tolist(),
    }
    if isinstance(result.model, GuestModel):
        document["intercept"] = result.model.intercept
        document["losses"] = list(result.model.losses)
        document["classes"] = list(data.classes) if data.classes else None
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
