"""An exposure column is neither the label, the ID nor a feature. Each place a user names
it (``load_csv(exposure=)``, a job's ``[data] exposure`` and ``[vfl] exposure``, ``rengo vfl
party --exposure``) refuses the label or ID column with one check and one message, and the
loader names the exposure column when it is listed among the features (it said "the
label/id column cannot also be a feature")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rengo.core.errors import ConfigError
from rengo.data import load_csv
from rengo.deploy.vertical_data import load_party_data
from rengo.jobs import load_job

TABLE = "id,age,years,claims\np1,30,0.5,0\np2,41,1.0,2\np3,52,0.25,1\n"


def _table(folder: Path) -> Path:
    path = folder / "policies.csv"
    path.write_text(TABLE)
    return path


def _load_csv(folder: Path, exposure: str) -> None:
    load_csv(_table(folder), label="claims", id_column="id", exposure=exposure)


def _horizontal_job(folder: Path, exposure: str) -> None:
    _table(folder)
    job = folder / "job.toml"
    job.write_text(
        '[job]\nname = "f"\nrounds = 1\n[data]\ndataset = "csv"\npath = "policies.csv"\n'
        f'label = "claims"\nid_column = "id"\ntask = "regression"\nexposure = "{exposure}"\n'
        '[partition]\nscheme = "iid"\nnum_clients = 2\n[model]\ntype = "poisson"\n'
    )
    load_job(job)


def _vertical_job(folder: Path, exposure: str) -> None:
    table = _table(folder)
    (folder / "telematics.csv").write_text("id,speed\np1,1\np2,2\np3,3\n")
    job = folder / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\n[vfl]\nalgorithm = "hetero_poisson"\nlabel_party = "insurer"\n'
        f'label = "claims"\nexposure = "{exposure}"\n[vfl.parties]\n'
        f'insurer = "{table}"\ntelematics = "{folder / "telematics.csv"}"\n'
    )
    load_job(job)


def _party_flag(folder: Path, exposure: str) -> None:
    load_party_data(_table(folder), "id", label="claims", task="regression", exposure=exposure)


ENTRY_POINTS: dict[str, tuple[Callable[[Path, str], None], str]] = {
    "load_csv": (_load_csv, r"policies.csv: the exposure column"),
    "[data] exposure": (_horizontal_job, r"job.toml: data.exposure ="),
    "[vfl] exposure": (_vertical_job, r"job.toml: vfl.exposure ="),
    "--exposure": (_party_flag, r"--exposure"),
}


@pytest.mark.parametrize("where", list(ENTRY_POINTS))
@pytest.mark.parametrize(("column", "role"), [("claims", "label"), ("id", "ID")])
def test_an_exposure_that_is_the_label_or_id_is_refused_alike_everywhere(
    tmp_path: Path, where: str, column: str, role: str
) -> None:
    read, named = ENTRY_POINTS[where]
    with pytest.raises(
        ConfigError,
        match=rf"{named} '{column}' is also the {role} column: name the column of each row's "
        r"exposure \(years insured\)$",
    ):
        read(tmp_path, column)


def test_an_exposure_listed_among_the_features_is_named_as_the_exposure(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"the exposure column 'years' cannot also be a feature; leave it out"
    ):
        load_csv(
            _table(tmp_path), label="claims", id_column="id", features=["age", "years"],
            exposure="years",
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"the id column 'id' cannot also be a feature"):
        load_csv(_table(tmp_path), label="claims", id_column="id", features=["age", "id"])
