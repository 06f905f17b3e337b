"""``rengo vfl iv JOB.toml``: every party's columns' information value, before training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rengo.cli.errors import friendly_errors

console = Console()


def vfl_iv(
    job: Annotated[Path, typer.Argument(help="A vertical job file (job.kind = 'vfl').")],
    max_bin: Annotated[
        int | None,
        typer.Option(min=2, help="Quantile bins per column (default: [vfl.selection]'s, or 10)."),
    ] = None,
    adjustment_factor: Annotated[
        float | None,
        typer.Option(
            help="Added to both counts of a one-class bin (default: [vfl.selection]'s, or 0.5)."
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Also write every column's bins, counts, WOE and IV to this file."
        ),
    ] = None,
) -> None:
    """Every party's columns' weight of evidence and information value on the job's training
    rows (FATE's HeteroFeatureBinning), by the federated protocol simulated: the label party
    learns a feature party's per-bin counts, never its values. Largest IV first; with the
    job's [vfl.selection], which columns it keeps. Cut points are in the tables' own units."""
    from rengo.jobs import build_vertical_job, load_job
    from rengo.jobs.iv_selection import SelectionSettings, select_columns, selection_key_bits
    from rengo.tracking.iv_selection_table import iv_selection_table

    with friendly_errors():
        spec = load_job(job)
        if spec.vfl is None:
            from rengo.core.errors import ConfigError

            raise ConfigError(f"{job}: not a vertical job (job.kind must be 'vfl')")
        built = build_vertical_job(spec, shared_rows_later=False)
        given = spec.vfl.selection
        settings = given or SelectionSettings()  # its binning: no rule is applied
        if max_bin is not None:
            settings = replace(settings, max_bin=max_bin)
        if adjustment_factor is not None:
            settings = replace(settings, adjustment_factor=adjustment_factor)
        key_bits = selection_key_bits(spec.vfl.options)
        result = select_columns(
            built.train, settings, key_bits=key_bits, seed=spec.job.seed, select=given is not None
        )
        record = result.record(settings)
        if given is None:  # no rule: nothing is kept or dropped
            for column in record["columns"]:
                column.pop("kept")
        table = iv_selection_table(record, settings.as_dict())
        if table is not None:
            console.print(table)
        if json_out is not None:
            features = []
            for f in result.features:
                scaling = built.scalers.get(f.party)
                edges = f.edges
                if scaling is not None and edges is not None:  # back to the table's units
                    mean, scale = scaling.mean[f.column], scaling.scale[f.column]
                    edges = tuple(float(e * scale + mean) for e in edges)
                features.append(replace(f, edges=edges).to_dict())
            json_out.write_text(json.dumps(features, indent=1))
            console.print(f"wrote {json_out}")
