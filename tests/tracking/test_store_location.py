"""Where the store lives: explicit path, $RENGO_STORE, or ./rengo-runs/runs.db."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.tracking import ENV_VAR, RunStore, resolve_store_path


def test_default_path_is_rengo_runs_folder_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_store_path() == Path("rengo-runs") / "runs.db"
    with RunStore() as store:
        store.start_run("horizontal", {})
    assert (tmp_path / "rengo-runs" / "runs.db").is_file()


def test_env_var_names_the_store_file_or_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere.db"))
    assert resolve_store_path() == tmp_path / "elsewhere.db"
    with RunStore() as store:
        run_id = store.start_run("horizontal", {})
    assert (tmp_path / "elsewhere.db").is_file()
    with RunStore(tmp_path / "elsewhere.db") as store:
        assert store.get_run(run_id).run_id == run_id
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "folder"))
    assert resolve_store_path() == tmp_path / "folder" / "runs.db"


def test_explicit_path_wins_over_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.db"))
    assert resolve_store_path(tmp_path / "arg.sqlite") == tmp_path / "arg.sqlite"
    (tmp_path / "existing").mkdir()
    assert resolve_store_path(tmp_path / "existing") == tmp_path / "existing" / "runs.db"
    assert resolve_store_path(str(tmp_path)) == tmp_path / "runs.db"


def test_in_memory_store_works_without_a_file(tmp_path: Path) -> None:
    with RunStore(":memory:") as store:
        run_id = store.start_run("horizontal", {})
        store.log_round(run_id, 1, {"eval_loss": 0.5}, 0.1, 1, 0)
        assert store.round_metrics(run_id) == {"eval_loss": [(1, 0.5)]}
