"""A resumed deployed run whose parties are not back before the start deadline stays
interrupted: before, it was recorded ``failed``, and `--resume` then refused it for good
("only an interrupted run can be resumed"), its checkpoints unusable."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import CoordinatorUnreachable, RoundFailure
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.deploy import run_party, serve_coordinator
from rengo.hfl import Client, FedAvg, History, RoundRecord
from rengo.tracking import RunStore
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

NAMES = ["a", "b"]


def party_until_gone(*args: Any, **kwargs: Any) -> None:
    """A party's process: it serves until the run ends, or gives up on a coordinator that
    was stopped and not restarted where it looks."""
    with contextlib.suppress(CoordinatorUnreachable):
        run_party(*args, **kwargs)


class Answering(Client):
    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 1 for p in parameters], 5)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.5, 5)


def serve(
    store: RunStore,
    *,
    with_parties: bool,
    resume: str | None = None,
    join_timeout: float = 30.0,
    progress: Any = None,
    rounds: int = 3,
    reports: Mapping[str, Mapping[str, str] | None] | None = None,
) -> History:
    """Serve ``rounds`` rounds to ``NAMES``, or to the parties of ``reports``, each
    reporting its data files (None: none); started in threads when ``with_parties``."""
    names = sorted(reports) if reports is not None else NAMES
    ready, found = threading.Event(), {}

    def listening(hub: Any) -> None:
        found["address"] = f"127.0.0.1:{hub.port}"
        ready.set()

    def coordinator() -> None:
        try:
            found["history"] = serve_coordinator(
                FedAvg(min_fit_clients=2), [np.zeros(2)], rounds, "127.0.0.1:0",
                HubSecurity(insecure=True), parties=names, join_timeout=join_timeout,
                round_timeout=20.0, heartbeat_interval=0.5, on_listening=listening,
                store=store, resume=resume, progress=progress, farewell=0.0,
            )  # fmt: skip
        except BaseException as exc:  # handed to the test's thread
            found["error"] = exc
            ready.set()

    serving = threading.Thread(target=coordinator, daemon=True)
    serving.start()
    assert ready.wait(30)
    if with_parties and "address" in found:
        backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=5.0)
        for name in names:
            threading.Thread(
                target=party_until_gone,
                args=(
                    found["address"],
                    name,
                    lambda c: Answering(),
                    PartyCredentials(insecure=True),
                ),
                kwargs={
                    "heartbeat_interval": 0.5,
                    "backoff": backoff,
                    "data_files": (reports or {}).get(name),
                },
                daemon=True,
            ).start()
    serving.join(60)
    assert not serving.is_alive()
    if "error" in found:
        raise found["error"]
    history: History = found["history"]
    return history


def stop_after_round_one(record: RoundRecord) -> None:
    if record.server_round == 1:
        raise KeyboardInterrupt  # the operator's Ctrl-C, after round 1 was checkpointed


@pytest.mark.timeout(120)
def test_a_resume_whose_parties_miss_the_start_deadline_can_be_resumed_again(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs") as store:
        with pytest.raises(KeyboardInterrupt):
            serve(store, with_parties=True, progress=stop_after_round_one)
        (run,) = store.list_runs()
        assert run.status == "interrupted" and store.checkpoint_rounds(run.run_id) == [1]

        # the parties are not back in time: the run is not lost
        with pytest.raises(RoundFailure, match="stays interrupted: resume it again once"):
            serve(store, with_parties=False, resume=run.run_id, join_timeout=1.0)
        assert store.get_run(run.run_id).status == "interrupted"
        assert store.checkpoint_rounds(run.run_id) == [1]

        history = serve(store, with_parties=True, resume=run.run_id)  # they are back
        assert [r.server_round for r in history.rounds] == [2, 3]
        assert store.get_run(run.run_id).status == "completed"


@pytest.mark.timeout(60)
def test_a_new_run_whose_parties_miss_the_start_deadline_still_fails(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs") as store:
        with pytest.raises(RoundFailure, match="parties missing after 1s: a, b"):
            serve(store, with_parties=False, join_timeout=1.0)
        (run,) = store.list_runs()
        assert run.status == "failed"
