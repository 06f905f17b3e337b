"""What a new user copies from the docs works: every Python block of README.md, docs/*.md and
the examples' READMEs runs as written (or is named below with the reason it does not run
here), every TOML block
is a valid job, every ``rengo`` command names sub-commands and options the CLI has, every
``make`` target exists, and every relative link resolves.

A block is found by a marker, a piece of its text, so a block that moves keeps its test; a
new block fails :func:`test_every_python_block_is_run_here_or_skipped_with_a_reason` until
it is added to ``SNIPPETS``. Blocks that use names the docs leave to the reader (``MyNet``,
``bank_ids``) run with small stand-ins for them, and Paillier keys of 512 bits instead of
2048 (the one change made to a block's text, so that the module stays within seconds).
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.jobs import parse_job

if sys.version_info >= (3, 11):
    import tomllib
else:  # the core install adds tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKING = [*DOCS, *sorted((ROOT / "examples").glob("*/README.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int
    language: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The ```-fenced blocks of ``path``, each with the line its fence opens on."""
    blocks: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.startswith("```"):
            if opened is not None:
                body.append(line)
        elif opened is None:
            opened, body = (number, line[3:].strip()), []
        else:
            blocks.append(Block(path, opened[0], opened[1], "\n".join(body) + "\n"))
            opened = None
    assert opened is None, f"{path.name}: the fence opened on line {opened[0]} is never closed"
    return blocks


def blocks_of(language: str, paths: list[Path] = DOCS) -> list[Block]:
    return [b for p in paths for b in fenced_blocks(p) if b.language == language]


def run(code: str, scope: dict[str, Any], *replacements: tuple[str, str]) -> dict[str, Any]:
    """Execute ``code`` in ``scope`` after the given (old, new) text replacements, each of
    which must apply (so a block that changed fails here rather than run unchanged)."""
    for old, new in replacements:
        assert old in code, f"the block no longer contains {old!r}: update this test"
        code = code.replace(old, new)
    # dont_inherit: run as the user's module would, without this file's __future__ imports
    exec(compile(code, "<docs snippet>", "exec", dont_inherit=True), scope)
    return scope


def only_block(marker: str) -> Block:
    (block,) = [b for b in blocks_of("python", LINKING) if marker in b.code]
    return block


# -- stand-ins for what the docs leave to the reader -----------------------------------------


def vertical_rows() -> dict[str, Any]:
    """``bank_ids, X_bank, card_ids, X_card, y`` and new rows of both parties, as the
    README's vertical snippets name them (the card's rows in another order than the bank's)."""
    rng = np.random.default_rng(0)
    ids = np.array([f"u{i:03d}" for i in range(120)])
    x_bank, x_card = rng.normal(size=(120, 3)), rng.normal(size=(120, 2))
    new = {"bank": (ids[:30], x_bank[:30]), "card": (ids[:30], x_card[:30])}
    return {
        "bank_ids": ids, "X_bank": x_bank, "card_ids": ids[::-1], "X_card": x_card[::-1],
        "y": (x_bank[::-1, 0] + x_card[::-1, 0] > 0).astype(int),  # in card_ids' order
        "new_b": ids[:30], "Xn_b": x_bank[:30], "new_c": ids[:30], "Xn_c": x_card[:30],
        "new": new, "y_new": (x_bank[:30, 0] + x_card[:30, 0] > 0).astype(int),
    }  # fmt: skip


def transfer_rows() -> dict[str, Any]:
    """A labelled bank and a shop with other columns, 40 shared customers and 8 labels."""
    rng = np.random.default_rng(0)
    bank_ids = np.array([f"b{i}" for i in range(80)] + [f"s{i}" for i in range(40)])
    x_bank = rng.normal(size=(120, 4))
    shop_ids = np.array([f"s{i}" for i in range(60)])
    few = [1 if i % 10 == 0 else 0 if i % 10 == 1 else None for i in range(60)]
    return {
        "bank_ids": bank_ids, "X_bank": x_bank, "y_bank": (x_bank[:, 0] > 0).astype(int),
        "shop_ids": shop_ids, "X_shop": rng.normal(size=(60, 3)),
        "y_shop_few": np.array(few, dtype=object), "new_ids": shop_ids[40:],
    }  # fmt: skip


def torch_stand_ins() -> dict[str, Any]:
    """``MyNet`` / ``Net``, per-client loaders, a test loader and a judge model."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    class Net(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x: Any) -> Any:
            return self.fc(x)

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 8, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    client_ids = ["a", "b", "c"]
    loaders = {
        c: DataLoader(TensorDataset(x[20 * i : 20 * i + 20], y[20 * i : 20 * i + 20]), 8)
        for i, c in enumerate(client_ids)
    }
    return {
        "MyNet": Net, "Net": Net, "client_ids": client_ids, "loaders": loaders,
        "train_loaders": loaders, "test_loader": DataLoader(TensorDataset(x, y), 20),
        "judge": Net(),
    }  # fmt: skip


@pytest.fixture(scope="module")
def python_api() -> dict[str, Any]:
    """The scope the README's first Python block leaves: ``fed``, ``client_fn``, ``history``."""
    scope = run(only_block("fed = federate(load_digits()").code, {})
    assert np.isfinite(scope["history"].last("train_loss"))
    return scope


# -- the Python blocks -----------------------------------------------------------------------

Snippet = Callable[[Block, dict[str, Any]], None]


def python_api_example(block: Block, api: dict[str, Any]) -> None:
    assert api["history"].last("train_loss") < 2.0  # the fixture ran it; it learned


def torch_client(block: Block, api: dict[str, Any]) -> None:
    scope = run(block.code, torch_stand_ins())
    assert len(scope["history"].rounds) == 10


def hetero_lr(block: Block, api: dict[str, Any]) -> None:
    scope = run(block.code, vertical_rows(), ("key_bits=2048", "key_bits=512"))
    assert scope["proba"].shape == (30, 2) and len(scope["ids"]) == 30
    assert scope["model"].score(scope["new"], scope["y_new"]) > 0.7


def information_values(block: Block, api: dict[str, Any]) -> None:
    scope = run(block.code, vertical_rows(), ("key_bits=2048", "key_bits=512"))
    parties = {f.party for f in scope["ivs"]}
    assert parties == {"bank", "card"} and all(f.iv >= 0 for f in scope["ivs"])
    assert {f.name for f in scope["kept"]} <= {f.name for f in scope["ivs"]}


def transfer(block: Block, api: dict[str, Any]) -> None:
    pytest.importorskip("torch")
    scope = transfer_rows()
    scope["X_new"] = scope["X_shop"][40:]
    with pytest.warns(Warning):  # tiny batches: GradientExposureWarning, as it should
        run(block.code, scope, ("epochs=10,", "epochs=1, key_bits=512,"))
    assert scope["p_default"].shape == (20,)


def central_dp(block: Block, api: dict[str, Any]) -> None:
    pytest.importorskip("dp_accounting")
    scope = run(block.code, dict(api))
    assert 0 < scope["history"].last("dp_epsilon") <= 8.0 and scope["history"].stopped


def flower_port(block: Block, api: dict[str, Any]) -> None:
    scope = run(block.code, torch_stand_ins())
    assert 0.0 <= scope["history"].last("central_accuracy") <= 1.0


def own_strategy(block: Block, api: dict[str, Any]) -> None:
    """The guide's ported strategy runs, checkpoints its momentum, and ends with FedAvgM's
    model given the same learning-rate schedule, to the bit, as the guide says."""
    import torch

    from rengo.hfl import FedAvgM, get_parameters, simulate

    scope = torch_stand_ins()
    torch.manual_seed(0)  # the block's initial Net() and the built-in's below are the same
    run(block.code, scope)
    history, ported = scope["history"], scope["FedAvgMomentumSchedule"]
    assert len(history.rounds) == 3
    checkpointed = ported()
    checkpointed.initialize(history.parameters)
    assert set(checkpointed.state_dict()) == {"momentum"}  # what a resumed run restores
    schedule = FedAvgM(
        server_learning_rate=1.0,
        server_momentum=0.9,
        on_fit_config=lambda server_round: {"lr": 0.1 * 0.9 ** (server_round - 1)},
    )
    torch.manual_seed(0)
    built_in = simulate(
        scope["client_fn"], scope["client_ids"], schedule, get_parameters(scope["Net"]()),
        rounds=3, seed=0,
    )  # fmt: skip
    for ours, theirs in zip(history.parameters, built_in.parameters, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def docs_strategy_module() -> types.ModuleType:
    """``mystrategy``, the module the guide's job file names: the guide's own classes."""
    code = only_block("class FedAvgMomentumSchedule(FedAvg):").code
    module = types.ModuleType("mystrategy")
    source = code.split("def client_fn")[0]
    exec(compile(source, "mystrategy.py", "exec", dont_inherit=True), module.__dict__)
    return module


def secure_aggregation(block: Block, api: dict[str, Any]) -> None:
    scope = run(block.code, dict(api))
    assert len(scope["history"].rounds) == 10


def split_learning(block: Block, api: dict[str, Any]) -> None:
    pytest.importorskip("torch")
    from rengo.data import load_digits

    digits = load_digits()
    x, y = digits.X, digits.labels()
    ids = np.array([f"r{i}" for i in range(len(y))])
    scope = {
        "ids": ids[:600], "x_left": x[:600, :32], "x_right": x[:600, 32:], "y": y[:600],
        "new_ids": ids[600:800], "new_left": x[600:800, :32], "new_right": x[600:800, 32:],
        "new_y": y[600:800],
    }  # fmt: skip
    run(block.code, scope, ("epochs=12", "epochs=2"))
    assert 0.5 <= scope["model"].leak_auc("right", attack="direction") <= 1.0


def covered_elsewhere(test: str) -> Snippet:
    def skip(block: Block, api: dict[str, Any]) -> None:
        pytest.skip(f"{block.where} is run by {test}")

    return skip


def text_columns(block: Block, api: dict[str, Any]) -> None:
    """The README's text columns: a policies table and new policies (another region order,
    a region training never saw), encoded into the training columns."""
    header = "policy_id,age,region,product,claim\n"
    Path("policies.csv").write_text(
        header + "p1,30,north,gold,1\np2,41,south,silver,0\np3,52,east,gold,1\n"
    )
    new_rows = "policy_id,age,region,product\nn1,33,south,gold\nn2,60,west,silver\n"
    Path("new_policies.csv").write_text(new_rows)  # no claims yet
    with pytest.warns(UserWarning, match="'region' is 'west'"):
        scope = run(block.code, {})
    train, new = scope["train"], scope["new"]
    assert new.feature_names == train.feature_names
    assert train.feature_names[1:4] == ("region=east", "region=north", "region=south")
    assert new.X[:, 1:4].tolist() == [[0, 0, 1], [0, 0, 0]]


def claim_frequency(block: Block, api: dict[str, Any]) -> None:
    """The README's claim frequency: counts over exposures, rates and expected counts."""
    rng = np.random.default_rng(0)
    ids = np.array([f"p{i:03d}" for i in range(150)])
    x_ins, x_tel = rng.normal(size=(150, 2)), rng.normal(size=(150, 2))
    years = 1.0 - rng.uniform(0.0, 0.9, 150)
    claims = rng.poisson(years * np.exp(0.3 * x_ins[:, 0] - 0.2 * x_tel[:, 1] - 0.5))
    new_parties = {"insurer": (ids[:20], x_ins[:20]), "telematics": (ids[:20], x_tel[:20])}
    scope = run(
        block.code,
        {
            "ids": ids, "X_ins": x_ins, "X_tel": x_tel, "claims": claims, "years": years,
            "new_parties": new_parties, "new_years": years[:20],
        },
        ("key_bits=2048", "key_bits=512"),
    )  # fmt: skip
    assert len(scope["rate"]) == 20 and np.all(scope["rate"] > 0)
    np.testing.assert_allclose(scope["expected"], years[:20] * scope["rate"])


SECUREBOOST_TEST = "tests/vfl/secureboost/test_readme_snippets.py"

SNIPPETS: dict[str, Snippet] = {
    "fed = federate(load_digits()": python_api_example,
    "categories=train.categories.categories": text_columns,
    "TorchClient(MyNet()": torch_client,
    "model = HeteroLogisticRegression(": hetero_lr,
    "ivs = information_value(": information_values,
    "model = HeteroPoissonRegression(": claim_frequency,
    "model = HeteroSecureBoost(": covered_elsewhere(SECUREBOOST_TEST),
    "HeteroSecureBoost.from_party_models(": covered_elsewhere(SECUREBOOST_TEST),
    "ftl = TransferClassifier(": transfer,
    "dp = CentralDP(": central_dp,
    "def clip_mod(call, call_next):": flower_port,
    "class FedAvgMomentumSchedule(FedAvg):": own_strategy,
    "workflow=SecAggPlus(": secure_aggregation,
    "model = SplitNNClassifier(": split_learning,
    "loader = DataLoader(tensors(fed.client(cid))": covered_elsewhere(  # a piece of run.py
        "tests/showcase/test_pytorch_quickstart.py, which runs examples/pytorch_quickstart"
    ),
}


def test_every_python_block_is_run_here_or_skipped_with_a_reason() -> None:
    blocks = blocks_of("python", LINKING)
    for block in blocks:
        markers = [m for m in SNIPPETS if m in block.code]
        assert len(markers) == 1, f"{block.where}: add its marker to SNIPPETS ({markers})"
    for marker in SNIPPETS:
        assert sum(marker in b.code for b in blocks) == 1, f"{marker!r} is in no block, or two"


@pytest.mark.parametrize("marker", list(SNIPPETS))
def test_the_docs_python_block_runs_as_written(
    marker: str, python_api: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    SNIPPETS[marker](only_block(marker), python_api)


# -- job files, commands, make targets, links ------------------------------------------------


@pytest.mark.parametrize("block", blocks_of("toml"), ids=lambda b: b.where)
def test_every_toml_block_is_a_valid_job(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    if 'app = "mystrategy:' in block.code:  # the guide's strategy, from its Python block
        monkeypatch.setitem(sys.modules, "mystrategy", docs_strategy_module())
    parse_job(tomllib.loads(block.code), block.where)


def documented_commands(program: str) -> list[tuple[str, str]]:
    """(file, command) for each ``program ...`` command in a fenced shell block or an inline
    code span of the docs and the examples' READMEs (``;`` separates two commands)."""
    found: list[tuple[str, str]] = []
    for path in LINKING:
        text = path.read_text(encoding="utf-8")
        shell = [b.code for b in fenced_blocks(path) if b.language in ("", "bash", "sh")]
        prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M).replace("\n", " ")
        lines = [line.split("#")[0] for code in shell for line in code.splitlines()]
        for piece in [*lines, *re.findall(r"`([^`]+)`", prose)]:
            for command in piece.split(";"):
                if re.match(rf"^\s*(\S*/)?{program}\s", command):
                    found.append((path.name, command.strip()))
    return found


def test_every_documented_rengo_command_has_the_sub_commands_and_options_it_names() -> None:
    import typer

    from rengo.cli.main import app

    root = typer.main.get_command(app)

    def walk(tokens: list[str]) -> tuple[Any, list[str]]:
        command, path = root, []
        for token in tokens:
            if token not in getattr(command, "commands", {}):
                break
            command, path = command.commands[token], [*path, token]
        return command, path

    problems, commands = [], documented_commands("rengo")
    assert len(commands) > 50  # the parser still finds them
    for where, line in commands:
        segments = line.split(maxsplit=1)[1].split(" | ")  # `runs list | show RUN | ...`
        command, path = walk(segments[0].split())
        for number, segment in enumerate(segments):
            words = segment.split()
            if number > 0 and path and not words[0].startswith("-"):  # a sibling command
                command, path = walk([*path[:-1], words[0]])
            nested = words[len(path) :] if number == 0 else words[1:]
            if hasattr(command, "commands") and nested and not nested[0].startswith("-"):
                problems.append(f"{where}: `{line}`: rengo {' '.join(path)} has no {nested[0]}")
            options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", segment):
                if flag not in options:
                    problems.append(f"{where}: `{line}`: rengo {' '.join(path)} has no {flag}")
    assert not problems, "\n".join(problems)


def test_every_make_target_the_docs_name_exists() -> None:
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = {command.split()[1] for _, command in documented_commands("make")}
    assert named and named <= targets, f"no such make target: {sorted(named - targets)}"


def section_anchors(path: Path) -> set[str]:
    """The ``#anchors`` GitHub gives the headings of a Markdown file."""
    headings = re.findall(r"^#+\s+(.*)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_relative_link_resolves() -> None:
    broken = []
    for path in LINKING:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in section_anchors(resolved):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such section)")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    "path",
    [ROOT / "README.md", ROOT / "examples/pytorch_quickstart/README.md"],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_the_torchclient_signature_the_docs_spell_out_is_the_codes(path: Path) -> None:
    pytest.importorskip("torch")
    import inspect

    from rengo.hfl import TorchClient

    text = " ".join(path.read_text(encoding="utf-8").split())
    (spelled,) = re.findall(r"`TorchClient\((model, train_loader[^`]*)\)`", text)
    documented = [p.split("=")[0].strip() for p in spelled.split(",") if p.strip() != "*"]
    assert documented == list(inspect.signature(TorchClient).parameters)


def test_every_dotted_rengo_name_in_the_docs_exists_and_is_not_deprecated() -> None:
    import importlib

    from rengo.core.deprecation import deprecated_paths

    def resolves(dotted: str) -> bool:
        parts = dotted.split(".")
        for split in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                found: Any = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            for attribute in parts[split:]:
                if not hasattr(found, attribute):
                    return False
                found = getattr(found, attribute)
            return True
        return False

    named = {
        (path.relative_to(ROOT), dotted)
        for path in LINKING
        if path.name != "API.md"
        # not a gRPC method path (`/rengo.v1.Hub/Connect`), which names no Python object
        for dotted in re.findall(
            r"(?<!/)\brengo(?:\.[A-Za-z_]\w*)+", path.read_text(encoding="utf-8")
        )
    }
    missing = sorted(f"{where}: {dotted}" for where, dotted in named if not resolves(dotted))
    assert len(named) > 30 and not missing, "\n".join(missing)
    moved = deprecated_paths()  # registered as their packages were imported above
    old = sorted(
        f"{where}: {dotted} is deprecated, name {moved[path]}"
        for where, dotted in named
        for path in moved
        if dotted == path or dotted.startswith(path + ".")
    )
    assert not old, "\n".join(old)


def test_every_rengo_call_the_docs_show_is_a_public_export() -> None:
    """A call the docs teach (``rengo.data.federate(...)``) names a function of an area's
    ``__all__`` (listed in docs/API.md), not one of a private module."""
    import importlib

    private = []
    for path in LINKING:
        for dotted in re.findall(r"\b(rengo(?:\.\w+)+)\(", path.read_text(encoding="utf-8")):
            area, _, name = dotted.rpartition(".")
            if name not in getattr(importlib.import_module(area), "__all__", ()):
                private.append(f"{path.relative_to(ROOT)}: {dotted}")
    assert not private, "\n".join(private)
