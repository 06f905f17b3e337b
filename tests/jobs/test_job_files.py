"""Job files: valid ones build a runnable job, invalid ones fail with a message naming the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.core import ConfigError, DataError
from rengo.hfl import FedAdam, simulate
from rengo.jobs import build_hfl_job, load_job, load_job_dataset, parse_job

JOB = """
[job]
name = "t"
seed = 3
rounds = 2
[data]
dataset = "iris"
[partition]
scheme = "dirichlet"
num_clients = 3
alpha = 1.0
[model]
type = "logistic"
[train]
lr = 0.1
batch_size = 16
[strategy]
name = "fedadam"
eta = 0.05
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def test_valid_job_builds_and_runs(tmp_path):
    spec = load_job(_write(tmp_path, JOB))
    job = build_hfl_job(spec)
    assert isinstance(job.strategy, FedAdam) and job.strategy.eta == 0.05
    assert len(job.client_ids) == 3
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 2, seed=3
    )
    assert 0.0 <= history.last("central_accuracy") <= 1.0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("rounds = 2", "roundz = 2"), "did you mean 'rounds'"),
        (("rounds = 2", "rounds = 0"), r"job.rounds must be in \[1, 1000000\], got 0"),
        (("rounds = 2", 'rounds = "two"'), "job.rounds must be int"),
        (('name = "fedadam"', 'name = "fedmagic"'), "strategy.name = 'fedmagic'"),
        (("eta = 0.05", "proximal_mu = 0.1"), "unknown key 'proximal_mu'"),
        (('type = "logistic"', 'type = "cnn"'), "model.type = 'cnn'"),
        (('dataset = "iris"', 'dataset = "csv"'), "needs data.path"),
        (("[train]", "[trian]"), "unknown key 'trian'"),
    ],
)
def test_invalid_job_names_the_field(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_job(_write(tmp_path, JOB.replace(*edit)))


def test_an_unknown_dataset_fails_when_built_an_unknown_scheme_when_read(tmp_path):
    spec = load_job(_write(tmp_path, JOB.replace('dataset = "iris"', 'dataset = "imagenet"')))
    with pytest.raises(ConfigError, match="imagenet"):
        build_hfl_job(spec)
    with pytest.raises(ConfigError, match="zipf"):
        load_job(_write(tmp_path, JOB.replace('scheme = "dirichlet"', 'scheme = "zipf"')))


def test_malformed_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_job(_write(tmp_path, "[job\nname="))
    with pytest.raises(ConfigError, match="does not exist"):
        load_job(tmp_path / "missing.toml")


def test_a_folder_given_as_job_file_is_called_a_folder_not_missing(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a job file") as refused:
        load_job(tmp_path)
    assert "does not exist" not in str(refused.value)


def test_csv_job_resolves_path_relative_to_job_file(tmp_path):
    rows = ["a,b,label"] + [f"{i},{(i * 7) % 5},{'yes' if i % 2 else 'no'}" for i in range(40)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    text = JOB.replace('dataset = "iris"', 'dataset = "csv"\npath = "data.csv"\nlabel = "label"')
    spec = load_job(
        _write(
            tmp_path,
            text.replace('scheme = "dirichlet"', 'scheme = "iid"').replace("alpha = 1.0", ""),
        )
    )
    job = build_hfl_job(spec)
    assert job.federation.num_classes == 2


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ('[data]\ndataset = "csv"\npath = "{p}"\n', "data.path"),
        (
            '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "card"\n'
            '[vfl.parties]\ncard = "{p}"\nbank = "b.csv"\n',
            "vfl.parties.card",
        ),
    ],
)
def test_a_relative_path_found_only_in_the_working_folder_is_refused_naming_both_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, key: str
) -> None:
    """A path written relative to where the user ran the job, not to the job file, stopped
    the run with a bare "no such file" naming a path the user never wrote."""
    (tmp_path / "jobs").mkdir()
    (tmp_path / "data.csv").write_text("a,y\n1,0\n2,1\n")
    job = tmp_path / "jobs" / "job.toml"
    job.write_text(section.format(p="data.csv"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError,
        match=rf"{key} = 'data.csv' is read from the job file's folder \(.*jobs\)",
    ):
        load_job(job)
    job.write_text(section.format(p="../data.csv"))
    assert str(tmp_path / "data.csv") in str(load_job(job))


def test_parse_job_defaults_are_a_runnable_job():
    spec = parse_job({"job": {"rounds": 1}, "model": {"type": "logistic"}})
    assert spec.data.dataset == "digits" and spec.strategy.name == "fedavg"


def test_the_old_strategy_tables_warn_and_follow_the_registry():
    import rengo.jobs
    import rengo.jobs.spec
    from rengo.hfl import FedAdam, strategy_registry

    with pytest.warns(DeprecationWarning, match="strategy_registry"):
        classes = rengo.jobs.STRATEGY_CLASSES
    assert classes["fedadam"] is FedAdam and set(classes) == set(strategy_registry())
    with pytest.warns(DeprecationWarning):
        assert set(rengo.jobs.spec.STRATEGIES) == set(strategy_registry())
    with pytest.warns(DeprecationWarning):
        assert rengo.jobs.spec.STRATEGY_OPTIONS["krum"] == {"num_byzantine", "num_selected"}
    with pytest.warns(DeprecationWarning):
        assert {"num_byzantine", "num_selected"} <= rengo.jobs.spec.INTEGER_OPTIONS


def test_a_whole_number_regression_target_is_refused_unless_task_is_classification(
    tmp_path: Path,
) -> None:
    """A regression CSV (diabetes: 214 whole-number targets in 442 rows) trained silently as
    a 214-class classifier (central_accuracy 0.011)."""
    import numpy as np

    from rengo.data import load_diabetes
    from rengo.jobs.build import build_federation

    diabetes = load_diabetes()
    rows = ["y,a,b"] + [
        f"{int(y)},{float(x[0])!r},{float(x[1])!r}"
        for y, x in zip(diabetes.labels(), diabetes.X, strict=True)
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    text = JOB.replace('dataset = "iris"', 'dataset = "csv"\npath = "d.csv"')
    with pytest.raises(ConfigError, match=r"'y' of .*d.csv has 214 distinct whole numbers in 442"):
        build_federation(load_job(_write(tmp_path, text)))
    forced = text.replace('path = "d.csv"', 'path = "d.csv"\ntask = "classification"')
    fed = build_federation(load_job(_write(tmp_path, forced)))
    assert fed.num_classes == 214 and np.isfinite(fed.test.X).all()  # type: ignore[union-attr]
    build_federation(load_job(_write(tmp_path, JOB)))  # iris: 3 classes, as before


@pytest.mark.parametrize(("path", "guess"), [("mine.csv", "csv"), ("mine.parquet", "parquet")])
def test_data_path_with_a_bundled_dataset_is_refused_with_a_hint(path: str, guess: str) -> None:
    """It trained on the bundled table and never opened the user's file."""
    text = JOB.replace('dataset = "iris"', f'path = "{path}"')  # dataset left at digits
    with pytest.raises(
        ConfigError, match=rf"data.path is set .* did you mean dataset = \"{guess}\""
    ):
        parse_job(__import__("tomllib").loads(text))


def test_keys_that_the_job_ignores_are_named_in_a_warning() -> None:
    text = JOB.replace('type = "logistic"', 'type = "logistic"\nhidden = [8, 8]').replace(
        'dataset = "iris"', 'dataset = "iris"\nid_column = "customer"'
    )
    with pytest.warns(UserWarning) as caught:
        parse_job(__import__("tomllib").loads(text))
    said = [str(w.message) for w in caught]
    assert any("model.hidden is ignored with model.type = 'logistic'" in m for m in said)
    assert any("data.id_column is ignored with data.dataset = 'iris'" in m for m in said)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('dataset = "iris"', 'dataset = "irsi"'),
            r"data.dataset = 'irsi'; choose a bundled table \(.*iris.*\) or csv \| parquet",
        ),
        (
            (
                'scheme = "dirichlet"\nnum_clients = 3\nalpha = 1.0',
                'scheme = "shards"\nnum_clients = 3\nshards_per_client = 100',
            ),
            r"\[partition\] scheme = 'shards', num_clients = 3 on iris \(150 rows\): 120 rows "
            r"cannot be cut into 3 clients x 100 shards_per_client = 300 shards",
        ),
        (
            (
                'scheme = "dirichlet"\nnum_clients = 3\nalpha = 1.0',
                'scheme = "iid"\n'
                'num_clients = 120\n[data]\ndataset = "iris"\nclient_test_size = 0.2',
            ),
            r"data.client_test_size = 0.2: client client-\d+ has 1 row",
        ),
        (('name = "t"', 'name = ""'), "job.name must be a non-empty string"),
    ],
)
def test_errors_in_built_jobs_name_the_key_and_the_data(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    """They said '300 clients' for 3 clients x 100 shards, named no key or file, suggested
    load_csv for a dataset typo, and refused an empty job.name only after the banner."""
    text = JOB.replace(*edit)
    if "client_test_size" in text:  # keep one [data] table
        text = text.replace('[data]\ndataset = "iris"\n[partition]', "[partition]", 1)
    with pytest.raises(ConfigError, match=message):
        build_hfl_job(load_job(_write(tmp_path, text)))


def test_a_fractional_label_is_named_when_a_job_finds_no_classes(tmp_path: Path) -> None:
    rows = ["a,y"] + [f"{i},{1 + i % 3}" for i in range(30)]
    rows[12] = "11,2.5"
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    text = JOB.replace('dataset = "iris"', 'dataset = "csv"\npath = "t.csv"')
    with pytest.raises(ConfigError, match=r"1 fractional value\(s\) \(first 2.5 in data row 12\)"):
        build_hfl_job(load_job(_write(tmp_path, text)))


def test_clients_too_small_for_their_own_test_split_are_counted_with_the_fix(
    tmp_path: Path,
) -> None:
    """At 1,000 clients (Dirichlet 0.1 on MNIST) 176 had one row; the error named one."""
    text = JOB.replace(
        'scheme = "dirichlet"\nnum_clients = 3\nalpha = 1.0', 'scheme = "iid"\nnum_clients = 120'
    ).replace('dataset = "iris"', 'dataset = "iris"\nclient_test_size = 0.2')
    with pytest.raises(
        ConfigError,
        match=r"client client-0 has 1 row\(s\), and 119 more of the 120 clients \(client-1, "
        r"client-2, client-3, \.\.\.\): too few .*\[partition\] min_size = 2",
    ):
        build_hfl_job(load_job(_write(tmp_path, text)))


def test_a_min_available_clients_above_the_job_clients_is_refused_not_lowered(
    tmp_path: Path,
) -> None:
    """It was lowered to the 3 clients silently (recorded as 4, run with 3)."""
    text = JOB.replace("eta = 0.05", "eta = 0.05\nmin_available_clients = 4")
    with pytest.raises(ConfigError, match=r"needs 4 clients available per round .* this job has 3"):
        build_hfl_job(load_job(_write(tmp_path, text)))


def test_a_served_job_keeps_its_min_available_clients_for_its_parties() -> None:
    """It was lowered to partition.num_clients (10 by default), which such a job never uses:
    20 parties and min_available_clients = 15 started rounds with 10 of them."""
    from rengo.jobs.build import build_served_job

    spec = parse_job(
        {"model": {"app": "m:init"}, "strategy": {"min_available_clients": 15}}, "served.toml"
    )
    served = build_served_job(spec, [np.zeros(3)], [f"p{i}" for i in range(20)])
    assert served.strategy.min_available_clients == 15
    one = parse_job({"model": {"app": "m:init"}, "strategy": {"min_fit_clients": 1}}, "one.toml")
    assert build_served_job(one, [np.zeros(3)], ["p0"]).strategy.min_available_clients == 1


def test_a_served_job_checks_min_fit_clients_against_its_parties() -> None:
    """It was checked against partition.num_clients (10 by default), which a served job never
    uses: 20 parties and min_fit_clients = 15 were refused ('exceeds
    partition.num_clients=10')."""
    from rengo.jobs.build import build_served_job

    spec = parse_job({"model": {"app": "m:init"}, "strategy": {"min_fit_clients": 15}}, "s.toml")
    served = build_served_job(spec, [np.zeros(3)], [f"p{i}" for i in range(20)])
    assert served.strategy.min_fit_clients == 15
    with pytest.raises(ConfigError, match=r"needs 15 parties to report .*serves 3"):
        build_served_job(spec, [np.zeros(3)], ["p0", "p1", "p2"])


@pytest.mark.parametrize(
    ("key", "typo", "meant"),
    [("strategy.name", "fedavgg", "fedavg"), ("job.executor", "proces", "process")],
)
def test_a_misspelt_strategy_or_executor_name_is_refused_with_the_closest_one(
    key: str, typo: str, meant: str
) -> None:
    """An unknown key got 'did you mean', a misspelt value only the whole list."""
    section, field = key.split(".")
    with pytest.raises(
        ConfigError, match=rf"{key} = '{typo}'; did you mean '{meant}'\? choose one of"
    ):
        parse_job({section: {field: typo}, "model": {"type": "logistic"}})


def test_an_executors_own_options_reach_its_pool_from_the_job_file(tmp_path: Path) -> None:
    """A job file had no way to give Ray's address or per-client resources ([job] holds the
    executor's name and workers only). [executor.NAME] tables go to that executor's pool
    when the job runs on it, so --executor may change without dropping them; checked
    without Ray: the serial pool refuses a misspelt option before a run is recorded."""
    from io import StringIO

    from rich.console import Console

    from rengo.cli.run_job import run_job
    from rengo.tracking import RunStore

    extra = "\n[executor.ray]\nnum_cpus_per_client = 2\n[executor.serial]\nthread_per_client = 1\n"
    job = _write(tmp_path, JOB + extra)
    spec = load_job(job)
    assert spec.executor_options == {
        "ray": {"num_cpus_per_client": 2},
        "serial": {"thread_per_client": 1},
    }
    console, store = Console(file=StringIO()), tmp_path / "runs"
    with pytest.raises(ConfigError, match="'serial' takes no option 'thread_per_client'"):
        run_job(console, job, store_path=store, progress=False)
    assert RunStore(store).list_runs() == []
    with pytest.raises(ConfigError, match=r"\[executor.NAME\] = 'rya'; did you mean 'ray'"):
        parse_job({"model": {"type": "logistic"}, "executor": {"rya": {}}})


@pytest.mark.parametrize("column", ["id", "customer_id", "CustomerID"])
def test_an_id_column_is_refused_as_a_feature_until_data_id_column_names_it(
    tmp_path: Path, column: str
) -> None:
    """Without data.id_column a CSV's ID column ("000123"...) trained as a feature, the
    number 123, and the run was recorded completed."""
    from rengo.jobs.build import build_federation

    rows = [f"{column},a,y"] + [f"{i:06d},{i % 7}.5,{i % 2}" for i in range(40)]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    text = JOB.replace('dataset = "iris"', 'dataset = "csv"\npath = "bank.csv"')
    with pytest.raises(ConfigError, match=rf"column '{column}' of \S*bank.csv is named like an ID"):
        build_federation(load_job(_write(tmp_path, text)))
    named = text.replace('path = "bank.csv"', f'path = "bank.csv"\nid_column = "{column}"')
    assert build_federation(load_job(_write(tmp_path, named))).client(0).feature_names == ("a",)


def test_a_feature_named_like_an_id_that_repeats_values_still_trains(tmp_path: Path) -> None:
    """A code shared by many rows (a region_id) is a feature the user may mean to keep."""
    from rengo.jobs.build import build_federation

    rows = ["region_id,a,y"] + [f"{i % 4},{i % 7}.5,{i % 2}" for i in range(40)]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    text = JOB.replace('dataset = "iris"', 'dataset = "csv"\npath = "bank.csv"')
    fed = build_federation(load_job(_write(tmp_path, text)))
    assert fed.client(0).feature_names == ("region_id", "a")


def test_a_csv_job_reads_a_spreadsheet_export_its_data_section_describes(tmp_path):
    # a German Excel's "CSV (Trennzeichen-getrennt)": ';', decimal commas, cp1252, CRLF
    rows = ["Größe;Gewicht;Befund"]
    rows += [f"{i},5;{(i * 7) % 5},25;{'ja' if i % 2 else 'nein'}" for i in range(40)]
    folder = tmp_path / "Studie Köln"
    folder.mkdir()
    (folder / "Kohorte 1.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    data = 'dataset = "csv"\npath = "Kohorte 1.csv"\nlabel = "Befund"\n'
    text = JOB.replace('dataset = "iris"', data).replace('scheme = "dirichlet"', 'scheme = "iid"')
    job_file = folder / "job.toml"
    job_file.write_text(text.replace("alpha = 1.0", ""), encoding="utf-8")
    with pytest.raises(DataError, match=r'Kohorte 1.csv:1: not UTF-8.*encoding = "cp1252"'):
        build_hfl_job(load_job(job_file))
    described = ["data.delimiter=;", "data.encoding=cp1252", "data.decimal=,"]
    table = load_job_dataset(load_job(job_file, described))
    assert table.feature_names == ("Größe", "Gewicht")
    np.testing.assert_array_equal(table.X[:2], [[0.5, 0.25], [1.5, 2.25]])
    assert table.classes == ("ja", "nein")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('delimiter = ";;"', "data.delimiter must be one character"),
        ('encoding = "ansi"', "data.encoding 'ansi' is not a text encoding"),
        ('decimal = ","', "data.decimal ',' is also the delimiter"),
    ],
)
def test_a_csv_format_no_file_can_have_is_refused_when_the_job_is_read(tmp_path, setting, message):
    (tmp_path / "t.csv").write_text("a,y\n1,0\n")
    text = JOB.replace('dataset = "iris"', f'dataset = "csv"\npath = "t.csv"\n{setting}')
    with pytest.raises(ConfigError, match=rf"job.toml: {message}"):
        load_job(_write(tmp_path, text))


def test_a_csv_format_key_on_a_bundled_dataset_warns_that_it_is_unused(tmp_path):
    text = JOB.replace('dataset = "iris"', 'dataset = "iris"\ndelimiter = ";"')
    with pytest.warns(UserWarning, match="data.delimiter is ignored with data.dataset = 'iris'"):
        load_job(_write(tmp_path, text))
