"""``rengo vfl ...``: vertical FL from the command line (align parties' CSVs by PSI, the
columns' information value, delete a run's checkpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rengo.cli.csv_format_options import DelimiterOption, EncodingOption
from rengo.cli.errors import friendly_errors
from rengo.cli.vfl_deploy import vfl_coordinator, vfl_party
from rengo.cli.vfl_iv import vfl_iv
from rengo.core.errors import ConfigError

# mounted under `rengo` as a deferred group, which gives its help (rengo.cli.main)
vfl_app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console()
vfl_app.command("coordinator")(vfl_coordinator)
vfl_app.command("party")(vfl_party)
vfl_app.command("iv")(vfl_iv)


@vfl_app.command("align")
def align(
    tables: Annotated[
        list[str], typer.Argument(help="PARTY=path.csv for each party.", show_default=False)
    ],
    id_column: Annotated[str, typer.Option(help="Name of the ID column in every CSV.")] = "id",
    leader: Annotated[
        str | None, typer.Option(help="The label party (default: the first one).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the aligned CSVs.")] = Path("aligned"),
    seed: Annotated[int | None, typer.Option(help="Seed for the agreed row order.")] = None,
    allow_empty: Annotated[bool, typer.Option(help="Do not fail on an empty overlap.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing OUT/PARTY.csv files.")] = False,
    delimiter: DelimiterOption = ",",
    encoding: EncodingOption = "utf-8",
) -> None:
    """Find the customers all parties share by private set intersection (ECDH on
    Curve25519) and write each party's shared rows, in one agreed order, to OUT/PARTY.csv
    (existing files only with --overwrite), with the inputs' delimiter and encoding. IDs and
    cells are read as `rengo run` reads them: stripped of surrounding whitespace."""
    from rengo.cli.align_progress import align_progress
    from rengo.cli.output_paths import refuse_to_replace
    from rengo.data.csv_table import CsvFormat
    from rengo.vfl import align_csv
    from rengo.vfl.psi import AlignStep

    with friendly_errors():
        paths: dict[str, Path] = {}
        for item in tables:
            party, sep, path = item.partition("=")
            if not sep or not party or not path:
                raise ConfigError(f"expected PARTY=path.csv, got {item!r}")
            if party in paths:
                raise ConfigError(f"party {party!r} given twice")
            paths[party] = Path(path)
        if len(paths) < 2:
            raise ConfigError("private set intersection needs at least two parties")
        chosen = leader or next(iter(paths))
        if chosen not in paths:
            raise ConfigError(f"--leader {chosen!r} is not one of {sorted(paths)}")
        refuse_to_replace([out / f"{party}.csv" for party in paths], overwrite)
        form = CsvFormat.checked(delimiter, encoding)
        counts: dict[str, int | None] = {}  # each finished stage's count, by stage

        with align_progress(console, len(paths)) as shown:

            def progress(step: AlignStep) -> None:
                if step.finished:
                    counts[step.stage] = step.count
                shown(step)

            written = align_csv(
                paths,
                id_column,
                chosen,
                out,
                seed=seed,
                allow_empty=allow_empty,
                delimiter=form.delimiter,
                encoding=form.encoding,
                progress=progress,
            )
        console.print(f"{counts['psi']} IDs shared by all {len(written)} parties")
        for party, written_path in written.items():
            console.print(f"{party}: {written_path}")


@vfl_app.command("delete-checkpoints")
def delete_checkpoints(
    run: Annotated[str, typer.Argument(help="The run's id (as the coordinator named it).")],
    checkpoints: Annotated[
        Path, typer.Option(help="This machine's checkpoint folder (--checkpoints of the run).")
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation.")
    ] = False,
) -> None:
    """Delete this machine's checkpoints of a vertical run that will not be resumed (its
    roles' alignments, epochs, sealed keys and plan under CHECKPOINTS/RUN). A run that
    completed needs none of this: its roles remove theirs as it completes."""
    from rengo.vfl.checkpoints import remove_run_checkpoints

    with friendly_errors():
        if Path(run).name != run or run in ("", ".", ".."):
            raise ConfigError(f"{run!r} is not a run id (a run id names one folder)")
        folder = checkpoints / run
        if not folder.is_dir():
            raise ConfigError(f"no checkpoints of run {run!r} in {checkpoints}")
        roles = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
        shown = ", ".join(roles) or "no role"
        if not yes and not typer.confirm(
            f"delete the checkpoints of run {run} in {folder} ({shown})? it cannot be resumed "
            "after this",
            default=False,
        ):
            console.print("nothing deleted")
            return
        removed = remove_run_checkpoints(checkpoints, run)
        left = [str(entry) for entry in folder.rglob("*")] if folder.exists() else []
        console.print(
            f"run {run}: deleted {len(removed)} checkpoint file(s) of {shown} from {folder}",
            highlight=False,
            soft_wrap=True,
        )
        if left:
            raise ConfigError(
                f"{folder} still holds files rengo did not write, left as they are: "
                + ", ".join(left[:5])
                + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            )
