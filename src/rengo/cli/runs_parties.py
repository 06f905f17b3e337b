"""``rengo runs parties RUN [--admit NAMES] [--remove NAMES]``: a running deployed run's
parties, and the operator's requests to change them without a restart."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from rengo.cli.errors import friendly_errors
from rengo.cli.store_option import RunIdArgument, StoreOption, open_existing_store

console = Console()


def parties(
    run_id: RunIdArgument,
    admit: Annotated[
        str | None, typer.Option(help="Comma-separated parties to admit from the next round.")
    ] = None,
    remove: Annotated[
        str | None, typer.Option(help="Comma-separated parties to take out after this round.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Show a deployed run's parties, or ask its running coordinator to admit or remove some.

    The coordinator applies the request before its next round, with no restart and no round
    lost: the new parties take part from that round, a removed party is dropped and refused,
    and the change is recorded (`rengo runs show RUN`, table `parties`). A request the run
    cannot serve (a revoked certificate, fewer parties than the quorum or the strategy
    needs) is dropped, naming why, among the run's events. Whoever can write the run store
    is the operator: a party cannot.

    Example: rengo certs add certs p4 && rengo runs parties RUN --admit p4
    """
    from rengo.cli.deploy import party_names
    from rengo.tracking import recorded_party_requests
    from rengo.tracking.party_changes import PARTIES

    showing = admit is None and remove is None
    # Only showing reads the store as it is: an earlier schema is left unmigrated, so the
    # release that still writes it (a coordinator not upgraded yet) can go on using it.
    with friendly_errors(), open_existing_store(store, read_only=showing) as s:
        if showing:
            info = s.get_run(run_id)
            members = info.config.get(PARTIES)
            named = ", ".join(map(str, members)) if isinstance(members, list) else "any name"
            console.print(f"run {info.run_id} ({info.status}): parties {named}", highlight=False)
            for request in recorded_party_requests(info.config):
                console.print(
                    f"  pending: {request.describe()} (asked {request.at})", highlight=False
                )
            return
        request = s.request_party_change(
            run_id,
            admit=party_names(admit, "--admit") if admit is not None else (),
            remove=party_names(remove, "--remove") if remove is not None else (),
        )
        info = s.get_run(run_id)
        console.print(
            f"asked the coordinator of run {info.run_id} to {request.describe()}: it applies "
            "the request before its next round and records it (`rengo runs show "
            f"{info.run_id}`, table parties); a request it cannot serve is dropped, naming "
            "why, among the run's events",
            highlight=False,
        )
        if request.admitted:
            who = ", ".join(request.admitted)
            console.print(
                f"start {who} with `rengo party --coordinator HOST:PORT --name NAME ...` "
                "(on certificates: `rengo certs add DIR NAME` first; on tokens: its "
                '`NAME = "TOKEN"` line in the coordinator\'s tokens file first)',
                highlight=False,
            )
