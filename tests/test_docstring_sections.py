"""Every public entry point documents what it takes and what it gives back.

Walks each area's ``__all__`` (the list ``tests/test_public_api.py`` documents) and checks,
numpydoc style as the code base writes it:

- each public function has a ``Parameters`` section naming every parameter of its signature
  (``*args``/``**kwargs`` may be named by any starred entry, e.g. ``**options``), and, when
  its return annotation is not None, a ``Returns`` (or ``Yields``) section;
- each public class has a ``Parameters`` section (in the class docstring or in its
  ``__init__``'s) naming every constructor parameter; a subclass need not repeat what a
  rengo base class documents (FedAvg's sampling fields are :class:`~rengo.hfl.Strategy`'s), a
  dataclass may name its fields under ``Attributes`` instead, and an estimator's options
  (its config dataclass's fields, each with a help text) are covered by its ``**options``
  entry;
- the public methods of the estimators (the classes with a ``fit`` method exported by
  ``rengo.vfl``, ``rengo.vfl.secureboost``, ``rengo.vfl.splitnn`` and ``rengo.ftl``) and of
  what the README's snippets call on an object (:class:`rengo.tracking.RunStore`) pass the
  function check.

Exempt: dataclasses whose fields are all options (made with :func:`rengo.core.options.option`
or :func:`rengo.core.options.passed_on`, each carrying a help text that ``--help`` and the
job-file docs show), protocols, enums and exception classes (their message says what is
wrong), and names that are not functions or classes (constants, type aliases).

Gaps not filled yet are in :data:`TO_DOCUMENT`; the list may only shrink: a listed name that
is now documented, or no longer exists, fails here too.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from test_public_api import AREAS

ESTIMATOR_AREAS = ("rengo.vfl", "rengo.vfl.secureboost", "rengo.vfl.splitnn", "rengo.ftl")
"""Areas whose classes with a ``fit`` method have each public method checked."""
README_OBJECTS = ("rengo.tracking.RunStore",)
"""Classes whose public methods the README's snippets call."""

# to document
TO_DOCUMENT: frozenset[str] = frozenset(
    {
        "rengo.core.client_record.ClientRecord",
        "rengo.core.envelope.Envelope",
        "rengo.core.envelope.envelope_from_bytes",
        "rengo.core.envelope.envelope_to_bytes",
        "rengo.core.envelope.message_key",
        "rengo.crypto.dealing.batch_obfuscators",
        "rengo.crypto.encrypted_array.decrypt_array",
        "rengo.crypto.fixed_base.FixedBaseTable",
        "rengo.crypto.fixed_point.FixedPointEncoder",
        "rengo.crypto.key_storage.load_private_key",
        "rengo.crypto.key_storage.private_key_from_bytes",
        "rengo.crypto.key_storage.private_key_to_bytes",
        "rengo.crypto.key_storage.save_private_key",
        "rengo.crypto.keys.PaillierPrivateKey",
        "rengo.crypto.keys.PaillierPublicKey",
        "rengo.crypto.keys.generate_paillier_keypair",
        "rengo.crypto.masking.Mask",
        "rengo.crypto.masking.decrypt_masked",
        "rengo.crypto.masking.unmask",
        "rengo.crypto.obfuscator_schemes.FullExponentObfuscators",
        "rengo.crypto.obfuscator_schemes.KeyHolderObfuscators",
        "rengo.crypto.obfuscator_schemes.ShortExponentObfuscators",
        "rengo.crypto.obfuscator_schemes.djn_default_exponent_bits",
        "rengo.crypto.obfuscator_schemes.kangaroo_exponent_bits",
        "rengo.crypto.obfuscator_schemes.obfuscator_scheme",
        "rengo.crypto.obfuscators.ObfuscatorPool",
        "rengo.crypto.obfuscators.PoolStats",
        "rengo.crypto.obfuscators.local_exponent_bits",
        "rengo.crypto.packing.PackedEncryptedVector",
        "rengo.crypto.packing.SlotLayout",
        "rengo.crypto.packing.decrypt_packed",
        "rengo.crypto.packing.encrypt_packed",
        "rengo.crypto.packing.pack",
        "rengo.crypto.packing.unpack",
        "rengo.crypto.pairwise.KeyPair",
        "rengo.crypto.pairwise.new_key_pair",
        "rengo.crypto.pairwise.open_sealed",
        "rengo.crypto.pairwise.public_key_of",
        "rengo.crypto.pairwise.seal",
        "rengo.crypto.quantisation.ring_bits_for",
        "rengo.crypto.quantisation.rounding_error_bound",
        "rengo.crypto.segment_sums.encrypted_differences",
        "rengo.crypto.shamir.Share",
        "rengo.crypto.signatures.simulated_identities",
        "rengo.crypto.signed_slots.capacity",
        "rengo.crypto.signed_slots.combine_ciphertexts",
        "rengo.crypto.signed_slots.pack_signed",
        "rengo.crypto.signed_slots.unpack_signed",
        "rengo.crypto.x25519.BlindingPool",
        "rengo.crypto.x25519.hash_to_points",
        "rengo.crypto.x25519.new_secret",
        "rengo.data.bundled.load_breast_cancer",
        "rengo.data.bundled.load_diabetes",
        "rengo.data.bundled.load_iris",
        "rengo.data.bundled.load_wine",
        "rengo.data.csv_table.load_csv",
        "rengo.data.csv_table.save_csv",
        "rengo.data.dataset.Standardization",
        "rengo.data.dataset.fit_standardization",
        "rengo.data.dataset.standardize",
        "rengo.data.federated.ClientSummary",
        "rengo.data.federated.from_partition",
        "rengo.data.federated.label_entropy",
        "rengo.data.idx.write_idx",
        "rengo.data.labels.encode_labels",
        "rengo.data.parquet_table.load_parquet",
        "rengo.data.parquet_table.save_parquet",
        "rengo.data.partition.check_partition",
        "rengo.data.partition.quantity_skew_partition",
        "rengo.data.partition.shard_partition",
        "rengo.data.shared.fate_table_names",
        "rengo.data.shared.load_fate_table",
        "rengo.data.shared.load_femnist",
        "rengo.data.shared.load_uci_adult",
        "rengo.data.transfer.TransferParty",
        "rengo.data.transfer.TransferSplit",
        "rengo.data.vertical.VerticalParty",
        "rengo.data.vertical.vertical_split",
        "rengo.core.app_loader.load_app",
        "rengo.deploy.coordinator.message_limit",
        "rengo.deploy.vertical.VerticalRunReport",
        "rengo.ftl.algorithm.make_source_keypair",
        "rengo.ftl.math.class_probabilities",
        "rengo.ftl.math.label_names",
        "rengo.ftl.math.taylor_loss",
        "rengo.ftl.math.translator",
        "rengo.ftl.predict.ftl_predict_source",
        "rengo.ftl.predict.ftl_predict_target",
        "rengo.ftl.roles.EncoderSpec",
        "rengo.ftl.roles.SourceModel",
        "rengo.ftl.roles.TargetModel",
        "rengo.ftl.roles.TransferReport",
        "rengo.ftl.roles.ftl_coordinator",
        "rengo.hfl.client.call_client",
        "rengo.hfl.client.client_seed",
        "rengo.hfl.local_training.ProximalTerm",
        "rengo.hfl.mods.attacks.attack_registry",
        "rengo.hfl.mods.attacks.register_attack",
        "rengo.hfl.mods.chain.register_mod",
        "rengo.hfl.mods.chain.registered_mods",
        "rengo.hfl.numpy_client.softmax_loss_grad",
        "rengo.hfl.numpy_client.softmax_predict",
        "rengo.hfl.secagg.workflow.SecAggReport",
        "rengo.hfl.strategy.base.Aggregate",
        "rengo.hfl.strategy.centred_clipping.CentredClippingState",
        "rengo.hfl.strategy.dp.ClippedDeltaSum",
        "rengo.hfl.strategy.fedavgm.FedAvgMState",
        "rengo.hfl.strategy.fedopt.FedOptState",
        "rengo.hfl.strategy.registry.RegisteredStrategy",
        "rengo.hfl.strategy.scaffold.ScaffoldState",
        "rengo.hfl.workflow.FitRound",
        "rengo.jobs.build.HflJob",
        "rengo.jobs.build.build_federation",
        "rengo.jobs.build.build_hfl_job",
        "rengo.jobs.build.load_job_dataset",
        "rengo.jobs.spec.JobSpec",
        "rengo.jobs.vertical.VerticalJob",
        "rengo.jobs.vertical.job_plan",
        "rengo.jobs.vertical.run_vertical_job",
        "rengo.jobs.vertical_spec.VflSection",
        "rengo.privacy.accountant.calibrate_noise_multiplier",
        "rengo.privacy.accountant.round_event",
        "rengo.privacy.accountant.rounds_within_budget",
        "rengo.privacy.adaptive.noised_unclipped_fraction",
        "rengo.privacy.adaptive.update_noise_multiplier",
        "rengo.privacy.clipping.l2_norm",
        "rengo.privacy.noise.gaussian_noise_like",
        "rengo.privacy.noise.noised_mean",
        "rengo.rewards.payouts.Payout",
        "rengo.rewards.sybil.SybilReport",
        "rengo.showcase.credit_contribution.CreditContribution",
        "rengo.showcase.credit_default.CreditConsortium",
        "rengo.showcase.transfer_story.TransferStory",
        "rengo.showcase.transfer_story.plot_transfer_story",
        "rengo.tournament.rounds.EraScore",
        "rengo.tournament.rounds.LeaderboardEntry",
        "rengo.tournament.rounds.ParticipantRoundScore",
        "rengo.tournament.rounds.PayoutRule",
        "rengo.tournament.rounds.PublishedRound",
        "rengo.tournament.rounds.RoundResult",
        "rengo.tournament.scoring.signed_power",
        "rengo.tournament.simulation.SimulatedParticipant",
        "rengo.tournament.simulation.SimulatedTournament",
        "rengo.tracking.client_spread.ClientMetricSummary",
        "rengo.tracking.client_spread.MetricSpread",
        "rengo.tracking.client_spread.client_metric_spread",
        "rengo.tracking.contrib_records.record_contributions",
        "rengo.tracking.contrib_records.run_contributions",
        "rengo.tracking.mirrors.base.flat_params",
        "rengo.tracking.mirrors.base.mirror_run",
        "rengo.tracking.mirrors.base.round_scalars",
        "rengo.tracking.mirrors.make_mirror",
        "rengo.tracking.mirrors.tensorboard_mirror.run_folder_name",
        "rengo.tracking.model_export.StoredSecureBoost",
        "rengo.tracking.model_export.VerticalParts",
        "rengo.tracking.plots.metric_family",
        "rengo.tracking.records.ClientStats",
        "rengo.tracking.records.ContributionRecord",
        "rengo.tracking.records.EventRecord",
        "rengo.tracking.records.LedgerEntry",
        "rengo.tracking.records.LedgerLine",
        "rengo.tracking.records.PartyPresence",
        "rengo.tracking.records.RoundRecord",
        "rengo.tracking.records.RunInfo",
        "rengo.tracking.run.Run",
        "rengo.tracking.run.open_run",
        "rengo.tracking.store.RunStore.append_ledger",
        "rengo.tracking.store.RunStore.checkpoint_rounds",
        "rengo.tracking.store.RunStore.client_metric_peaks",
        "rengo.tracking.store.RunStore.client_records",
        "rengo.tracking.store.RunStore.client_stats",
        "rengo.tracking.store.RunStore.client_summary_rounds",
        "rengo.tracking.store.RunStore.contributions",
        "rengo.tracking.store.RunStore.data_version",
        "rengo.tracking.store.RunStore.delete_checkpoints",
        "rengo.tracking.store.RunStore.event_count",
        "rengo.tracking.store.RunStore.events",
        "rengo.tracking.store.RunStore.heartbeat",
        "rengo.tracking.store.RunStore.latest_checkpoint",
        "rengo.tracking.store.RunStore.ledger",
        "rengo.tracking.store.RunStore.load_checkpoint",
        "rengo.tracking.store.RunStore.log_client",
        "rengo.tracking.store.RunStore.log_clients",
        "rengo.tracking.store.RunStore.log_contribution",
        "rengo.tracking.store.RunStore.log_event",
        "rengo.tracking.store.RunStore.metric_keys",
        "rengo.tracking.store.RunStore.metric_tail",
        "rengo.tracking.store.RunStore.presence",
        "rengo.tracking.store.RunStore.record_presence",
        "rengo.tracking.store.RunStore.resume",
        "rengo.tracking.store.RunStore.resume_run",
        "rengo.tracking.store.RunStore.round_metrics",
        "rengo.tracking.store.RunStore.round_span",
        "rengo.tracking.store.RunStore.rounds",
        "rengo.tracking.store.RunStore.running_run_ids",
        "rengo.tracking.store.RunStore.save_checkpoint",
        "rengo.tracking.tables.runs_table",
        "rengo.transport.channel.LocalBus",
        "rengo.transport.channel.LocalChannel",
        "rengo.transport.channel.TranscriptEntry",
        "rengo.transport.channel.run_roles",
        "rengo.transport.executors.Executor",
        "rengo.transport.executors.executor_names",
        "rengo.transport.executors.executors",
        "rengo.transport.executors.make_executor",
        "rengo.transport.executors.register_executor",
        "rengo.transport.grpc_hub.HubParty",
        "rengo.transport.grpc_party.Backoff",
        "rengo.transport.grpc_party.GrpcChannel",
        "rengo.transport.grpc_party.PartyConnection",
        "rengo.transport.grpc_security.HubSecurity",
        "rengo.transport.grpc_security.PartyCredentials",
        "rengo.transport.pool.Reply",
        "rengo.transport.pool.Request",
        "rengo.transport.simulation.ProcessPool",
        "rengo.transport.simulation.SerialPool",
        "rengo.ui.access.Listen",
        "rengo.ui.access.TlsFiles",
        "rengo.ui.access.check_exposure",
        "rengo.ui.access.is_loopback",
        "rengo.ui.access.new_token",
        "rengo.ui.access.parse_listen",
        "rengo.ui.server.DashboardServer",
        "rengo.valuation.gtg.GTGConfig",
        "rengo.valuation.reconstruction.RoundUpdates",
        "rengo.valuation.reconstruction.coalition_round_model",
        "rengo.valuation.reconstruction.coalition_whole_run_model",
        "rengo.valuation.reconstruction.players_of",
        "rengo.valuation.shapley.CountingValue",
        "rengo.valuation.shapley.ShapleyResult",
        "rengo.valuation.stopping.AbsoluteStandardError",
        "rengo.valuation.stopping.ConvergenceRule",
        "rengo.valuation.stopping.HistoryDeviation",
        "rengo.valuation.stopping.MaxEvaluations",
        "rengo.valuation.stopping.MaxSamples",
        "rengo.valuation.stopping.MaxTime",
        "rengo.valuation.stopping.MaxUpdates",
        "rengo.valuation.stopping.MinUpdates",
        "rengo.valuation.stopping.RelativeStandardError",
        "rengo.valuation.tracker.ContributionReport",
        "rengo.valuation.tracker.RoundContribution",
        "rengo.valuation.vertical.VerticalContribution",
        "rengo.vfl.checkpoints.EpochCheckpoints",
        "rengo.vfl.checkpoints.EpochState",
        "rengo.vfl.common.HeldOutRule",
        "rengo.vfl.common.PartyData",
        "rengo.vfl.common.VerticalDataset",
        "rengo.vfl.common.align_rows",
        "rengo.vfl.common.as_vertical_dataset",
        "rengo.vfl.common.batch_order",
        "rengo.vfl.hetero_contribution.CoalitionScore",
        "rengo.vfl.hetero_contribution.CoalitionValue",
        "rengo.vfl.hetero_lr.local.guest_alone_scores",
        "rengo.vfl.hetero_lr.predict.hetero_lr_predict_host",
        "rengo.vfl.hetero_lr.roles.CoordinatorReport",
        "rengo.vfl.hetero_lr.roles.GuestModel",
        "rengo.vfl.hetero_lr.roles.HostModel",
        "rengo.vfl.party_model_file.write_document",
        "rengo.vfl.progress.progress_display",
        "rengo.vfl.psi.csv_align.align_csv",
        "rengo.vfl.psi.ids.normalise_ids",
        "rengo.vfl.psi.protocol.PSIAlignment",
        "rengo.vfl.psi.protocol.PSIResult",
        "rengo.vfl.psi.protocol.private_set_intersection",
        "rengo.vfl.psi.protocol.psi_follower",
        "rengo.vfl.psi.protocol.psi_leader",
        "rengo.vfl.psi.protocol.require_nonempty",
        "rengo.vfl.registry.AlignedData",
        "rengo.vfl.registry.KeySpec",
        "rengo.vfl.registry.Models",
        "rengo.vfl.registry.RoleContext",
        "rengo.vfl.registry.RoleState",
        "rengo.vfl.registry.Roles",
        "rengo.vfl.registry.algorithms",
        "rengo.vfl.registry.get_algorithm",
        "rengo.vfl.registry.register",
        "rengo.vfl.registry.unregister",
        "rengo.vfl.runner.SimulatedRun",
        "rengo.vfl.runner.VerticalCoordinatorOutcome",
        "rengo.vfl.runner.VerticalPartyResult",
        "rengo.vfl.runner.receive_plan",
        "rengo.vfl.secureboost.binning.FeatureBins",
        "rengo.vfl.secureboost.encoding.GradientLayout",
        "rengo.vfl.secureboost.encoding.quantize",
        "rengo.vfl.secureboost.model.FeatureImportance",
        "rengo.vfl.secureboost.model.HostSplit",
        "rengo.vfl.secureboost.model.SecureBoostGuestModel",
        "rengo.vfl.secureboost.model.SecureBoostHostModel",
        "rengo.vfl.secureboost.model.SecureBoostReport",
        "rengo.vfl.secureboost.model.TreeNode",
        "rengo.vfl.secureboost.model_file.StoredPartyModel",
        "rengo.vfl.secureboost.predict.predict_local",
        "rengo.vfl.splitnn.central.CentralSplitNN",
        "rengo.vfl.splitnn.predict.splitnn_predict_feature_party",
        "rengo.vfl.splitnn.roles.EpochRecord",
        "rengo.vfl.splitnn.roles.SplitNNFeatureModel",
        "rengo.vfl.splitnn.roles.SplitNNLabelModel",
    }
)

_HEADER = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.MULTILINE)


def _sections(doc: str) -> dict[str, str]:
    """The numpydoc sections of ``doc`` by title (``"Parameters"``: its body)."""
    heads = list(_HEADER.finditer(doc))
    ends = [head.start() for head in heads[1:]] + [len(doc)] if heads else []
    return {
        head.group(1).strip(): doc[head.end() : end] for head, end in zip(heads, ends, strict=True)
    }


def _documented_names(body: str) -> set[str]:
    """The names a ``Parameters`` body documents: its unindented lines (``a, b : int``)."""
    names: set[str] = set()
    for line in body.splitlines():
        if line and not line[0].isspace():
            head = line.split(" : ")[0].rstrip(":")  # "name:" is how a few docstrings say it
            names.update(n.strip().lstrip("*") for n in head.split(","))
            if line.startswith("**"):
                names.add("**")
            elif line.startswith("*"):
                names.add("*")
    return names


def _named(docs: list[str], titles: tuple[str, ...]) -> set[str]:
    """The names that the sections titled one of ``titles`` in ``docs`` document."""
    documented: set[str] = set()
    for doc in docs:
        sections = _sections(doc)
        for title in titles:
            documented |= _documented_names(sections.get(title, ""))
    return documented


def _missing(
    signature: inspect.Signature, docs: list[str], titles: tuple[str, ...] = ("Parameters",)
) -> list[str]:
    """The parameters of ``signature`` that no section titled one of ``titles`` in ``docs``
    names."""
    documented = _named(docs, titles)
    missing = []
    for name, param in signature.parameters.items():
        if name in ("self", "cls") or name in documented:
            continue
        if param.kind is param.VAR_KEYWORD and "**" in documented:
            continue
        if param.kind is param.VAR_POSITIONAL and "*" in documented:
            continue
        missing.append(name)
    return missing


def _function_gaps(function: Callable[..., Any]) -> list[str]:
    doc = inspect.getdoc(function) or ""
    gaps = [f"parameter {name!r}" for name in _missing(inspect.signature(function), [doc])]
    returns = inspect.signature(function).return_annotation
    sections = _sections(doc)
    if returns not in (None, "None", inspect.Signature.empty) and not (
        "Returns" in sections or "Yields" in sections
    ):
        gaps.append("Returns section")
    return gaps


def _is_option_dataclass(cls: type) -> bool:
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return all("help" in f.metadata for f in fields if f.init)


def _exempt(cls: type) -> bool:
    return (
        (dataclasses.is_dataclass(cls) and _is_option_dataclass(cls))
        or issubclass(cls, (enum.Enum, BaseException))
        or Protocol in getattr(cls, "__mro__", ())
        or bool(getattr(cls, "_is_protocol", False))
    )


def _class_gaps(cls: type) -> list[str]:
    """The constructor parameters that neither the class nor a rengo base class documents
    (a subclass need not repeat what its base's docstring says of the fields it inherits);
    a dataclass may document its fields under ``Attributes``."""
    if getattr(cls, "__init__", object.__init__) is object.__init__:
        return []
    docs = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("rengo"):
            continue
        docs.append(inspect.cleandoc(klass.__dict__.get("__doc__") or ""))
        init = klass.__dict__.get("__init__")
        if inspect.isfunction(init) and init.__doc__:
            docs.append(inspect.cleandoc(init.__doc__))
    titles = ("Parameters", "Attributes") if dataclasses.is_dataclass(cls) else ("Parameters",)
    missing = _missing(inspect.signature(cls), docs, titles)
    config = getattr(getattr(cls, "spec", None), "config_type", None)
    if config is not None and _is_option_dataclass(config) and "**" in _named(docs, titles):
        # an estimator's options are its config's fields, each with a help text
        options = {f.name for f in dataclasses.fields(config)}
        missing = [name for name in missing if name not in options]
    return [f"parameter {name!r}" for name in missing]


def _public_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        if not getattr(member, "__module__", "").startswith("rengo"):
            continue
        yield name, member


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


@functools.cache
def entry_points() -> dict[str, list[str]]:
    """Every checked entry point by qualified name, with its gaps (empty: documented)."""
    checked: dict[str, list[str]] = {}
    method_owners: list[type] = []
    for area in AREAS:
        module = importlib.import_module(area)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                checked.setdefault(_qualified(obj), _function_gaps(obj))
            elif inspect.isclass(obj) and obj.__module__.startswith("rengo"):
                if area in ESTIMATOR_AREAS and hasattr(obj, "fit"):
                    method_owners.append(obj)
                if _qualified(obj) in README_OBJECTS or f"{area}.{name}" in README_OBJECTS:
                    method_owners.append(obj)
                if not _exempt(obj):
                    checked.setdefault(_qualified(obj), _class_gaps(obj))
    for owner in method_owners:
        for _, method in _public_methods(owner):
            checked.setdefault(_qualified(method), _function_gaps(method))
    return checked


def test_every_public_entry_point_documents_its_parameters_and_result():
    gaps = {
        name: found for name, found in entry_points().items() if found and name not in TO_DOCUMENT
    }
    assert not gaps, "public entry points with undocumented parts:\n" + "\n".join(
        f"{name}: {', '.join(found)}" for name, found in sorted(gaps.items())
    )


def test_the_to_document_list_only_shrinks():
    checked = entry_points()
    gone = sorted(name for name in TO_DOCUMENT if name not in checked)
    done = sorted(name for name in TO_DOCUMENT if name in checked and not checked[name])
    assert not gone, f"TO_DOCUMENT names entry points that no longer exist: {gone}"
    assert not done, f"now documented: remove from TO_DOCUMENT: {done}"


def test_the_section_reader_finds_names_and_misses_gaps():
    def documented(a: int, b: int, *rest: int, **options: int) -> int:
        """Sum.

        Parameters
        ----------
        a, b : int
            Terms.
        **options
            Ignored.

        Returns
        -------
        int
            The sum.
        """
        return a + b

    def undocumented(a: int, c: int) -> int:
        """Sum.

        Parameters
        ----------
        a
            A term.
        """
        return a + c

    assert _function_gaps(documented) == ["parameter 'rest'"]
    assert _function_gaps(undocumented) == ["parameter 'c'", "Returns section"]
