"""``rengo certs``, ``rengo coordinator`` and ``rengo party``: a real, networked federation.

TLS with mutual certificates is the default. Tokens are a quick-start alternative (weaker: a
stolen token is enough to impersonate a party) and plain text needs ``--insecure``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from rich.console import Console

from rengo.cli.console_lines import echo, progress_bars_shown, say
from rengo.cli.dial_options import NoProxyOption, ServerNameOption, dialling_note
from rengo.cli.errors import ROUNDS_KEPT, error_console, friendly_errors
from rengo.cli.log_formats import set_log_context
from rengo.cli.secret_options import warn_if_on_command_line
from rengo.cli.store_option import StoreOption
from rengo.core.errors import ConfigError
from rengo.core.files import owner_only_note, readable_by_others

certs_app = typer.Typer(help="Create the federation's CA and certificates.", no_args_is_help=True)
console = Console()


@certs_app.command("init")
def certs_init(
    directory: Annotated[Path, typer.Argument(help="Folder to write the CA and certs into.")],
    parties: Annotated[str, typer.Option(help="Comma-separated party names.")],
    hosts: Annotated[
        str, typer.Option(help="Names/IPs the coordinator's certificate is valid for.")
    ] = "localhost,127.0.0.1",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing CA.")] = False,
) -> None:
    """Create a CA, the coordinator's server certificate and one certificate per party."""
    from rengo.transport.certs import init_certificates

    with friendly_errors():
        names = [p.strip() for p in parties.split(",") if p.strip()]
        if not names:
            raise ConfigError("--parties needs at least one name")
        init_certificates(directory, names, hosts=hosts.split(","), overwrite=overwrite)
        console.print(
            f"wrote CA, coordinator and {len(names)} party certificates to {directory}; "
            "give each party ca.pem and its own parties/NAME.pem/.key only"
        )


@certs_app.command("add")
def certs_add(
    directory: Annotated[Path, typer.Argument(help="Folder made by `rengo certs init`.")],
    name: Annotated[str, typer.Argument(help="New party name.")],
) -> None:
    """Issue a certificate for one more party with the existing CA."""
    from rengo.transport.certs import add_party

    with friendly_errors():
        cert, _key = add_party(directory, name)
        console.print(f"wrote {cert}")


@certs_app.command("coordinator")
def certs_coordinator(
    directory: Annotated[Path, typer.Argument(help="Folder made by `rengo certs init`.")],
    hosts: Annotated[
        str | None,
        typer.Option(
            help="Names/IPs the parties dial the coordinator by (default: those of its "
            "current certificate)."
        ),
    ] = None,
) -> None:
    """Issue the coordinator a new certificate with the existing CA (renewal, or a new host).

    The parties trust the CA, so they need nothing new; restart the coordinator with
    `--resume RUN` to serve with it. The previous pair is kept as coordinator.pem.old and
    coordinator.key.old. It stays valid until it expires (parties check no revocation list
    for the coordinator): if the old host or its key may be compromised, make a new
    federation (`rengo certs init`) instead.
    """
    from rengo.transport.certs import coordinator_hosts, renew_coordinator

    with friendly_errors():
        names = (
            coordinator_hosts(directory)
            if hosts is None
            else [h.strip() for h in hosts.split(",") if h.strip()]
        )
        cert, key = renew_coordinator(directory, hosts=names)
        console.print(
            f"wrote {cert} and {key} for {', '.join(names)} (the previous pair kept as "
            f"{cert.name}.old and {key.name}.old): restart the coordinator (--resume RUN) to "
            "use them",
            highlight=False,
        )


@certs_app.command("request")
def certs_request(
    directory: Annotated[Path, typer.Argument(help="This party's certificate folder.")],
    name: Annotated[str, typer.Argument(help="This party's name.")],
) -> None:
    """Make this party's own key and a signing request for the federation's operator.

    The key stays here (DIR/parties/NAME.key); send DIR/parties/NAME.csr to the operator,
    who runs `rengo certs sign` and sends back NAME.pem and ca.pem.
    """
    from rengo.transport.certs import request_certificate

    with friendly_errors():
        csr, key = request_certificate(directory, name)
        console.print(
            f"wrote {key} (keep it here) and {csr}: send the request to the federation's "
            f"operator, then put the NAME.pem and ca.pem you get back at {csr.with_suffix('.pem')} "
            f"and {directory / 'ca.pem'}",
            highlight=False,
        )


@certs_app.command("sign")
def certs_sign(
    directory: Annotated[Path, typer.Argument(help="Folder made by `rengo certs init`.")],
    request: Annotated[Path, typer.Argument(help="A party's NAME.csr (`rengo certs request`).")],
) -> None:
    """Issue a party certificate for its signing request: the party keeps its own key."""
    from rengo.transport.certs import sign_request

    with friendly_errors():
        name, cert = sign_request(directory, request)
        console.print(
            f"wrote {cert}: send it and {directory / 'ca.pem'} (never ca.key) back to party {name}",
            highlight=False,
        )


@certs_app.command("revoke")
def certs_revoke(
    directory: Annotated[Path, typer.Argument(help="Folder made by `rengo certs init`.")],
    name: Annotated[str, typer.Argument(help="The party whose certificate to revoke.")],
) -> None:
    """Revoke a party's certificate; a coordinator started from DIR refuses it and drops the party.

    The coordinator and a dashboard started with --certs DIR re-read DIR/revoked.crl when it
    changes; `rengo certs add DIR NAME` issues the party a new certificate.
    """
    from rengo.transport.certs import REVOKED_FILE, revoke_party

    with friendly_errors():
        serial = revoke_party(directory, name)
        console.print(
            f"revoked party {name}'s certificate (serial {serial:x}) in {directory / REVOKED_FILE}"
        )


@certs_app.command("list")
def certs_list(
    directory: Annotated[Path, typer.Argument(help="Folder made by `rengo certs init`.")],
) -> None:
    """List the parties' certificates: serial number, expiry, and whether revoked."""
    from rich.table import Table

    from rengo.transport.certs import list_parties

    with friendly_errors():
        parties = list_parties(directory)
        table = Table()
        table.add_column("party", no_wrap=True)
        table.add_column("serial", overflow="fold")  # 40 hex digits: folded when narrow
        table.add_column("valid until (UTC)", no_wrap=True)
        table.add_column("revoked (UTC)", no_wrap=True)
        for party in parties:
            table.add_row(
                party.name,
                f"{party.serial:x}",
                f"{party.not_after:%Y-%m-%d %H:%M}",
                "-" if party.revoked_at is None else f"{party.revoked_at:%Y-%m-%d %H:%M}",
            )
        console.print(table)


def read_tokens(path: Path | None) -> dict[str, str] | None:
    """The ``{party: token}`` table of a TOML tokens file (None without a file)."""
    from rengo.transport.tokens import read_tokens_file

    if path is None:
        return None
    tokens = read_tokens_file(path)
    if readable_by_others(path):
        error_console.print(
            f"[yellow]warning:[/] {owner_only_note('the tokens file', path)}",
            highlight=False,
            soft_wrap=True,
        )
    return tokens


def hub_security(
    certs: Path | None, tokens: Path | None, parties: list[str] | None, insecure: bool
) -> Any:
    """The coordinator's TLS material and allow-list from the command's options."""
    from rengo.transport.grpc_security import HubSecurity

    tok = read_tokens(tokens)
    if insecure:
        return HubSecurity(
            insecure=True,
            tokens=tok,
            parties=frozenset(parties) if parties else None,
            tokens_file=tokens,
        )
    if certs is None:
        raise ConfigError("TLS is on by default: pass --certs DIR (or --insecure to test)")
    return HubSecurity.from_directory(certs, tokens=tok, parties=parties, tokens_file=tokens)


def party_credentials(
    name: str,
    certs: Path | None,
    token: str | None,
    ca: Path | None,
    insecure: bool,
    *,
    server_name: str | None = None,
    no_proxy: bool = False,
) -> Any:
    """A party's credentials from the command's options: mTLS, token over TLS, or plain;
    with the host name the coordinator's certificate must name (``--server-name``) and
    whether to dial past the environment's HTTP proxy (``--no-proxy``)."""
    from dataclasses import replace

    return replace(
        _party_identity(name, certs, token, ca, insecure),
        server_name=server_name or None,
        use_http_proxy=not no_proxy,
    )


def _party_identity(
    name: str, certs: Path | None, token: str | None, ca: Path | None, insecure: bool
) -> Any:
    """A party's credentials: mTLS, token over TLS, or plain."""
    from rengo.transport.grpc_security import PartyCredentials

    if insecure:
        return PartyCredentials(insecure=True, token=token)
    if token is not None:
        from rengo.transport.certs import read_certificate_file

        ca_path = ca or (certs / "ca.pem" if certs else None)
        if ca_path is None:
            raise ConfigError("--token needs --ca (or --certs) to trust the coordinator")
        ca_cert = read_certificate_file(
            ca_path,
            "the federation's CA certificate",
            "copy ca.pem from the coordinator's operator",
        )
        return PartyCredentials(ca_cert=ca_cert, token=token)
    if certs is not None:
        return PartyCredentials.from_directory(certs, name)
    raise ConfigError("pass --certs DIR (mTLS) or --token (weaker), or --insecure")


@contextmanager
def dashboard(
    store: Path, listen: str | None, token: str | None, certs: Path | None
) -> Iterator[None]:
    """The dashboard beside a coordinator while it runs (nothing when ``listen`` is None).
    Off this machine it takes the token, else the deployment's certificates (HTTPS, client
    certificates from the federation's CA required)."""
    if listen is None:
        yield
        return
    from rengo.cli.ui import start_dashboard
    from rengo.ui import parse_listen

    tls = certs if token is None and not parse_listen(listen).loopback else None
    server = start_dashboard(store, listen, token, tls, foreground=False, out=console)
    try:
        yield
    finally:
        server.stop()


def party_names(text: str, flag: str) -> list[str]:
    """Comma-separated party names from a flag, each checked by the one party-name rule."""
    from rengo.core.roles import validate_party_name

    names = [validate_party_name(p.strip(), f"{flag} entry") for p in text.split(",") if p.strip()]
    if not names:
        raise ConfigError(f"{flag} needs at least one party name")
    if len(set(names)) != len(names):
        raise ConfigError(f"{flag}: party names must be distinct, got {names}")
    return names


def coordinator(
    ctx: typer.Context,
    job: Annotated[Path, typer.Option(help="Job file (TOML) with strategy, model and rounds.")],
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "0.0.0.0:7443",
    certs: Annotated[Path | None, typer.Option(help="Folder made by `rengo certs init`.")] = None,
    tokens: Annotated[
        Path | None, typer.Option(help="TOML file of name = token (weaker than mTLS).")
    ] = None,
    parties: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated parties to wait for (default: the job's [deploy] parties, "
            "else its clients client-0, client-1, ...)."
        ),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(
            "--quorum",
            "--min-parties",
            min=1,
            help="Start with this many of them once --join-timeout passed (default: all).",
        ),
    ] = None,
    join_timeout: Annotated[
        float | None,
        typer.Option(help="Start deadline: seconds to wait for the parties (default: the job's)."),
    ] = None,
    rejoin_wait: Annotated[
        float, typer.Option(help="Seconds to wait for dropped parties before each round.")
    ] = 0.0,
    resume: Annotated[
        str | None, typer.Option(help="Interrupted run to continue from its last checkpoint.")
    ] = None,
    store: StoreOption = None,
    insecure: Annotated[bool, typer.Option(help="Plain text, no TLS (testing only).")] = False,
    ui: Annotated[
        str | None,
        typer.Option(help="Serve the live dashboard on [HOST]:PORT, e.g. :8080 (read-only)."),
    ] = None,
    ui_token: Annotated[
        str | None,
        typer.Option(envvar="RENGO_UI_TOKEN", help="Dashboard token, for a non-loopback --ui."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a job setting, SECTION.KEY=VALUE (repeatable)."),
    ] = None,
    progress: Annotated[
        bool,
        typer.Option(help="Show a progress bar that counts the parties' replies in a round."),
    ] = True,
) -> None:
    """Serve a horizontal job to the parties that connect to this coordinator.

    It prints who joins and leaves, and one line per round: who reported, the loss, traffic;
    below them a progress bar shows how many parties answered the round so far
    ("round 2: fit 2/3").
    """
    from rengo.cli.privacy_line import privacy_line
    from rengo.deploy import load_app, serve_coordinator
    from rengo.jobs import HflJob, build_hfl_job, load_job
    from rengo.jobs.build import ServedJob, build_served_job, run_observers
    from rengo.tracking import RunStore, resolve_store_path

    served: list[str] = []  # the run this process serves, once it listens

    def kept() -> str:
        from rengo.cli.run_job import continue_hint

        words = ["rengo", "coordinator", "--job", str(job), "--listen", listen]
        for flag, value in (
            ("--certs", certs),
            ("--tokens", tokens),
            ("--parties", _parties_now(store, served, parties)),
            ("--quorum", quorum),
            ("--join-timeout", join_timeout),
            ("--store", store),
            ("--ui", ui),
        ):
            if value is not None:
                words += [flag, str(value)]
        words += ["--rejoin-wait", f"{rejoin_wait:g}"] if rejoin_wait else []
        words += ["--insecure"] if insecure else []
        for override in set_ or ():
            words += ["--set", override]
        return continue_hint(ROUNDS_KEPT, words, store, resume)

    with friendly_errors(kept):
        warn_if_on_command_line(ctx, "ui_token", "--ui-token", "RENGO_UI_TOKEN")
        spec = load_job(job, set_ or ())
        if spec.vfl is not None:
            raise ConfigError(f"{job} is a vertical job: serve it with `rengo vfl coordinator`")
        if spec.dropout is not None:  # it would be ignored: mods run on simulated clients
            raise ConfigError(
                f"{job}: [dropout] simulates clients lost from rounds, but a deployed run's "
                "parties are real ones (that drop out by themselves): remove the section to "
                "serve this job, or simulate it with `rengo run`"
            )
        if spec.job.on_short_round != "fail":  # it would be ignored: say what happens instead
            raise ConfigError(
                f"{job}: job.on_short_round = {spec.job.on_short_round!r} applies to simulations "
                "(`rengo run`); a deployed coordinator never skips a round: with --rejoin-wait "
                "a round short of parties waits that long for those that lost their link and "
                "runs again (at most 3 times). A round still short because parties lost their "
                "link (or an admitted one never joined) leaves the run interrupted, and "
                "`--resume` continues it from its last checkpointed round once they are back; "
                "one short because parties answered wrongly or raised fails the run, which "
                "cannot be resumed. Remove the key to serve this job"
            )
        deploy = spec.deploy
        built: HflJob | ServedJob
        recorded = _resumed_parties(store, resume, parties)
        if spec.model.app is not None:  # the user's own model: no data here
            if parties:
                names = party_names(parties, "--parties")
            elif recorded is not None:
                names = recorded
            elif deploy.parties:
                names = list(deploy.parties)
            else:
                raise ConfigError(
                    f"{job}: name the parties to serve, [deploy] parties = [...] or --parties "
                    "(a job whose model is [model] app has no clients to name them after)"
                )
            model = load_app(spec.model.app, job.resolve().parent)()
            built = build_served_job(spec, model, names)
        else:
            built = build_hfl_job(spec)
            names = (
                party_names(parties, "--parties")
                if parties
                else recorded
                if recorded is not None
                else list(deploy.parties or built.client_ids)
            )
        if recorded is not None:
            say(
                console,
                f"run {resume}'s parties were changed while it ran (rengo runs parties): it "
                f"resumes with them, {', '.join(recorded)}, not the job's list (--parties "
                "names others)",
            )
        wanted = quorum if quorum is not None else deploy.quorum
        if wanted is not None and wanted > len(names):
            raise ConfigError(f"--quorum {wanted} exceeds the {len(names)} parties {names}")
        deadline = join_timeout if join_timeout is not None else deploy.start_deadline
        security = hub_security(certs, tokens, names, insecure)
        tracker = None
        if spec.contribution is not None:
            from rengo.jobs.contribution import check_entities, contribution_tracker

            assert isinstance(built, HflJob)  # a served job refuses [contribution]
            check_entities(spec.contribution, names, f"{spec.source}: ")
            most = built.strategy.num_fit_clients(len(names))
            tracker = contribution_tracker(
                spec.contribution, built.evaluate, spec.job.seed, most, names
            )

        def listening(hub: Any) -> None:
            served.append(hub.run_id)
            need = f"; starts with {wanted} of them after {deadline:g}s" if wanted else ""
            run = f" (run {hub.run_id}: `--resume {hub.run_id}` if this process dies)"
            set_log_context(run_id=hub.run_id)
            revoked = hub.revoked_parties()  # known revoked: not waited for
            awaited = ", ".join(n for n in names if n not in revoked)
            if revoked & set(names):
                awaited += f" (not {', '.join(sorted(revoked & set(names)))}: revoked)"
            say(
                console,
                f"{spec.job.name}: {spec.strategy.name}, {spec.job.rounds} rounds"
                f"{run if hub.run_id else ''}; listening on {hub.address}, waiting for "
                f"{awaited}{need}",
            )

        def hub_event(level: str, message: str) -> None:
            if level not in ("warning", "error"):  # those the log handler shows (once)
                echo(console, message)

        with (
            RunStore(resolve_store_path(store)) as run_store,
            dashboard(run_store.path, ui, ui_token, certs),
        ):
            history = serve_coordinator(
                built.strategy,
                built.initial_parameters,
                spec.job.rounds,
                listen,
                security,
                parties=names,
                min_parties=wanted,
                join_timeout=deadline,
                rejoin_wait=rejoin_wait,
                round_timeout=spec.job.round_timeout,
                stragglers=spec.deploy.stragglers(),
                heartbeat_timeout=spec.deploy.heartbeat_timeout,
                seed=spec.job.seed,
                store=run_store,
                run_name=spec.job.name,
                run_config=built.run_config(
                    {"job_file": str(job.resolve()), "model": spec.model.app or spec.model.type}
                ),
                resume=resume,
                on_listening=listening,
                progress=progress_bars_shown(progress, console),
                checks=spec.result_checks,
                workflow=built.workflow,
                slow_after=deploy.slow_after,
                slow_rounds=deploy.slow_rounds,
                on_event=hub_event,
                observers=run_observers(
                    spec,
                    tracker,
                    # the test rows and the kept model's reliability table, as `rengo run`
                    last=built.evaluation_record if isinstance(built, HflJob) else None,
                ),
                checkpoints=spec.checkpoints,
            )
            if tracker is not None and spec.contribution is not None and history.run_id:
                from rengo.cli.run_job import print_contribution
                from rengo.jobs.contribution import record_and_pay

                report = tracker.report()
                payouts = record_and_pay(run_store, history.run_id, report, spec.contribution)
                print_contribution(console, history.run_id, report, payouts, spec.contribution)
            resumed_after = None
            if resume is not None and history.run_id and not history.rounds:
                resumed_after = max(run_store.checkpoint_rounds(history.run_id), default=0)
            spent = privacy_line(run_store, history.run_id)
        console.print(
            completed_line(history, resumed=resume is not None, resumed_after=resumed_after),
            highlight=False,
            soft_wrap=True,
        )
        if spent is not None:
            console.print(spent, highlight=False, soft_wrap=True)


def _parties_now(store: Path | None, served: Sequence[str], given: str | None) -> str | None:
    """The ``--parties`` a resume of the run this process served needs: the run's recorded
    parties when they were changed while it ran (`rengo runs parties`: a resume with the
    job's list would take those changes back), else the ones given (None: the job's)."""
    if not served or not served[-1]:
        return given
    try:
        members = _recorded_changed_parties(store, served[-1])
    except Exception:  # a hint only: the interruption is reported anyway
        return given
    return given if members is None else ",".join(members)


def _recorded_changed_parties(store: Path | None, run_id: str) -> list[str] | None:
    """Run ``run_id``'s parties now if they were changed while it ran (``rengo runs
    parties``), else None (see :func:`rengo.tracking.party_changes.changed_parties`)."""
    from rengo.tracking import RunStore, resolve_store_path
    from rengo.tracking.party_changes import changed_parties

    with RunStore(resolve_store_path(store)) as run_store:
        return changed_parties(run_store.get_run(run_id).config)


def _resumed_parties(store: Path | None, resume: str | None, given: str | None) -> list[str] | None:
    """The parties a resume without ``--parties`` continues with: the run's recorded ones
    when they were changed while it ran (the job's list would take the change back), else
    None (the job's). None too with ``--parties`` given, or for no resume; a run the store
    does not hold is left to the resume to refuse, naming it."""
    if resume is None or given:
        return None
    from rengo.core.errors import RengoError

    try:
        return _recorded_changed_parties(store, resume)
    except (RengoError, KeyError):  # not this store's run: the resume says so
        return None


def completed_line(history: Any, resumed: bool, resumed_after: int | None = None) -> str:
    """The coordinator's last line: the rounds the run completed in all, and of a resumed
    run how many of them since it resumed (its history holds only those; of a long run only
    the latest, counting the earlier ones in ``earlier_rounds``); of a resumed run that ran
    no round (resumed after round ``resumed_after``, its checkpoint's), that it had already
    stopped (early stopping decided after that round: ``history.stopped``) or run every
    round."""
    if resumed and resumed_after and not history.rounds and not history.earlier_rounds:
        if history.stopped:
            return (
                f"run {history.run_id} had already stopped after round {resumed_after} "
                f"({history.stopped}); no round was run"
            )
        return (
            f"run {history.run_id} had already completed {resumed_after} rounds; no round was run"
        )
    earlier = history.earlier_rounds
    done = earlier + len(history.rounds)
    first = history.rounds[0].server_round - earlier if history.rounds else 1
    if not resumed or first == 1:  # a run resumed before its first round ended: all here
        return f"run {history.run_id} completed {done} rounds"
    return (
        f"run {history.run_id} completed {first - 1 + done} rounds ({done} since it resumed "
        f"after round {first - 1})"
    )


def party(
    ctx: typer.Context,
    coordinator: Annotated[str, typer.Option(help="Coordinator HOST:PORT.")],
    name: Annotated[str, typer.Option(help="This party's name (as in its certificate).")],
    app: Annotated[
        str | None, typer.Option(help="module:callable returning a Client for a name.")
    ] = None,
    job: Annotated[
        Path | None,
        typer.Option(help="Serve this job's own partition NAME instead of --app (testing)."),
    ] = None,
    certs: Annotated[Path | None, typer.Option(help="Certs folder (ca.pem, parties/).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="RENGO_TOKEN", help="Token (weaker than mTLS); give it in $RENGO_TOKEN."
        ),
    ] = None,
    ca: Annotated[Path | None, typer.Option(help="CA certificate, with --token.")] = None,
    insecure: Annotated[bool, typer.Option(help="Plain text, no TLS (testing only).")] = False,
    server_name: ServerNameOption = None,
    no_proxy: NoProxyOption = False,
    require_signed_secagg: Annotated[
        bool,
        typer.Option(
            help="Refuse secure aggregation rounds that are not signed (needs an mTLS "
            "certificate): a coordinator cannot downgrade this party."
        ),
    ] = False,
    retry_for: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds to keep reconnecting while no coordinator answers (one stopped to "
            "be resumed, say) before giving up (default 600); 0: until the run ends.",
        ),
    ] = None,
    heartbeat_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds without a whole frame from the coordinator before this party "
            "reconnects (a heartbeat every 2 s): a 256 KiB chunk must cross this party's link "
            "within it, so raise it for links under about 210 kbit/s (the coordinator's: "
            "[deploy] heartbeat_timeout).",
        ),
    ] = 10.0,
    dp_history: Annotated[
        Path | None,
        typer.Option(
            help="File that keeps this party's local-DP accountant history, so a restarted "
            "party remembers the privacy budget it spent (its client must train with local DP)."
        ),
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            help="A data file this party's --app trains on (repeatable): its SHA-256 is "
            "reported to the coordinator at every join, which records it with the run and "
            "warns when it changed since (this party's word; --job reports the job's files)."
        ),
    ] = None,
    mod: Annotated[
        list[str] | None,
        typer.Option(
            help="module:attribute of a client mod this party installs around its client "
            "(repeatable, outermost first; a class is built with no arguments): its own "
            "middleware, as Flower's ClientApp(mods=[...]); the coordinator's mods wrap these.",
        ),
    ] = None,
) -> None:
    """Join a coordinator and serve this party's client until the run ends."""
    from dataclasses import replace

    from rengo.core.roles import validate_party_name
    from rengo.deploy import load_app, run_party
    from rengo.transport.grpc_party import DEFAULT_BACKOFF
    from rengo.transport.grpc_wire import check_heartbeat

    with friendly_errors():
        warn_if_on_command_line(ctx, "token", "--token", "RENGO_TOKEN")
        validate_party_name(name, "--name")
        check_heartbeat(2.0, heartbeat_timeout)  # run_party's heartbeat interval
        creds = party_credentials(
            name, certs, token, ca, insecure, server_name=server_name, no_proxy=no_proxy
        )
        route = dialling_note(coordinator, creds.use_http_proxy)
        if (app is None) == (job is None):
            raise ConfigError("give exactly one of --app module:callable or --job JOB.toml")
        if job is not None and data:
            raise ConfigError(
                "--data names the files an --app trains on; with --job the job's own data "
                "files are reported"
            )
        reported = reported_data_files(data or ())
        if job is not None:
            from rengo.jobs import build_hfl_job, load_job

            built = build_hfl_job(load_job(job))
            reported = dict(built.data_files)
            if name not in built.client_ids:
                ids = list(built.client_ids)
                named = ", ".join(ids if len(ids) <= 6 else [*ids[:3], "...", ids[-1]])
                raise ConfigError(
                    f"--name {name!r} is not a client of {job}, whose data makes {len(ids)} "
                    f"clients ({named}): join as one of them, or serve this party's own data "
                    "with --app MODULE:CALLABLE instead of --job"
                )
            client_fn = built.client_fn
        else:
            assert app is not None
            client_fn = load_app(app)
        own_mods = [_party_mod(spec) for spec in mod or ()]
        if dp_history is not None:
            from rengo.deploy.local_dp_history import with_dp_history

            client_fn = with_dp_history(client_fn, name, dp_history)
        backoff = DEFAULT_BACKOFF
        if retry_for is not None:
            backoff = replace(backoff, give_up_after=retry_for or None)
        limit = backoff.give_up_after
        reconnecting = "reconnecting until the run ends" + (
            f", for up to {limit:g}s without a coordinator" if limit else ""
        )
        set_log_context(party=name)
        say(console, f"{name}: serving {coordinator}{route} ({reconnecting})")
        sessions = run_party(
            coordinator,
            name,
            client_fn,
            creds,
            backoff=backoff,
            heartbeat_timeout=heartbeat_timeout,
            mods=[PartyReport(name), *own_mods],
            on_finished=lambda text: echo(console, f"{name}: {text}"),
            require_signed_secagg=require_signed_secagg,
            data_files=reported or None,
            on_joined=lambda run_id: set_log_context(run_id=run_id),
        )
        say(console, f"{name}: the run ended ({sessions} session{'s' * (sessions != 1)})")


def reported_data_files(paths: Sequence[Path]) -> dict[str, str]:
    """The SHA-256 of each file ``paths`` names, by its absolute path: what a party reports
    it trains on.

    Raises
    ------
    DataError
        Naming a file that cannot be read.
    """
    from rengo.data import file_sha256

    return {str(path.resolve()): file_sha256(path) for path in paths}


def _party_mod(spec: str) -> Any:
    """The client mod ``--mod module:attribute`` names: the attribute itself, or an instance of
    it built with no arguments when it is a class (``rengo.hfl:ClipUpdateMod``).

    Raises
    ------
    ConfigError
        What :func:`rengo.deploy.load_app` raises, or a class that needs arguments.
    """
    from rengo.deploy import load_app

    target = load_app(spec)
    if not isinstance(target, type):
        return target
    try:
        return target()
    except TypeError as exc:
        raise ConfigError(
            f"--mod {spec}: the class {target.__name__} cannot be built with no arguments "
            f"({exc}); name an instance made in your module instead"
        ) from exc


class PartyReport:
    """A client mod that prints the party's side of each round: what it trained on, its
    loss, its local-DP epsilon so far (DP-SGD) and how long it took (a failure is logged
    once, with its traceback). It runs outside the mods the round config requests
    (``outermost``), so under Ditto and FedRep, which train twice per round, it still prints
    one "trained on" line per round: the update sent to the coordinator, timed with both
    trainings."""

    outermost: ClassVar[bool] = True

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, call: Any, call_next: Any) -> Any:
        """Run the client's call and print what it trained or evaluated, timed."""
        import time

        from rengo.core.messages import EvaluateResult, FitResult
        from rengo.privacy.epsilon_text import epsilon_shown

        started = time.perf_counter()
        server_round = call.config.get("server_round", "?") if call.config else "?"
        reply = call_next(call)  # a failure is logged once, with its traceback, by the party
        took = time.perf_counter() - started
        if isinstance(reply, FitResult):
            loss = reply.metrics.get("loss")
            shown = f", loss {float(loss):.4f}" if isinstance(loss, (int, float)) else ""
            # local DP: the party's own epsilon so far, which its operator signs off
            epsilon, delta = reply.metrics.get("dp_epsilon"), reply.metrics.get("dp_delta")
            if isinstance(epsilon, (int, float)) and isinstance(delta, (int, float)):
                rounded_up = epsilon_shown(float(epsilon))
                shown += f", local DP epsilon {rounded_up} at delta {float(delta):.3g}"
            say(
                console,
                f"{self.name}: round {server_round}: trained on {reply.num_examples} "
                f"examples{shown} in {took:.2f}s",
            )
        elif isinstance(reply, EvaluateResult):
            say(
                console,
                f"{self.name}: round {server_round}: evaluated {reply.num_examples} examples, "
                f"loss {reply.loss:.4f}",
            )
        return reply
