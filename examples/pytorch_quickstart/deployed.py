"""The quickstart's CNN, deployed: one coordinator process and one process per party, over
gRPC with mutual TLS. The coordinator holds no data: it only needs the model's shape (its
initial parameters) and a strategy; each party trains on its own rows.

From the repository root, after ``make demo``::

    .venv/bin/rengo certs init certs --parties client-0,client-1,client-2
    .venv/bin/python examples/pytorch_quickstart/deployed.py --certs certs --parties \
        client-0,client-1,client-2 --rounds 5
    # in three more shells (--app finds deployed.py in the working directory):
    cd examples/pytorch_quickstart
    ../../.venv/bin/rengo party --coordinator localhost:7443 --name client-0 \
        --certs ../../certs --app deployed:client_fn

``rengo certs init --hosts`` must list the address the parties dial (default: localhost and
127.0.0.1). Each party here takes its slice of the same seeded split of MNIST's test set (the
bundled digits without it), standing in for a hospital reading its own files in
:func:`client_fn`; the coordinator never sees a row. The run is recorded in the run store as
``hfl-deployed`` (``rengo runs show RUN``).
"""

from __future__ import annotations

import argparse
import sys
from functools import cache
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run.py beside this file

from run import SmallCNN, load_images, sgd_momentum, tensors

from rengo.core import validate_party_name
from rengo.data import FederatedDataset, federate
from rengo.deploy import serve_coordinator
from rengo.hfl import FedAvg, RoundRecord, TorchClient, get_parameters
from rengo.tracking import RunStore
from rengo.transport import HubSecurity

PARTIES = 3
SAMPLES = 1500
SEED = 0


@cache
def _federation() -> tuple[FederatedDataset, int]:
    """The seeded split every party computes the same way (a stand-in for its own files)."""
    data, side = load_images(SAMPLES, SEED)
    return federate(data, "dirichlet", PARTIES, seed=SEED, alpha=0.5), side


def client_fn(name: str) -> TorchClient:
    """This party's client: ``rengo party --name client-N --app deployed:client_fn``.

    A real party reads its own data here; this one takes slice ``client-N`` of the split.
    """
    fed, side = _federation()
    loader = DataLoader(tensors(fed.client(name), side), batch_size=32, shuffle=True)
    return TorchClient(SmallCNN(), loader, lr=0.05, optimizer=sgd_momentum)


def serve(args: argparse.Namespace, on_listening: Any = None) -> Any:
    """Serve ``args.rounds`` rounds of FedAvg over the CNN to the named parties."""
    names = [validate_party_name(p.strip(), "--parties") for p in args.parties.split(",")]

    def report(record: RoundRecord) -> None:
        loss = record.metrics.get("train_loss", float("nan"))
        print(f"round {record.server_round}: {len(record.clients)} parties, loss {loss:.4f}")

    with RunStore(args.store) as store:
        return serve_coordinator(
            FedAvg(min_fit_clients=len(names), min_available_clients=len(names)),
            get_parameters(SmallCNN()),
            args.rounds,
            args.listen,
            HubSecurity.from_directory(args.certs, parties=names),
            parties=names,
            seed=SEED,
            store=store,
            run_name="pytorch-quickstart-deployed",
            run_config={"model": "SmallCNN"},
            progress=report,
            on_listening=on_listening,
            on_event=lambda level, message: print(message),
        )


def main(argv: list[str] | None = None, on_listening: Any = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", required=True, help="folder made by `rengo certs init`")
    parser.add_argument("--parties", default="client-0,client-1,client-2")
    parser.add_argument("--listen", default="0.0.0.0:7443")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", default=None, help="run store (default: ./rengo-runs)")
    history = serve(parser.parse_args(argv), on_listening)
    print(f"run {history.run_id}: `rengo runs show {history.run_id}`")
    return history


if __name__ == "__main__":
    main()
