"""``rengo runs mirror RUN --to mlflow|tensorboard`` and ``rengo runs export RUN``: take a
recorded run to where ML teams look, and its trained model to where it will serve.

Registered on ``runs_app`` by :mod:`rengo.cli.runs`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from rengo.cli.errors import friendly_errors
from rengo.cli.output_paths import refuse_to_replace, writable_folder
from rengo.cli.store_option import RunIdArgument, StoreOption
from rengo.core.errors import ConfigError

if TYPE_CHECKING:
    from rengo.tracking import PartyCategories, RunInfo, RunStore
    from rengo.tracking.model_export import VerticalParts

console = Console()

JobOption = Annotated[
    Path | None,
    typer.Option(help="Job file that built the model (default: the one the run recorded)."),
]


DEPLOYED_SCALING = (
    " - the standardisation of the coordinator's job, which parties serving its partitions "
    "(`rengo party --job`) applied; a party serving its own app (`--app`) preprocessed its "
    "rows itself, and its model is scored the way that app prepares rows"
)
"""What an export of a deployed run adds about the scaling it writes: the coordinator knows
its job's standardisation, not what parties serving their own apps did."""


def model_namer(run: Any, job: Path | None) -> tuple[Any, str]:
    """How to name a run's parameter arrays, and where the names came from: the job file
    given or recorded with the run, else the run's recorded model type, else generic."""
    from rengo.jobs import load_job, model_state_dict
    from rengo.jobs.state_dict import MODEL_TYPES

    job_path = job
    recorded = run.config.get("job_file")
    horizontal = not str(run.kind).startswith("vfl")  # a vertical run's job names no model
    if job_path is None and horizontal and isinstance(recorded, str) and Path(recorded).is_file():
        job_path = Path(recorded)
    if job_path is not None:
        spec = load_job(job_path, load_apps=False)  # names arrays, trains nothing
        if spec.vfl is not None:
            raise ConfigError(f"{job_path} is a vertical job; its model is exported per party")
        if spec.model.app is not None:  # the user's own model: its arrays have no known names
            return None, f"generic names param_0, param_1... (model.app = {spec.model.app})"
        hidden = spec.model.hidden if spec.model.type == "mlp" else None
        namer = functools.partial(model_state_dict, spec.model.type, hidden=hidden)
        return namer, f"names from the {spec.model.type} model of {job_path}"
    model = run.config.get("model")
    if model in MODEL_TYPES:
        return functools.partial(model_state_dict, model), f"names from the run's {model} model"
    return None, "generic names param_0, param_1... (give --job to name them)"


def _open(store: Path | None, read_only: bool = True) -> Any:
    from rengo.tracking import RunStore, resolve_store_path

    return RunStore(resolve_store_path(store), read_only=read_only)


def mirror(
    run_id: RunIdArgument,
    to: Annotated[str, typer.Option("--to", help="mlflow or tensorboard.")],
    store: StoreOption = None,
    uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI, or TensorBoard log folder (default: by the store)."
        ),
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "rengo",
    replace: Annotated[bool, typer.Option(help="Overwrite a run mirrored before.")] = False,
    job: JobOption = None,
) -> None:
    """Copy a recorded run into MLflow (params, per-round metrics, model) or TensorBoard; a
    run mirrored there before gets only what it lacks."""
    from rengo.tracking.mirrors import TARGETS, MlflowMirror, TensorBoardMirror

    with friendly_errors(), _open(store) as s:
        run = s.get_run(run_id)
        if to == "mlflow":
            namer, _ = model_namer(run, job)
            target: Any = MlflowMirror(uri, experiment, state_dict=namer, replace=replace)
            _replay(s, run.run_id, target, to, target.uri_for(s))
            console.print(
                f"run {run.run_id} is MLflow run {target.mlflow_run_id(run.run_id)} in "
                f"{target.uri_for(s)} (experiment {experiment!r}); view it with "
                f"`mlflow ui --backend-store-uri {target.uri_for(s)}`"
            )
        elif to == "tensorboard":
            target = TensorBoardMirror(uri)
            folder = target.folder_for(s, run)
            _replay(s, run.run_id, target, to, str(folder))
            console.print(f"wrote {folder}; view with `tensorboard --logdir {folder.parent}`")
        else:
            raise ConfigError(f"--to {to!r}: choose one of {', '.join(TARGETS)}")


def _replay(store: Any, run_id: str, target: Any, to: str, where: str) -> None:
    """Mirror the run as it is at one moment (a live run's writer goes on meanwhile), an
    error of the mirror's own library (a URI it does not take, a server that does not
    answer, a folder it cannot write) as one line naming where."""
    from rengo.core.errors import RengoError
    from rengo.tracking.mirrors import mirror_run

    try:
        with store.snapshot():  # one moment: no round mirrored without its clients
            mirror_run(store, run_id, [target])
    except RengoError:
        raise
    except Exception as exc:
        said = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(
            f"could not mirror run {run_id} to {to} at {where} ({type(exc).__name__}: {said}); "
            "check --uri, and run this again once it is reachable: it adds only what is "
            "missing there"
        ) from exc


def _checkpoint_round(store: RunStore, run: RunInfo, given: str | None) -> int | None:
    """The round ``--round`` names: a number, or ``best``, the best round by the run's own
    ``[early_stopping]`` rule (:func:`rengo.hfl.early_stopping.best_round` over its
    recorded metrics: the round whose checkpoint the run kept); None for the last."""
    if given is None:
        return None
    if given.strip().lower() != "best":
        try:
            return int(given)
        except ValueError:
            raise ConfigError(f"--round {given!r}: give a round number or 'best'") from None
    from rengo.tracking.kept_round import early_stopping_round

    try:
        kept = early_stopping_round(store, run)
    except ConfigError as exc:
        raise ConfigError(f"--round best: {exc}; give a round number") from None
    if kept is None:
        raise ConfigError(
            f"--round best: run {run.run_id} has no [early_stopping] to say which round is "
            "best; give a round number (rengo runs show lists the rounds and their metrics)"
        )
    return kept.round


def export(
    run_id: RunIdArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="File (or folder, vertical runs).")],
    format: Annotated[str, typer.Option("--format", help="torch (.pt state_dict) or npz.")] = "npz",
    round: Annotated[
        str | None,
        typer.Option(
            "--round",
            help="Checkpoint round, or 'best': the best round of a run with [early_stopping] "
            "(default: the last).",
        ),
    ] = None,
    store: StoreOption = None,
    job: JobOption = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace files already there (else refuse, writing nothing).")
    ] = False,
    trees: Annotated[
        str | None,
        typer.Option(
            help="SecureBoost: export the first N trees, or 'best' for the best round's "
            "(default: every tree kept, as the run scored)."
        ),
    ] = None,
) -> None:
    """Write a run's trained model as a PyTorch state_dict (.pt) or numpy .npz.

    A horizontal model is one file (an existing folder given as --out gets RUN.npz inside);
    a simulated vertical model one file per party (a deployed one's parts never leave the
    parties, so its store has none). Existing files are kept unless --overwrite.
    """
    from rengo.tracking.model_export import (
        CATEGORICAL_ENCODING,
        FORMATS,
        categorical_encoding,
        categories_file,
        input_scaling,
        input_scaling_file,
        load_model,
        load_vertical_parts,
        named_parameters,
        target_scaling,
        target_scaling_file,
        write_categories,
        write_input_scaling,
        write_model,
        write_target_scaling,
    )

    with friendly_errors(), _open(store) as s:
        if format not in FORMATS:
            raise ConfigError(f"--format {format!r}: choose one of {', '.join(FORMATS)}")
        run = s.get_run(run_id)
        suffix = ".pt" if format == "torch" else ".npz"
        boosted = run.kind == "vfl" and run.config.get("algorithm") == "secureboost"
        if trees is not None and not boosted:
            raise ConfigError("--trees picks a SecureBoost run's trees; this run has none")
        if run.kind.startswith("vfl"):
            if round is not None:
                raise ConfigError("a vertical run stores its parts once, after training")
            if boosted:
                _export_secureboost(s, run.run_id, out, format, overwrite, trees)
                return
            if run.kind == "vfl" and run.config.get("algorithm") == "ftl":
                _export_transfer(s, run.run_id, out, format, overwrite)
                return
            if run.kind == "vfl" and run.config.get("algorithm") == "splitnn":
                _export_splitnn(s, run.run_id, out, format, overwrite)
                return
            parts = load_vertical_parts(s, run.run_id)
            # npz: with the recorded names as text arrays (a torch state_dict holds tensors)
            states = parts.named_state_dicts() if format == "npz" else parts.state_dicts()
            exposure = _exposure_column(run.config)
            named_unit = exposure is not None and format == "npz" and parts.label_party in states
            if named_unit:
                import numpy as np

                # the unit of the score, in the one file a scorer at the label party reads
                states[parts.label_party]["exposure"] = np.array(exposure, dtype=str)
            targets = {party: out / f"{party}{suffix}" for party in states}
            files = [*targets.values()]
            files += [input_scaling_file(out / f"{party}{suffix}") for party in parts.scalers]
            files += [categories_file(out / f"{party}{suffix}") for party in parts.categories]
            refuse_to_replace(files, overwrite)
            writable_folder(out)
            for party, state in sorted(states.items()):
                path = write_model(state, targets[party], format)
                shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in state.items())
                console.print(f"wrote {path} ({shapes})")
                if party in parts.scalers:
                    console.print(f"wrote {write_input_scaling(path, parts.scalers[party])}")
                if party in parts.categories:  # each party's own: never in another's file
                    _write_party_categories(path, party, parts.categories[party])
            columns = "(X - mean) / scale" if parts.scalers else "X"
            where = ", each party's mean and scale from its .inputs.npz" if parts.scalers else ""
            if parts.fills:
                where += "; empty cells then take the part's fill values"
            if not isinstance(parts.intercept, float):  # one-vs-rest: K class models
                console.print(
                    f"label party {parts.label_party}; {len(parts.intercept)} one-vs-rest class "
                    f"models: class k's score is the sigmoid of the sum of each party's "
                    f"{columns} @ weight[:, k] + intercept[k]{where}; a row's class "
                    "probabilities are its K scores divided by their sum"
                    + _class_columns_note(parts, format),
                    markup=False,
                    soft_wrap=True,
                )
                return
            console.print(
                f"label party {parts.label_party}; a row's score is "
                f"{_inverse_link(run.config)}the sum of each party's {columns} @ weight + "
                f"intercept{where}{_score_meaning(run.config)}"
                + (" (the label party's npz names it: 'exposure')" if named_unit else ""),
                markup=False,
                soft_wrap=True,
            )
            return
        snapshot = load_model(s, run.run_id, _checkpoint_round(s, run, round))
        namer, source = model_namer(run, job)
        state = (
            dict(namer(snapshot.parameters))
            if namer is not None
            else named_parameters(snapshot.parameters)
        )
        if out.is_dir():
            target = out / f"{run.run_id}{suffix}"
        else:
            target = out if out.suffix else out.with_suffix(suffix)
        scaling = input_scaling(run.config)
        predicts = target_scaling(run.config)
        beside = [input_scaling_file(target)] if scaling else []
        beside += [target_scaling_file(target)] if predicts else []
        encoded = categorical_encoding(run.config)
        beside += [categories_file(target)] if encoded else []
        refuse_to_replace([target, *beside], overwrite)
        writable_folder(target.parent)
        path = write_model(state, target, format)
        console.print(
            f"wrote {path}: the model after round {snapshot.round} of run {run.run_id}, "
            f"{len(state)} tensors ({source})"
        )
        _say_privacy(s, run)
        if encoded is not None:
            features = run.config[CATEGORICAL_ENCODING].get("features")
            _say_categories_written(
                write_categories(path, encoded, features), "the model's text columns"
            )
        if scaling is not None:
            console.print(
                f"wrote {write_input_scaling(path, scaling)}: the model was trained on "
                "standardised features; score raw rows as (X - mean) / scale"
                + (DEPLOYED_SCALING if run.kind == "hfl-deployed" else "")
            )
        if run.config.get("model") == "poisson":
            console.print(_count_model_note(run.config), markup=False, soft_wrap=True)
        if predicts is not None:
            console.print(
                f"wrote {write_target_scaling(path, predicts)}: the model predicts the "
                f"standardised target; read a prediction z as z * {predicts.scale:.6g} + "
                f"{predicts.mean:.6g}"
            )


def _say_privacy(store: RunStore, run: RunInfo) -> None:
    """Print the differential privacy the run recorded beside the model it exported: a file
    handed on carries no record of it, and whoever publishes it signs that number."""
    from rengo.cli import privacy_line as line

    spent = line.privacy_line(store, run.run_id)
    if spent is not None:
        console.print(
            f"{spent} - the run's spend over every model it released; the card "
            f"(`rengo runs card {run.run_id}`) lists the settings it follows from",
            markup=False,
            soft_wrap=True,
        )


def _count_model_note(config: Mapping[str, Any]) -> str:
    """What a horizontal Poisson model's output is: the log of a rate per unit of the job's
    exposure column (or a row's expected count where the job had none)."""
    settings = config.get("job_settings")
    data = settings.get("data", {}) if isinstance(settings, Mapping) else {}
    exposure = data.get("exposure") if isinstance(data, Mapping) else None
    if exposure is None:
        return (
            "a Poisson model: exp(X @ weight.T + bias) is a row's expected count (the model "
            "was trained without an exposure)"
        )
    return (
        f"a Poisson model: exp(X @ weight.T + bias) is the rate per unit of {exposure!r} (the "
        f"job's data.exposure); multiply by a row's {exposure!r} for its expected count"
    )


def _class_columns_note(parts: VerticalParts, format: str) -> str:
    """Which class each weight column is, for the export's closing line."""
    if parts.classes is None:
        return ""
    listed = ", ".join(f"{k}: {name}" for k, name in enumerate(parts.classes))
    kept = (
        f" (the array classes of {parts.label_party}'s file; each file's feature names its rows)"
        if format == "npz"
        else ""
    )
    return f"; column k is class {listed}{kept}"


def _write_party_categories(model: Path, party: str, own: PartyCategories) -> None:
    """Write a vertical party's text-column encoding beside its exported model file (its
    own only: no other party's file holds it), saying how to read rows to score with it."""
    from rengo.tracking.model_export import write_categories

    written = write_categories(model, own.encoding, own.features)
    _say_categories_written(written, f"{party}'s text columns", id_column=True)


def _say_categories_written(written: Path, whose: str, id_column: bool = False) -> None:
    """Say that ``written`` holds how ``whose`` were one-hot encoded, and how to read rows
    to score into the same columns in the same order (a vertical party's by its ID column,
    which the parties match rows by)."""
    ids = "id_column=ID, " if id_column else ""
    console.print(
        f"wrote {written}: {whose} were one-hot encoded; encode rows to score into the same "
        "columns, in the same order, with doc = json.load(open(FILE)); load_csv(NEW.csv, "
        f'label=None, {ids}features=doc["features"], categories=doc["categories"], '
        'unseen=doc["unseen"])' + (" (ID: the column the parties match rows by)" if ids else ""),
        soft_wrap=True,
    )


def _require_json(format: str, model: str) -> None:
    """Refuse ``--format torch`` for a model kept as one JSON document per party."""
    if format == "torch":
        raise ConfigError(
            f"a {model} model is kept as JSON documents: export it with --format npz "
            "(the default), which writes each party's model as JSON"
        )


def _write_documents(
    documents: Mapping[str, dict[str, Any]], out: Path, overwrite: bool
) -> dict[str, Path]:
    """Write a run's party documents as OUT/PARTY.json, all or none (the files a deployed
    party writes with --model, which a scoring-only run reads with --load-model)."""
    from rengo.core.files import write_together
    from rengo.vfl.party_model_file import document_bytes

    targets = {party: out / f"{party}.json" for party in documents}
    refuse_to_replace([*targets.values()], overwrite)
    writable_folder(out)
    contents = {targets[p]: document_bytes(d) for p, d in documents.items()}
    try:
        write_together(contents)  # none replaced unless every one is whole
    except OSError as exc:
        raise ConfigError(
            f"cannot write to {out}: {exc.strerror or exc} "
            f"({'; '.join(getattr(exc, '__notes__', [])) or 'nothing was written'})"
        ) from exc
    return targets


def _export_transfer(store: Any, run_id: str, out: Path, format: str, overwrite: bool) -> None:
    """Write a transfer-learning run's model as one JSON file per party (OUT/PARTY.json):
    the files a deployed party writes with --model, which a scoring-only run reads with
    --load-model to score the target's new rows."""
    from rengo.tracking.transfer_model import load_transfer

    _require_json(format, "transfer-learning")
    stored = load_transfer(store, run_id)  # the source's document and one target's
    (target,) = sorted(set(stored.documents) - {stored.label_party})
    targets = _write_documents(stored.documents, out, overwrite)
    for party in sorted(stored.documents):
        what = "encoder and Phi" if party == stored.label_party else "encoder, without Phi"
        console.print(f"wrote {targets[party]} ({what})")
    console.print(
        f"source {stored.label_party}; each party keeps its own file. Score {target}'s new "
        f"rows: rengo vfl coordinator --algorithm ftl --label-party {stored.label_party} "
        f"--parties {','.join(sorted(stored.documents))} --no-train ...; rengo vfl party "
        f"--name {stored.label_party} --load-model {targets[stored.label_party]} ...; rengo "
        f"vfl party --name {target} --load-model {targets[target]} --score-csv NEW.csv ...",
        soft_wrap=True,
        markup=False,
    )


def _export_splitnn(store: Any, run_id: str, out: Path, format: str, overwrite: bool) -> None:
    """Write a SplitNN run's model as one JSON file per party (OUT/PARTY.json): the files
    a deployed party writes with --model, which a scoring-only run reads with --load-model
    to score new customers (every party brings its rows of them)."""
    from rengo.tracking.splitnn_model import load_splitnn

    _require_json(format, "SplitNN")
    stored = load_splitnn(store, run_id)
    label = stored.label_party
    targets = _write_documents(stored.documents, out, overwrite)
    for party in sorted(stored.documents):
        what = "bottom and top models" if party == label else "bottom model"
        console.print(f"wrote {targets[party]} ({what}, {stored.epochs} epochs)")
    parties = ",".join(sorted(stored.documents))
    console.print(
        f"label party {label}; each party keeps its own file. Score new customers: rengo vfl "
        f"coordinator --algorithm splitnn --label-party {label} --parties {parties} "
        "--no-train ...; at each party, rengo vfl party --name PARTY --load-model "
        f"{out / 'PARTY.json'} --score-csv NEW.csv ... (the label party's --predictions "
        "FILE receives the scores; with --label COLUMN it evaluates them)",
        soft_wrap=True,
        markup=False,
    )


def _export_secureboost(
    store: Any, run_id: str, out: Path, format: str, overwrite: bool, trees: str | None
) -> None:
    """Write a SecureBoost run's model as one JSON file per party (OUT/PARTY.json, and
    OUT/PARTY.json.inputs.npz where its columns were z-scored); ``trees``: its first N
    trees, or ``"best"`` for the best round's."""
    from rengo.tracking.model_export import categories_file, input_scaling_file, load_secureboost
    from rengo.tracking.model_export import write_input_scaling as write_scaling
    from rengo.vfl.secureboost import write_document

    if format == "torch":
        raise ConfigError("a SecureBoost model is trees, not tensors: export it with --format npz "
                          "(the default), which writes each party's model as JSON")  # fmt: skip
    stored = load_secureboost(store, run_id)
    if trees is not None:
        if trees != "best" and not trees.isdigit():
            raise ConfigError(f"--trees {trees!r}: give a number of trees or 'best'")
        kept = stored.trees
        if trees != "best" and not 1 <= int(trees) <= kept:
            raise ConfigError(
                f"--trees {trees}: run {stored.run_id} kept {kept} trees (best round "
                f"{stored.best_round}); give 1 to {kept}, or 'best'"
            )
        stored = stored.first_trees(stored.best_round if trees == "best" else int(trees))
        console.print(
            f"the first {stored.trees} of the {kept} trees kept"
            + (" (the best round)" if trees == "best" else "")
        )
    targets = {party: out / f"{party}.json" for party in stored.documents}
    files = [*targets.values(), *(input_scaling_file(targets[p]) for p in stored.scalers)]
    files += [categories_file(targets[p]) for p in stored.categories]
    refuse_to_replace(files, overwrite)
    writable_folder(out)
    for party, document in sorted(stored.documents.items()):
        path = write_document(targets[party], document)
        what = (
            f"{len(document['trees'])} trees, no feature party's threshold"
            if party == stored.label_party
            else f"its own {len(document['splits'])} splits"
        )
        console.print(f"wrote {path} ({what})")
        if party in stored.scalers:
            console.print(f"wrote {write_scaling(path, stored.scalers[party])}")
        if party in stored.categories:
            _write_party_categories(path, party, stored.categories[party])
    console.print(
        f"label party {stored.label_party}; each party keeps its own file and scores new rows "
        "with the others: HeteroSecureBoost.from_party_models(read_party_model(f) for f in "
        "files).predict_proba({party: (ids, (X - mean) / scale)}), mean and scale from each "
        "party's .inputs.npz"
    )


def _inverse_link(config: Mapping[str, Any]) -> str:
    """How a coordinated linear model's run turns its summed linear predictor into a score."""
    return {
        "hetero_lr": "the sigmoid of ",
        "hetero_linear": "",
        "hetero_poisson": "exp of ",
    }.get(str(config.get("algorithm")), "the inverse link (sigmoid for logistic regression) of ")


def _exposure_column(config: Mapping[str, Any]) -> str | None:
    """The exposure column a hetero Poisson run's label party trained with, or None."""
    exposure = config.get("exposure")
    if config.get("algorithm") != "hetero_poisson" or not isinstance(exposure, str):
        return None
    return exposure


def _score_meaning(config: Mapping[str, Any]) -> str:
    """What the exported score is, where the algorithm says: a Poisson model's is a rate
    per unit of its exposure column, or a row's expected count where it had none."""
    if config.get("algorithm") != "hetero_poisson":
        return ""
    exposure = config.get("exposure")
    if exposure is None:
        return ": a row's expected count (the model was trained without an exposure)"
    return (
        f": the rate per unit of {exposure!r} (the model was trained with the label party's "
        f"exposure {exposure!r}); multiply by a row's {exposure!r} for its expected count"
    )
