"""A deployed party training with local DP is told when a restart would forget the budget it
spent, and `rengo party --dp-history PATH` keeps that budget across restarts."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from rengo.cli.main import app  # noqa: E402
from rengo.core.errors import ConfigError, CoordinatorUnreachable  # noqa: E402
from rengo.deploy import run_party  # noqa: E402
from rengo.deploy.local_dp_history import with_dp_history  # noqa: E402
from rengo.hfl import TorchClient, get_parameters, make_mlp  # noqa: E402
from rengo.privacy import LocalDP  # noqa: E402
from rengo.transport import Backoff, PartyCredentials  # noqa: E402

gen = torch.Generator().manual_seed(0)
DATA = TensorDataset(torch.randn(50, 6, generator=gen), torch.randint(0, 2, (50,), generator=gen))
NO_COORDINATOR = Backoff(initial=0.01, maximum=0.01, give_up_after=0.05)


def _free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _client_fn(dp: LocalDP | None, history: Path | None = None):
    def build(_name: str) -> TorchClient:
        loader = DataLoader(DATA, batch_size=10)
        return TorchClient(make_mlp(6, 2, (8,)), loader, lr=0.5, dp=dp, dp_history=history)

    return build


def _party_warnings(client_fn) -> list[str]:
    """What ``run_party`` warns before it finds no coordinator."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CoordinatorUnreachable):
            run_party(
                _free_address(), "p1", client_fn, PartyCredentials(insecure=True),
                backoff=NO_COORDINATOR,
            )  # fmt: skip
    return [str(w.message) for w in caught if "accountant history" in str(w.message)]


def test_a_local_dp_party_without_a_history_file_is_warned_that_a_restart_forgets_its_budget(
    tmp_path: Path,
) -> None:
    """A party whose epsilon lived only in memory started again from 0 after a restart, and
    nothing told its operator."""
    warned = _party_warnings(_client_fn(LocalDP(target_epsilon=3.0)))
    assert len(warned) == 1 and warned[0].startswith("party p1 trains with local DP")
    assert "target epsilon 3" in warned[0] and "--dp-history PATH" in warned[0]
    assert not _party_warnings(_client_fn(LocalDP(), tmp_path / "h.json"))
    # without a budget (target_epsilon = 0) it read "target epsilon 0": nothing may be spent
    (unbounded,) = _party_warnings(_client_fn(LocalDP()))
    assert "(no target epsilon)" in unbounded and "target epsilon 0" not in unbounded
    assert not _party_warnings(_client_fn(None))


def test_a_client_fn_that_fails_is_not_reported_by_the_budget_check() -> None:
    def broken(_name: str) -> TorchClient:
        raise RuntimeError("data warehouse unreachable")

    assert not _party_warnings(broken)  # reaches the coordinator in the first round, as before


def test_dp_history_carries_a_restarted_partys_epsilon_on(tmp_path: Path) -> None:
    path = tmp_path / "dp.json"
    dp = LocalDP(noise_multiplier=1.1, max_grad_norm=1.0)
    init = get_parameters(make_mlp(6, 2, (8,)))
    first = with_dp_history(_client_fn(dp), "p1", path)("p1").fit(init, {"seed": 0})
    restarted = with_dp_history(_client_fn(dp), "p1", path)("p1").fit(init, {"seed": 0})
    assert path.exists()
    assert restarted.metrics["dp_epsilon"] > first.metrics["dp_epsilon"]


def test_dp_history_is_refused_for_a_party_without_local_dp_or_with_another_file(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="trains without local DP"):
        with_dp_history(_client_fn(None), "p1", tmp_path / "dp.json")
    with pytest.raises(ConfigError, match="give one of them"):
        with_dp_history(_client_fn(LocalDP(), tmp_path / "own.json"), "p1", tmp_path / "dp.json")


def test_rengo_party_refuses_dp_history_for_a_job_without_local_dp(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nkind = "hfl"\nrounds = 1\n[data]\ndataset = "digits"\n'
        '[partition]\nnum_clients = 2\n[model]\ntype = "mlp"\n'
    )
    result = CliRunner().invoke(
        app,
        ["party", "--coordinator", _free_address(), "--name", "client-0", "--job", str(job),
         "--insecure", "--retry-for", "0.05", "--dp-history", str(tmp_path / "dp.json")],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "trains without local DP" in result.output, result.output
