"""Progress inside a round: the bar over rounds moved only when a round ended (a round of
hundreds of slow clients showed nothing for minutes)."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from rich.console import Console

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import FedAvg, RoundRecord, simulate
from rengo.hfl.progress_bar import RoundProgressBar
from rengo.hfl.reply_count import RepliesCounted
from rengo.transport import register_executor
from rengo.transport.pool import Request
from rengo.transport.simulation import SerialPool


def _echo(client_id: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
    return client_id.encode() + payload, None


def test_every_reply_is_counted_in_order_and_passed_on_unchanged() -> None:
    heard: list[tuple[str, int, int]] = []
    pool = RepliesCounted(SerialPool(_echo, ["a", "b", "c"]), lambda *e: heard.append(e))
    replies = list(pool.request([Request(c, "fit", b"!") for c in ("a", "b", "c")]))
    pool.close()
    assert [r.payload for r in replies] == [b"a!", b"b!", b"c!"]
    assert heard == [("fit", 1, 3), ("fit", 2, 3), ("fit", 3, 3)]


def test_what_a_pool_offers_beyond_the_protocol_stays_reachable() -> None:
    """The round loop tells a deployed party why its result was not counted through the
    hub pool's ``notify``, found with getattr: a wrapper that hid it would silence that."""

    class Notifying(SerialPool):
        def notify(self, name: str, text: str) -> bool:
            return name == "a"

    pool = RepliesCounted(Notifying(_echo, ["a"]))
    assert getattr(pool, "notify", None) is not None and pool.notify("a", "hi")
    assert getattr(pool, "missing", None) is None
    pool.close()


class Watching:
    """A client whose fit reads what the bar shows at that moment."""

    seen: ClassVar[list[str]] = []
    bar: ClassVar[Any] = None

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        task = Watching.bar._bar.tasks[0]
        Watching.seen.append(task.fields["step"])
        return FitResult([p + 1 for p in parameters], 10, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


def test_the_bar_shows_how_many_of_the_rounds_clients_replied(monkeypatch: Any) -> None:
    made: list[RoundProgressBar] = []
    original = RoundProgressBar.__init__

    def keep(self: RoundProgressBar, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)
        Watching.bar = self

    monkeypatch.setattr(RoundProgressBar, "__init__", keep)
    Watching.seen = []
    simulate(
        lambda cid: Watching(),
        3,
        FedAvg(fraction_evaluate=0.0),
        [np.zeros(2)],
        2,
        executor="serial",
        progress=True,
    )
    # each client sees the replies before it: none, one, two of three; a new round starts
    # from none again (the finished round's count is cleared)
    assert Watching.seen == [
        "",
        "round 1: fit 1/3",
        "round 1: fit 2/3",
        "",
        "round 2: fit 1/3",
        "round 2: fit 2/3",
    ]
    assert made[0]._bar.tasks[0].fields["step"] == ""


def test_a_narrow_terminal_cuts_the_metrics_not_the_count_and_times() -> None:
    """Before, at 100 columns the round's metrics beside the in-round step squashed the
    label, the bar, the rounds count and the times to "…"."""
    console = Console(file=io.StringIO(), width=100, force_terminal=True)
    bar = RoundProgressBar(True, 10, "hfl simulation 'digits-fedavg'", console=console)
    with bar as report:
        assert report is not None
        metrics = {"central_accuracy": 0.91234, "central_loss": 0.3456, "train_loss": 0.41}
        report(RoundRecord(1, [], {}, metrics, 0.1))
        bar.replies("fit", 136, 400)
        shown = Console(file=io.StringIO(), width=100)  # the bar's line, as drawn at 100
        with shown.capture() as capture:
            shown.print(bar._bar.make_tasks_table(bar._bar.tasks))
        line = capture.get().splitlines()[0]
    assert "hfl simulation 'digits-fedavg'" in line
    assert "1/10" in line and "round 2: fit 136/400" in line
    assert "central_ac" in line and line.rstrip().endswith("…")  # the metrics, cut


def test_the_bar_counts_training_drops_and_evaluation_failures_apart() -> None:
    """It showed '3 dropped' for a round in which 1 of 2 trainers dropped and 2 clients
    sampled only to evaluate failed."""
    console = Console(file=io.StringIO(), width=200, force_terminal=True)
    bar = RoundProgressBar(True, 10, "hfl", console=console)
    with bar as report:
        assert report is not None
        failures = {"a": "timed out", "c": "evaluate: timed out", "d": "evaluate: timed out"}
        report(RoundRecord(1, ["a", "b"], failures, {}, 0.1))
        status = bar._bar.tasks[0].fields["status"]
    assert "1 dropped" in status and "2 failed evaluation" in status


class _Starting(SerialPool):
    """A pool that takes a while to start (as Ray's does), noting what the bar shows then."""

    bar_during_start: ClassVar[list[str]] = []

    def start(self) -> None:
        _Starting.bar_during_start.append(Watching.bar._bar.tasks[0].fields["step"])


register_executor("test_starting", lambda handler, ids, workers=None, **o: _Starting(handler, ids))


def test_the_bar_says_the_executor_is_starting_before_round_1(monkeypatch: Any) -> None:
    """Ray's local start (about 20 s on this machine) happened inside round 1's first
    request, the bar at 0 rounds with nothing said; now it starts before round 1 and the
    bar says so, then clears it."""
    original = RoundProgressBar.__init__

    def keep(self: RoundProgressBar, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        Watching.bar = self

    monkeypatch.setattr(RoundProgressBar, "__init__", keep)
    Watching.seen = []
    _Starting.bar_during_start = []
    simulate(lambda cid: Watching(), 2, FedAvg(fraction_evaluate=0.0), [np.zeros(2)], 1,
             executor="test_starting", progress=True)  # fmt: skip
    assert _Starting.bar_during_start == ["starting the test_starting executor"]
    assert Watching.seen == ["", "round 1: fit 1/2"]  # cleared before round 1
