"""The ``[vfl]`` section of a vertical job file: who holds what, and the algorithm's options.

```toml
[job]
kind = "vfl"
seed = 0

[vfl]
algorithm = "hetero_lr"      # any registered vertical algorithm (default hetero_lr)
label_party = "card"
label = "default"            # the label column (label party's table)
id_column = "id"
test_size = 0.2              # share of customers held out and scored after training
max_message_mb = 256         # deployed: largest message a party may send (the default)
rejoin_grace = 60            # deployed, with checkpoints: seconds to wait for a dropped party
max_rejoins = 10             # ... and the most times one run takes its parties back
delimiter = ","              # how the parties' CSV tables are written (default ",", "utf-8",
encoding = "utf-8"           # "."; a German spreadsheet's export: ";", "cp1252", ",")
decimal = "."
epochs = 5                   # ... and any option of the algorithm's config dataclass

[vfl.parties]                # each party's own table (or: dataset = "breast_cancer")
card = "card.csv"
bank = "bank.csv"
```

The algorithm's option keys, their types, defaults and checks come from its config dataclass
(:mod:`rengo.core.options`); an unknown key is refused with the closest valid one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rengo.core.errors import ConfigError
from rengo.core.options import (
    names_elsewhere,
    option,
    option_specs,
    options_from_mapping,
    options_to_wire,
    unknown_key_error,
)
from rengo.core.roles import validate_party_name
from rengo.data.exposure import check_exposure_column
from rengo.jobs.categorical_keys import (
    CSV_TABLE_KEYS,
    categorical_auto_option,
    max_categories_option,
    unseen_category_option,
)
from rengo.jobs.iv_selection import SelectionSettings, parse_selection
from rengo.vfl.registry import VerticalAlgorithm, algorithms, get_algorithm

if TYPE_CHECKING:
    from rengo.jobs.spec import JobSection, JobSpec

DEFAULT_ALGORITHM = "hetero_lr"


@dataclass(frozen=True)
class OperatingTargets:
    """The recall and precision a binary model's evaluation reports operating points for
    (see :func:`rengo.metrics.operating_points`); ``None``: not asked for."""

    recall: float | None = None
    precision: float | None = None


@dataclass
class VflSection:
    """A vertical job: the parties' tables, the label, the held-out share and the algorithm.

    ``options`` is the algorithm's config dataclass.
    The algorithm's options also read as attributes (``section.epochs``).
    """

    label_party: str = option("guest", "The party that holds the labels.")
    parties: dict[str, str] = option({}, "Each party's own table: name = path.")
    dataset: str | None = option(None, "A bundled table split by columns instead.")
    num_parties: int = option(3, "Parties a bundled table is split into.", ge=2, le=64)
    drop_fraction: float = option(0.1, "Share of IDs each party drops (bundled).", ge=0, lt=1)
    id_column: str = option("id", "The ID column PSI matches.")
    label: str = option("y", "The label column (label party's table).")
    test_size: float = option(0.2, "Share of customers held out and scored.", gt=0, lt=1)
    algorithm: str = option(DEFAULT_ALGORITHM, "Any registered vertical algorithm.")
    options: Any = field(default=None, metadata={"option": False})
    # after options: a field added last keeps every positional call working
    max_message_mb: float | None = option(
        None,
        "Deployed: largest message a party may send or accept, in MiB (default 256).",
        gt=0,
        le=2048,
    )
    rejoin_grace: float | None = option(
        None,
        "Deployed, with checkpoints: seconds the coordinator waits for every party to rejoin "
        "once a party's link dropped, and each party keeps trying (default 60; 0: the run is "
        "interrupted at once).",
        ge=0,
    )
    max_rejoins: int | None = option(
        None,
        "Deployed, with checkpoints: the most times one run takes its parties back after a "
        "dropped link; one drop more ends it interrupted (default 10).",
        ge=0,
    )
    delimiter: str = option(
        ",", "Field separator of the parties' tables (';' for a spreadsheet export)."
    )
    encoding: str = option(
        "utf-8", "Text encoding of the parties' tables (cp1252: a Windows spreadsheet's)."
    )
    decimal: Literal[".", ","] = option(".", "Decimal separator of the tables' numbers.")
    categorical: list[str] = option(
        [],
        "Text columns one-hot encoded by the party whose table holds them (region=north, "
        "...); each party learns its own columns' categories, and none leaves it.",
    )
    categorical_auto: bool = categorical_auto_option("each party's table")
    unseen_category: Literal["zeros", "error"] = unseen_category_option("A scoring cell")
    max_categories: int = max_categories_option()
    target_recall: float | None = option(
        None,
        "Binary models: also report the highest threshold reaching this recall on the "
        "held-out rows, with its precision (at_recall_*).",
        gt=0,
        le=1,
    )
    target_precision: float | None = option(
        None,
        "Binary models: also report the lowest threshold keeping this precision on the "
        "held-out rows, with its recall (at_precision_*).",
        gt=0,
        le=1,
    )

    selection: SelectionSettings | None = field(default=None, metadata={"option": False})
    """``[vfl.selection]``: columns of low IV dropped before training (None: none)."""
    exposure: str | None = option(
        None,
        "hetero_poisson: the label party's exposure column (years insured; E[y] = exposure "
        "* exp(x w + b)), private to it like the labels and not a feature.",
    )
    source_holds_out: bool = option(
        True,
        "Transfer learning: the source (label party) holds out of training the customers "
        "the held-out rule marks among its rows (job.seed, test_size), so no customer the "
        "target holds out and scores trains the model through its source label. false: the "
        "source trains on all its labelled rows, and the target's held-out metrics are then "
        "optimistic (the source learnt the labels of customers it shares with the scored "
        "rows; the source cannot tell which those are without learning which customers the "
        "target holds). Runs started by rengo between the two defaults resume with false.",
    )

    def __post_init__(self) -> None:
        if self.options is None:
            self.options = self.spec.default_config()
        if not self.source_holds_out and self.spec.scored_by == "label_party":
            raise ConfigError(
                f"vfl.source_holds_out = false is for transfer learning (algorithm = 'ftl'), "
                f"whose source's rows are never scored; {self.algorithm}'s parties all hold "
                "out the test_size customers they score together: leave it out"
            )

    @property
    def spec(self) -> VerticalAlgorithm[Any]:
        """The algorithm's registered description."""
        return get_algorithm(self.algorithm)

    @property
    def party_names(self) -> list[str]:
        """Every party, label party first: the ``[vfl.parties]`` names, or the label party
        and ``party1``, ``party2``... for a bundled table split by columns."""
        if self.parties:
            return [self.label_party, *(n for n in self.parties if n != self.label_party)]
        return [self.label_party, *(f"party{i}" for i in range(1, self.num_parties))]

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for the run store): the section's keys and every option."""
        plain = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("options", "selection")
        }
        if self.selection is not None:
            plain["selection"] = self.selection.as_dict()
        return {**plain, **options_to_wire(self.options)}

    def resolve_paths(self, base: Path) -> None:
        """Make relative ``[vfl.parties]`` paths relative to the job file's folder."""
        self.parties = {
            name: str(path if Path(path).is_absolute() else (base / path).resolve())
            for name, path in self.parties.items()
        }

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options")
        if options is not None and name in {o.name for o in option_specs(type(options))}:
            return getattr(options, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def parse_vfl_section(raw: Any, source: str) -> VflSection:
    """Validate a ``[vfl]`` table (see the module docstring).

    Raises
    ------
    ConfigError
        Naming the key and the fix: unknown keys (with the closest valid one), wrong types,
        values the algorithm refuses, data given twice or not at all.

    Warns
    -----
    UserWarning
        Naming a key the section's data makes it ignore: num_parties or drop_fraction with
        [vfl.parties], label or id_column with a bundled dataset.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [vfl] must be a table, got {type(raw).__name__}")
    selection = raw.get("selection")
    raw = {k: v for k, v in raw.items() if k != "selection"}
    section_keys = {spec.name for spec in option_specs(VflSection)}
    name = raw.get("algorithm", DEFAULT_ALGORITHM)
    if not isinstance(name, str):
        raise ConfigError(
            f"{source}: vfl.algorithm must be str, got {type(name).__name__} {name!r}"
        )
    known = algorithms()
    if name not in known:
        raise unknown_key_error(name, known, f"{source}: vfl.algorithm: ", "algorithm")
    algorithm = known[name]
    option_names = {o.name for o in option_specs(algorithm.config_type)}
    option_names |= set(algorithm.option_aliases)
    for key in raw:
        if key not in section_keys and key not in option_names:
            text = key if isinstance(key, str) else repr(key)
            raise unknown_key_error(
                text,
                section_keys | option_names,
                f"{source}: [vfl] ",
                elsewhere=names_elsewhere(algorithm.config_type),
            )
    vfl = options_from_mapping(
        VflSection,
        {k: v for k, v in raw.items() if k in section_keys},
        label=lambda key: f"vfl.{key}",
        where=f"{source}: ",
    )
    vfl.options = options_from_mapping(
        algorithm.config_type,
        {k: v for k, v in raw.items() if k in option_names and k not in section_keys},
        label=lambda option: f"vfl.{option}",
        where=f"{source}: ",
        aliases=algorithm.option_aliases,
    )
    if selection is not None:
        vfl.selection = parse_selection(selection, source)
    _check(vfl, source)
    from rengo.jobs.spec import warn_unused_key

    for key, why in ignored_vfl_keys(vfl).items():
        if key in raw:
            warn_unused_key(source, f"vfl.{key}", why)
    return vfl


def ignored_vfl_keys(vfl: VflSection) -> dict[str, str]:
    """The ``[vfl]`` keys the section's data makes unused, each with the setting that does:
    ``num_parties`` and ``drop_fraction`` with ``[vfl.parties]``, ``label`` and
    ``id_column`` with a bundled ``vfl.dataset``."""
    bundled = f"the bundled vfl.dataset = {vfl.dataset!r}"
    unused = {
        "num_parties": bool(vfl.parties) and "[vfl.parties]",
        "drop_fraction": bool(vfl.parties) and "[vfl.parties]",
        "label": bool(vfl.dataset) and bundled,
        "id_column": bool(vfl.dataset) and bundled,
        **{key: bool(vfl.dataset) and bundled for key in CSV_TABLE_KEYS},
    }
    return {key: why for key, why in unused.items() if why}


def _check_exposure_key(vfl: VflSection, source: str) -> None:
    """Refuse ``vfl.exposure`` with an algorithm that takes none, on a bundled table, or
    naming the label or ID column."""
    if vfl.spec.exposure_metrics is None:
        raise ConfigError(
            f"{source}: vfl.exposure = {vfl.exposure!r} is a count model's exposure column, "
            f'and {vfl.algorithm} takes none: use algorithm = "hetero_poisson" or remove it'
        )
    if not vfl.parties:
        raise ConfigError(
            f"{source}: vfl.exposure names a column of the label party's own table: give "
            "[vfl.parties] tables (a bundled table has no exposure)"
        )
    assert vfl.exposure is not None
    check_exposure_column(vfl.exposure, vfl.label, vfl.id_column, f"{source}: vfl.exposure =")


def _check(vfl: VflSection, source: str) -> None:
    """What single keys cannot say: names, and keys that need each other."""
    validate_party_name(vfl.label_party, f"{source}: vfl.label_party")
    for party in vfl.parties:
        validate_party_name(party, f"{source}: [vfl.parties] name")
    if bool(vfl.parties) == bool(vfl.dataset):
        raise ConfigError(
            f"{source}: give either vfl.dataset (a bundled table split by columns) "
            'or [vfl.parties] name = "path.csv", not both or neither'
        )
    if vfl.parties and vfl.label_party not in vfl.parties:
        raise ConfigError(
            f"{source}: vfl.label_party = {vfl.label_party!r} is not one of {sorted(vfl.parties)}"
        )
    if vfl.parties and len(vfl.parties) < 2:
        raise ConfigError(f"{source}: a vertical job needs at least two parties")
    asked = [k for k in ("target_recall", "target_precision") if getattr(vfl, k) is not None]
    output = vfl.spec.output_of(vfl.options)
    if asked and output != "probability":
        raise ConfigError(
            f"{source}: vfl.{asked[0]} picks a threshold on a binary model's probability, "
            f"but {vfl.algorithm} here predicts {output}; remove it (or train a binary model)"
        )
    if vfl.exposure is not None:
        _check_exposure_key(vfl, source)
    if vfl.selection is not None and (vfl.categorical or vfl.categorical_auto):
        raise ConfigError(
            f"{source}: [vfl.selection] drops columns before training, but one-hot encoded "
            "text columns (vfl.categorical) are kept whole with a party's model; encode them "
            "as numbers in the tables, or remove [vfl.selection]"
        )
    if vfl.selection is not None and output != "probability":
        raise ConfigError(
            f"{source}: [vfl.selection] ranks columns by information value, which needs a "
            f"binary label; {vfl.algorithm} here predicts {output}"
        )
    if vfl.parties:
        from rengo.jobs.spec import categorical_request, check_csv_format

        check_csv_format(source, "vfl", vfl)
        categorical_request(source, "vfl", vfl)


def parse_vertical_job(raw: Mapping[str, Any], job: JobSection, source: str) -> JobSpec:
    """A whole vertical job file: ``[job]`` (already parsed) and ``[vfl]`` only.

    Raises
    ------
    ConfigError
        For any other section, or a bad ``[vfl]`` (see :func:`parse_vfl_section`).
    """
    from rengo.jobs.spec import (
        DataSection,
        JobSpec,
        ModelSection,
        PartitionSection,
        StrategySection,
        TrainSection,
    )

    extra = sorted(set(raw) - {"job", "vfl", "contribution"})
    if extra:
        raise ConfigError(
            f"{source}: job.kind = 'vfl': a vertical job has only [job], [vfl] and "
            f"[contribution]; remove {extra}"
        )
    vfl = parse_vfl_section(raw.get("vfl", {}), source)
    return JobSpec(
        job,
        DataSection(),
        PartitionSection(),
        ModelSection(),
        TrainSection(),
        StrategySection(),
        source,
        vfl,
    )


__all__ = ["VflSection", "parse_vertical_job", "parse_vfl_section"]
