"""``rengo vfl ...``: vertical FL from the command line (align parties' CSVs by PSI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rengo.cli.csv_format_options import DelimiterOption, EncodingOption
from rengo.cli.errors import friendly_errors
from rengo.cli.vfl_deploy import vfl_coordinator, vfl_party
from rengo.core.errors import ConfigError

# mounted under `rengo` as a deferred group, which gives its help (rengo.cli.main)
vfl_app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console()
vfl_app.command("coordinator")(vfl_coordinator)
vfl_app.command("party")(vfl_party)


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
