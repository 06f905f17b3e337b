"""Model compression (``[compression] model``): the global model travels to the clients as
``Q(w)``, the coordinator keeps the exact ``w`` and re-bases every reply on it, so the
aggregate is FedAvg of ``w + (m_k - Q(w))`` and the rounding never accumulates in ``w``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from test_update_compression import digits_client

from rengo.core.codec import decode, encode
from rengo.core.errors import ConfigError, ProtocolError, RoundFailure
from rengo.core.messages import Config, EvaluateIns, EvaluateResult, FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import (
    CompressedUpdates,
    Coordinator,
    FedAvg,
    QFedAvg,
    UpdateCompression,
    simulate,
    softmax_init,
)
from rengo.hfl.client import Client, client_handler
from rengo.hfl.model_compression import (
    compressed_model,
    decode_model,
    encode_model,
    model_codec_config,
    model_rng,
    rebase,
)
from rengo.transport.simulation import SerialPool

SHAPES = [(4, 3), (3,)]
values = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=32)


def model_of(draw: Any, dtype: Any = np.float64) -> Parameters:
    return [draw(arrays(dtype, shape, elements=values)) for shape in SHAPES]


@settings(max_examples=50, deadline=None)
@given(data=st.data(), codec=st.sampled_from(["float16", "int8"]))
def test_the_decoded_model_is_within_the_codecs_precision_in_the_models_dtypes(
    data: st.DataObject, codec: str
) -> None:
    w = [*model_of(data.draw, np.float32), np.arange(3, dtype=np.int64)]
    parts = encode_model(w, codec, 5, np.random.default_rng(0))
    received = decode_model(parts, codec, 5, [a.dtype for a in w])
    assert [(a.dtype, a.shape) for a in received] == [(a.dtype, a.shape) for a in w]
    np.testing.assert_array_equal(received[2], w[2])  # not floating point: sent as it is
    for a, q in zip(w[:2], received[:2], strict=True):
        if codec == "float16":
            np.testing.assert_allclose(q, a, rtol=2**-11, atol=6.1e-5)
        else:  # stochastic rounding lands on one of the two levels around the value
            np.testing.assert_array_less(np.abs(q - a), np.max(np.abs(a)) / 127 + 1e-4)


class Fixed(Client):
    """Returns its fixed model whatever it receives: any reply a client can send."""

    def __init__(self, model: Parameters, count: int) -> None:
        super().__init__()
        self.model, self.count = model, count

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([np.array(m) for m in self.model], self.count, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1, {})


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    codec=st.sampled_from(["float16", "int8"]),
    counts=st.lists(st.integers(1, 50), min_size=1, max_size=4),
)
def test_the_aggregate_is_fedavg_of_every_reply_rebased_on_the_exact_model(
    data: st.DataObject, codec: str, counts: list[int]
) -> None:
    w = model_of(data.draw)
    replies = {str(k): (model_of(data.draw), n) for k, n in enumerate(counts)}
    pool = SerialPool(client_handler(lambda cid: Fixed(*replies[cid])), list(replies))
    workflow = CompressedUpdates("none", model=codec, chunk=5)
    strategy = FedAvg(min_fit_clients=1, min_available_clients=1, fraction_evaluate=0.0)
    coordinator = Coordinator(strategy, pool, w, seed=3, workflow=workflow)
    coordinator.run(1)
    _, q = compressed_model(w, workflow.settings, model_rng(3, 1, "fit"))
    total = sum(counts)
    for i in range(len(SHAPES)):
        expected = sum(n * (w[i] + m[i] - q[i]) for m, n in replies.values()) / total
        np.testing.assert_allclose(coordinator.parameters[i], expected, rtol=1e-12, atol=1e-12)


class Steps(Client):
    """Trains by a fixed step from whatever model it received."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        rng = np.random.default_rng([int(self.cid), int(config["server_round"])])  # type: ignore[arg-type]
        step = [rng.normal(scale=0.01, size=p.shape) for p in parameters]
        return FitResult([p + s for p, s in zip(parameters, step, strict=True)], 10, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1, {})


def test_the_global_model_moves_only_by_the_clients_progress_never_by_the_rounding() -> None:
    """Clients whose training is a step from what they received: with a float16 model
    (error about 5e-4 here) the global model after 5 rounds equals the uncompressed run's to
    float64 precision, because each reply is re-based on the exact model."""
    start = [np.random.default_rng(0).normal(size=s) for s in SHAPES]
    ends = []
    for workflow in (None, CompressedUpdates("none", model="float16")):
        history = simulate(
            Steps, 3, FedAvg(fraction_evaluate=0.0), start, 5, seed=2, workflow=workflow
        )
        ends.append(history.parameters)
    _, received = compressed_model(
        start, UpdateCompression(model="float16"), model_rng(2, 1, "fit")
    )
    assert max(float(np.max(np.abs(r - s))) for r, s in zip(received, start, strict=True)) > 1e-4
    for plain, compressed in zip(*ends, strict=True):
        np.testing.assert_allclose(compressed, plain, rtol=0, atol=1e-12)


def test_with_compressed_updates_too_the_update_is_taken_against_what_the_client_received() -> None:
    """Both ways compressed (float16 each way): the decoded update is relative to Q(w), so
    decoding it on the exact w re-bases it; the end model equals the uncompressed run's up to
    the update's own float16 rounding (1e-2 steps: about 1e-5), far below Q(w)'s 5e-4."""
    start = [np.random.default_rng(0).normal(size=s) for s in SHAPES]
    both = CompressedUpdates("float16", model="float16")
    ends = [
        simulate(Steps, 3, FedAvg(fraction_evaluate=0.0), start, 3, seed=2, workflow=wf).parameters
        for wf in (None, both)
    ]
    for plain, compressed in zip(*ends, strict=True):
        np.testing.assert_allclose(compressed, plain, rtol=0, atol=3e-5)


def test_rebasing_moves_only_the_models_arrays_of_the_models_shapes() -> None:
    """SCAFFOLD's control-variate change (past the model's arrays) is not a model and stays
    as sent; an array of another shape stays too, for the result checks to name."""
    w = [np.ones(3), np.ones(2)]
    q = [np.full(3, 0.5), np.full(2, 0.5)]
    control = np.arange(3.0)
    moved = rebase([np.full(3, 2.0), np.ones(4), control], w, q)
    np.testing.assert_array_equal(moved[0], np.full(3, 2.5))
    np.testing.assert_array_equal(moved[1], np.ones(4))
    np.testing.assert_array_equal(moved[2], control)


@pytest.mark.filterwarnings("ignore:CentralDP.*seeded_noise:UserWarning")
@pytest.mark.parametrize("strategy", ["scaffold", "central dp"])
def test_scaffold_and_central_dp_run_on_a_compressed_model_close_to_the_uncompressed_run(
    strategy: str,
) -> None:
    from rengo.hfl import DifferentialPrivacy, Scaffold
    from rengo.privacy import CentralDP

    def make() -> Any:
        if strategy == "scaffold":
            return Scaffold(fraction_evaluate=0.0)
        dp = CentralDP(noise_multiplier=1e-9, clip_norm=1.0, seeded_noise=True)
        return DifferentialPrivacy(FedAvg(fraction_evaluate=0.0), dp)

    ends = []
    for workflow in (None, CompressedUpdates("none", model="float16")):
        history = simulate(
            digits_client, 4, make(), softmax_init(64, 10), 3, seed=1, workflow=workflow
        )
        assert not any(r.failures for r in history.rounds)
        ends.append(history.parameters)
    for plain, compressed in zip(*ends, strict=True):
        # without the re-basing the gap is ~1e-4 (the clients' float16 rounding kept in w)
        np.testing.assert_allclose(compressed, plain, atol=3e-5)


# -- what a client refuses -------------------------------------------------------------------
MODEL = [np.ones((2, 3), np.float32), np.ones(3, np.float32)]


def received_by_client(parts: Parameters, config: Config, key: str = "fit") -> Any:
    seen: list[Parameters] = []

    class Recording(Steps):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            seen.append(parameters)
            return super().fit(parameters, config)

        def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
            seen.append(parameters)
            return EvaluateResult(0.0, 1, {})

    message = (FitIns if key == "fit" else EvaluateIns)(parts, config)
    handler = client_handler(Recording)
    handler("1", key, encode(message), None)
    return seen[0]


def compressed_message(codec: str) -> tuple[Parameters, Config]:
    settings_ = UpdateCompression(model=codec, chunk=4)  # type: ignore[arg-type]
    parts, _ = compressed_model(MODEL, settings_, np.random.default_rng(0))
    config: Config = {"server_round": 1, "seed": 1, "client_mods": "decompress_model"}
    return parts, {**config, **model_codec_config(settings_, MODEL)}


@pytest.mark.parametrize("key", ["fit", "evaluate"])
def test_the_client_trains_and_evaluates_the_decoded_model_in_its_dtypes(key: str) -> None:
    parts, config = compressed_message("int8")
    got = received_by_client(parts, config, key)
    assert [(a.dtype, a.shape) for a in got] == [(a.dtype, a.shape) for a in MODEL]
    for a, m in zip(got, MODEL, strict=True):
        np.testing.assert_allclose(a, m, atol=1 / 127)


def broken(codec: str, change: Any) -> tuple[Parameters, Config]:
    parts, config = compressed_message(codec)
    change(parts, config)
    return parts, config


@pytest.mark.parametrize(
    ("codec", "change", "match"),
    [
        ("float16", lambda p, c: c.update(downlink_codec="int4"), "codec 'int4'"),
        ("float16", lambda p, c: p.pop(), "sent 1 parts, the model needs 2"),
        ("float16", lambda p, c: p.__setitem__(0, p[0].astype(np.float32)), "is float32"),
        ("float16", lambda p, c: p[1].__setitem__(0, np.inf), "NaN or Inf"),
        ("int8", lambda p, c: p[1].__setitem__(0, np.nan), "scales contains NaN"),
        ("int8", lambda p, c: p[1].__setitem__(0, -1.0), "negative scale"),
        ("int8", lambda p, c: p[0].__setitem__((0, 0), -128), "outside \\[-127, 127\\]"),
        ("int8", lambda p, c: p.__setitem__(1, p[1][:1]), "scales has shape"),
        ("int8", lambda p, c: c.update(downlink_dtypes="object,float32"), "not a numeric"),
        ("int8", lambda p, c: c.update(downlink_chunk=0), "is not >= 1"),
    ],
)
def test_a_malformed_compressed_model_is_the_clients_error_saying_what_is_wrong(
    codec: str, change: Any, match: str
) -> None:
    parts, config = broken(codec, change)
    with pytest.raises(ProtocolError, match=match):
        received_by_client(parts, config)


def test_a_client_given_a_malformed_model_is_dropped_and_the_round_goes_on() -> None:
    honest = client_handler(Steps)

    def tampering(cid: str, key: str, payload: bytes, state: bytes | None) -> Any:
        message = decode(bytearray(payload))
        if cid == "2":  # its copy of the model arrives with a non-finite scale
            message.parameters[1] = np.full_like(message.parameters[1], np.nan)
            payload = encode(message)
        return honest(cid, key, payload, state)

    model = [np.zeros((3, 2)), np.zeros(2)]
    coordinator = Coordinator(
        FedAvg(min_fit_clients=2, fraction_evaluate=0.0),
        SerialPool(tampering, ["0", "1", "2"]),
        model,
        workflow=CompressedUpdates("none", model="int8"),
    )
    history = coordinator.run(2)
    for record in history.rounds:
        assert sorted(record.failures) == ["2"]
        assert "does not decode" in record.failures["2"], record.failures


# -- what the coordinator refuses ----------------------------------------------------------------
def test_a_model_beyond_float16s_range_fails_the_round_naming_int8() -> None:
    coordinator = Coordinator(
        FedAvg(min_fit_clients=1, min_available_clients=1, fraction_evaluate=0.0),
        SerialPool(client_handler(Steps), ["0"]),
        [np.full(3, 1e5)],
        workflow=CompressedUpdates("none", model="float16"),
    )
    with pytest.raises(RoundFailure, match=r'beyond float16\'s range.*model = "int8"'):
        coordinator.run(1)


class Grows(Client):
    """Adds 40,000 to every value it receives: the model outgrows float16 in round 2."""

    def __init__(self, cid: str) -> None:
        super().__init__()

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([np.asarray(p) + 4e4 for p in parameters], 1, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1, {})


@pytest.mark.parametrize("fraction_evaluate", [0.0, 1.0])
def test_a_round_whose_model_outgrows_float16_fails_and_keeps_the_round_before(
    fraction_evaluate: float,
) -> None:
    """Round 2's model (80,000) cannot travel: round 2 fails, recorded as its own failure,
    before its model is adopted or checkpointed, whether or not the round evaluates."""
    from rengo.tracking import RunStore

    store = RunStore(":memory:")
    run_id = store.start_run("hfl", {}, name="outgrows-float16")
    coordinator = Coordinator(
        FedAvg(min_fit_clients=1, min_available_clients=1, fraction_evaluate=fraction_evaluate),
        SerialPool(client_handler(Grows), ["0"]),
        [np.zeros(3)],
        workflow=CompressedUpdates("none", model="float16"),
        store=store,
        run_id=run_id,
    )
    with pytest.raises(
        RoundFailure, match=r'round 2 failed: .*float16.*model = "int8".*round 1 is kept'
    ):
        coordinator.run(3)
    assert [r.round for r in store.rounds(run_id)] == [1]
    assert store.checkpoint_rounds(run_id) == [1]
    assert next(e.round for e in store.events(run_id, "error")) == 2
    np.testing.assert_array_equal(coordinator.parameters[0], np.full(3, 4e4))


def test_a_compressed_model_without_the_updates_codec_is_refused_naming_both_readings() -> None:
    with pytest.raises(TypeError, match=r'CompressedUpdates\("none", model=\'int8\'\).*both'):
        CompressedUpdates(model="int8")
    assert CompressedUpdates().settings.update == "float16"  # the default stays
    assert CompressedUpdates(model="none").settings.update == "float16"


def test_an_initial_model_beyond_float16s_range_is_refused_before_the_run() -> None:
    with pytest.raises(ConfigError, match=r"initial model cannot be sent.*model = \"int8\""):
        simulate(
            Steps, 2, FedAvg(), [np.full(3, 1e5)], 1,
            workflow=CompressedUpdates("none", model="float16"),
        )  # fmt: skip


def test_a_compressed_model_with_qfedavg_is_refused_before_the_run() -> None:
    with pytest.raises(ConfigError, match="re-bases each client's model"):
        simulate(
            Steps, 2, QFedAvg(), [np.zeros(3)], 1, workflow=CompressedUpdates("none", model="int8")
        )


# -- whole runs (reproducible on every executor: tests/hfl/test_update_compression.py) -------
def test_the_bytes_each_client_receives_drop_and_the_run_records_the_codec() -> None:
    """softmax_init is float64 (650 values, 5,200 bytes): float16 sends a quarter of the
    array bytes, int8 an eighth plus a scale, to train and to evaluate (each message also
    carries about 400 bytes of header and config); the run's record names the codec."""
    from rengo.tracking import RunStore

    store = RunStore(":memory:")
    received: dict[str, dict[str, float]] = {}
    for name, workflow in (
        ("none", None),
        ("float16", CompressedUpdates("none", model="float16")),
        ("int8", CompressedUpdates("none", model="int8")),
    ):
        history = simulate(
            digits_client, 4, FedAvg(fraction_evaluate=1.0), softmax_init(64, 10), 2,
            seed=1, workflow=workflow, store=store,
        )  # fmt: skip
        assert history.run_id is not None
        records = store.client_records(history.run_id)
        assert all(r.status == "ok" for r in records)
        received[name] = {
            phase: float(np.median([r.bytes_sent for r in records if r.phase == phase]))
            for phase in ("fit", "evaluate")
        }
        recorded = store.get_run(history.run_id).config.get("compression")
        assert recorded is None if workflow is None else recorded["model"] == name
    for phase in ("fit", "evaluate"):
        assert received["float16"][phase] < 0.35 * received["none"][phase]
        assert received["int8"][phase] < 0.22 * received["none"][phase]


def test_an_update_only_run_records_no_model_key_so_older_runs_still_resume() -> None:
    from rengo.hfl.compressed_exchange import compression_settings

    assert "model" not in compression_settings(CompressedUpdates("topk"))["compression"]
    assert compression_settings(CompressedUpdates("none", model="int8"))["compression"][
        "model"
    ] == ("int8")
    assert compression_settings(CompressedUpdates("none")) == {}
