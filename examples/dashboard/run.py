"""Watch a federation: record a consortium's runs, then open the live dashboard on them.

    .venv/bin/python examples/dashboard/run.py                  # record, then serve :8080
    .venv/bin/python examples/dashboard/run.py --screenshots docs

It records, in ``--out`` (default ``./rengo-runs/dashboard-demo``):

1. FedAvg and FedAdam on digits over 8 hospitals, one of which loses its data warehouse in
   rounds 3 and 7 (so the dashboard has failures to show), with each hospital's GTG-Shapley
   contribution and a 1,000-credit payout split in proportion to it;
2. a vertical run (hetero logistic regression over three parties' columns);
3. a six-round prediction tournament among five participants, scored by CORR and MMC;
4. a *deployed* federation, live: a coordinator on a local gRPC port and four parties in
   threads, one of which leaves half way - the dashboard shows who is online as it happens.

``--screenshots DIR`` drives headless Chromium (Debian's ``chromium`` via Playwright) over
the pages and writes ``DIR/ui-*.png``; otherwise the dashboard serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rengo.core import ConfigError, FitResult
from rengo.deploy import serve_coordinator
from rengo.hfl import Client, History, client_handler, simulate
from rengo.jobs import (
    ContributionSettings,
    HflJob,
    build_hfl_job,
    build_vertical_job,
    contribution_tracker,
    parse_job,
    run_vertical_job,
)
from rengo.showcase import FIVE_PARTICIPANTS
from rengo.tournament import simulate_tournament
from rengo.tracking import (
    TOURNAMENT_RUN_KIND,
    RunStore,
    pay_rewards,
    record_contributions,
    record_tournament_round,
    tournament_summary,
)
from rengo.transport import Backoff, GrpcHub, HubSecurity, PartyConnection, PartyCredentials
from rengo.ui import require_ui

FLAKY = "hospital-5"
FLAKY_ROUNDS = (3, 7)


def hospital_job(strategy: dict[str, Any], rounds: int, seed: int) -> HflJob:
    """Digits over 8 hospitals (Dirichlet 0.5 label skew), softmax regression."""
    spec = parse_job(
        {
            "job": {"name": f"hospitals-{strategy['name']}", "seed": seed, "rounds": rounds},
            "data": {"dataset": "digits", "test_size": 0.2},
            "partition": {"scheme": "dirichlet", "num_clients": 8, "alpha": 0.5},
            "model": {"type": "logistic"},
            "train": {"lr": 0.1, "local_epochs": 1, "batch_size": 32},
            "strategy": {"fraction_evaluate": 1.0, **strategy},
        },
        source="dashboard example",
    )
    job = build_hfl_job(spec)
    job.strategy.on_fit_config = lambda server_round: {"round": server_round}
    return job


class FlakyClient(Client):
    """A hospital whose data warehouse is unreachable in some rounds."""

    def __init__(self, inner: Client) -> None:
        super().__init__()
        self.inner = inner

    def fit(self, parameters: Any, config: Any) -> FitResult:
        if config.get("round") in FLAKY_ROUNDS:
            raise ConnectionError("data warehouse unreachable (timeout after 30 s)")
        return self.inner.fit(parameters, config)

    def evaluate(self, parameters: Any, config: Any) -> Any:
        return self.inner.evaluate(parameters, config)


def hospital_clients(job: HflJob) -> Callable[[str], Client]:
    names = {cid: f"hospital-{i + 1}" for i, cid in enumerate(job.client_ids)}
    by_name = {v: k for k, v in names.items()}

    def client_fn(name: str) -> Client:
        client = job.client_fn(by_name[name])
        return FlakyClient(client) if name == FLAKY else client

    client_fn.names = list(names.values())  # type: ignore[attr-defined]
    return client_fn


def record_hospitals(store: RunStore, rounds: int, seed: int) -> list[str]:
    """FedAvg (with contributions and payouts) and FedAdam, recorded in ``store``."""
    run_ids = []
    for strategy in ({"name": "fedavg"}, {"name": "fedadam", "eta": 0.03}):
        job = hospital_job(strategy, rounds, seed)
        client_fn = hospital_clients(job)
        tracker = (
            contribution_tracker(
                ContributionSettings(method="gtg", metric="accuracy"), job.evaluate, seed
            )
            if strategy["name"] == "fedavg"
            else None
        )
        history: History = simulate(
            client_fn,
            client_fn.names,  # type: ignore[attr-defined]
            job.strategy,
            job.initial_parameters,
            rounds,
            seed=seed,
            store=store,
            run_name=f"hospitals-{strategy['name']}",
            run_config={"dataset": "digits", "partition": "dirichlet(0.5)", "model": "logistic"},
            observers=[tracker] if tracker else [],
        )
        assert history.run_id is not None
        if tracker is not None:
            record_contributions(store, history.run_id, tracker.report())
            pay_rewards(store, history.run_id, "proportional", 100_000, "credits")
        run_ids.append(history.run_id)
    return run_ids


def record_vertical(store: RunStore, seed: int) -> str:
    """A bank, a telecom and a card issuer: hetero logistic regression on breast_cancer."""
    spec = parse_job(
        {
            "job": {"name": "credit-scorecard", "kind": "vfl", "seed": seed},
            "vfl": {"dataset": "breast_cancer", "num_parties": 3, "key_bits": 512, "epochs": 6},
        },
        source="dashboard example",
    )
    return str(run_vertical_job(build_vertical_job(spec), store, log=lambda _: None)["run_id"])


def record_tournament(store: RunStore, seed: int) -> str:
    """Six rounds of a Numerai-style tournament among five participants."""
    sim = simulate_tournament(FIVE_PARTICIPANTS, rounds=6, seed=seed)
    run_id = store.start_run(
        TOURNAMENT_RUN_KIND, {"rounds": 6, "participants": 5}, name="signals-tournament"
    )
    for result in sim.results:
        record_tournament_round(store, run_id, result, "NMR")
    summary = tournament_summary(sim.results, [r.round for r in sim.results], "NMR", 2)
    store.finish_run(run_id, "completed", summary)
    return run_id


class LiveFederation:
    """A deployed run in this process: coordinator and parties over local gRPC (no TLS:
    a demo on one machine). One party leaves after ``leave_after`` rounds."""

    def __init__(self, store: RunStore, rounds: int, seconds_per_round: float, seed: int) -> None:
        self.job = hospital_job({"name": "fedavg"}, rounds, seed)
        self.store, self.rounds, self.pause, self.seed = store, rounds, seconds_per_round, seed
        self.ready = threading.Event()
        self.hub: GrpcHub | None = None
        self.parties: list[PartyConnection] = []
        self.history: History | None = None
        self.thread = threading.Thread(target=self._serve, name="demo-coordinator", daemon=True)

    def _serve(self) -> None:
        def listening(hub: GrpcHub) -> None:
            self.hub = hub
            self.ready.set()

        def paced(record: Any) -> None:
            if record.server_round == self.rounds // 2 and len(self.parties) > 3:
                self.parties[3].close()  # a party leaves mid-run (a clean goodbye)
            time.sleep(self.pause)

        self.history = serve_coordinator(
            self.job.strategy,
            self.job.initial_parameters,
            self.rounds,
            "127.0.0.1:0",
            HubSecurity(insecure=True),
            min_parties=4,
            join_timeout=60,
            seed=self.seed,
            store=self.store,
            run_name="hospitals-deployed",
            run_config={"dataset": "digits", "model": "logistic"},
            heartbeat_interval=0.5,
            on_listening=listening,
            progress=paced,
        )

    def start(self) -> str:
        """Start the coordinator and four parties; returns the run id."""
        self.thread.start()
        self.ready.wait(30)
        assert self.hub is not None
        names = ["clinic-north", "clinic-south", "clinic-east", "clinic-west"]
        for i, name in enumerate(names):
            cid = self.job.client_ids[i]
            connection = PartyConnection(
                f"127.0.0.1:{self.hub.port}",
                name,
                PartyCredentials(insecure=True),
                handler=client_handler(lambda _, cid=cid: self.job.client_fn(cid)),
                heartbeat_interval=0.5,
                backoff=Backoff(initial=0.05, maximum=0.5, give_up_after=30.0),
            )
            self.parties.append(connection.start())
            time.sleep(0.2)
        return self.hub.run_id

    def join(self) -> None:
        self.thread.join()
        for party in self.parties:
            party.close()


def screenshots(url: str, out: Path, pages: dict[str, str], wait_live: Callable[[], None]) -> None:
    """Full-page PNGs of ``pages`` (name -> hash route) at laptop width."""
    from playwright.sync_api import sync_playwright

    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ]
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        for name, route in pages.items():
            if name == "live":
                wait_live()
            page.goto(url + route)
            page.wait_for_function("() => window.rengo && window.rengo.refreshes >= 0")
            page.wait_for_timeout(1500)
            target = out / f"ui-{name}.png"
            page.screenshot(path=str(target), full_page=name != "runs")
            print(f"wrote {target}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("rengo-runs") / "dashboard-demo")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument("--screenshots", type=Path, default=None, help="write DIR/ui-*.png")
    args = parser.parse_args()
    try:  # before minutes of recording, and as one line rather than a traceback
        require_ui()
    except ConfigError as exc:
        sys.exit(f"error: {exc}")

    from rengo.ui import DashboardServer

    args.out.mkdir(parents=True, exist_ok=True)
    store_path = args.out / "runs.db"
    store_path.unlink(missing_ok=True)
    with RunStore(store_path) as store:
        fedavg, fedadam = record_hospitals(store, args.rounds, args.seed)
        vertical = record_vertical(store, args.seed)
        tournament = record_tournament(store, args.seed)
        print(f"recorded runs {fedavg}, {fedadam}, {vertical}, {tournament} in {store_path}")
        live = LiveFederation(store, 16, 1.0 if args.screenshots else 3.0, args.seed)
        with DashboardServer(store_path, "127.0.0.1:0" if args.screenshots else args.listen) as ui:
            deployed = live.start()
            print(f"dashboard at {ui.url} - the deployed run {deployed} is live")
            if args.screenshots is not None:

                def mid_run() -> None:  # after the leave, while the others still train
                    while len(store.rounds(deployed)) < 11:
                        time.sleep(0.2)

                screenshots(
                    ui.url,
                    args.screenshots,
                    {
                        "runs": "#/",
                        "run": f"#/run/{fedavg}",
                        "compare": f"#/compare?ids={fedavg},{fedadam}",
                        "tournament": f"#/run/{tournament}",
                        "live": f"#/run/{deployed}",
                    },
                    mid_run,
                )
                live.join()
            else:
                try:
                    live.join()
                    print("the deployed run finished; Ctrl-C to stop the dashboard")
                    threading.Event().wait()
                except KeyboardInterrupt:
                    pass


if __name__ == "__main__":
    main()
