"""The global model travels compressed under secure aggregation (``SecAggPlus(model=...)``,
``[compression] model`` with ``[privacy] secagg = true``): each client trains from and masks
its update against the model it decoded, ``Q(w)``, and the coordinator adds the unmasked sum
to its exact ``w``, so the global model moves by the clients' progress, never by the
rounding."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError, ProtocolError
from rengo.core.messages import Config, EvaluateResult, FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import FedAvg, SecAggMod, SecAggPlus, UpdateCompression, simulate
from rengo.hfl.client import Client
from rengo.hfl.compressed_exchange import compression_settings
from rengo.hfl.model_compression import compressed_model, model_codec_config, model_rng
from rengo.hfl.mods.chain import MODS_KEY, ClientCall, mods_config_value
from rengo.hfl.secagg.protocol import ADVERTISE, DELIVER, MASKED_INPUT, SHARE_KEYS
from rengo.jobs import build_hfl_job, parse_job

SHAPES = [(4, 3), (3,)]
START = [np.random.default_rng(0).normal(size=s) for s in SHAPES]
N = 4
received: dict[tuple[str, int, str], Parameters] = {}


class Steps(Client):
    """Trains by a fixed step from whatever model it received, and notes what it received."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        server_round = int(config["server_round"])  # type: ignore[arg-type]
        received[(self.cid, server_round, "fit")] = [np.array(p) for p in parameters]
        rng = np.random.default_rng([int(self.cid), server_round])
        step = [rng.normal(scale=0.01, size=p.shape) for p in parameters]
        return FitResult([p + s for p, s in zip(parameters, step, strict=True)], 10, {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        server_round = int(config["server_round"])  # type: ignore[arg-type]
        received[(self.cid, server_round, "evaluate")] = [np.array(p) for p in parameters]
        return EvaluateResult(0.0, 1, {})


def _run(workflow: SecAggPlus, rounds: int = 3, fraction_evaluate: float = 0.0) -> Parameters:
    received.clear()
    history = simulate(
        Steps, N, FedAvg(fraction_evaluate=fraction_evaluate), START, rounds, seed=2,
        workflow=workflow,
    )  # fmt: skip
    assert not any(r.failures for r in history.rounds)
    return history.parameters


@pytest.mark.parametrize("codec", ["float16", "int8"])
def test_under_secagg_the_clients_train_from_q_w_and_the_model_moves_only_by_their_progress(
    codec: str,
) -> None:
    """The clients received ``Q(w)`` (exactly what the coordinator's codec makes), yet the
    global model after 3 rounds equals the run with the model sent exact, to far below the
    codec's rounding: the sum was re-based on the exact ``w``."""
    plain = _run(SecAggPlus(quantisation_bits=24))
    compressed = _run(SecAggPlus(quantisation_bits=24, model=codec))
    _, q = compressed_model(START, UpdateCompression(model=codec), model_rng(2, 1, "fit"))
    for cid in map(str, range(N)):
        for got, expected in zip(received[(cid, 1, "fit")], q, strict=True):
            np.testing.assert_array_equal(got, expected)
    rounding = max(float(np.max(np.abs(a - b))) for a, b in zip(q, START, strict=True))
    assert rounding > 1e-4
    for a, b in zip(plain, compressed, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)


def test_under_secagg_the_clients_evaluate_the_compressed_new_model() -> None:
    model = _run(SecAggPlus(model="int8"), rounds=1, fraction_evaluate=1.0)
    _, q = compressed_model(model, UpdateCompression(model="int8"), model_rng(2, 1, "evaluate"))
    for cid in map(str, range(N)):
        for got, expected in zip(received[(cid, 1, "evaluate")], q, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_the_run_records_the_model_codec_and_the_clients_are_asked_to_decode_it() -> None:
    assert compression_settings(SecAggPlus(model="int8"))["compression"]["model"] == "int8"
    assert compression_settings(SecAggPlus()) == {}
    assert SecAggPlus(model="float16").client_mods() == ("decompress_model", "secagg")
    assert SecAggPlus().client_mods() == ("secagg",)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (UpdateCompression("int8", model="float16"), "update compression .* cannot run under"),
        ("topk", "model"),
    ],
)
def test_an_update_codec_or_an_unknown_model_codec_is_refused(model: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SecAggPlus(model=model)


def test_an_initial_model_beyond_float16s_range_is_refused_before_the_run() -> None:
    with pytest.raises(ConfigError, match=r"initial model cannot be sent.*int8"):
        simulate(Steps, N, FedAvg(), [np.full(3, 1e6)], 1, workflow=SecAggPlus(model="float16"))


JOB = {
    "data": {"dataset": "iris"},
    "partition": {"num_clients": 4},
    "model": {"type": "logistic"},
    "privacy": {"secagg": True},
}


def test_a_secagg_job_sends_the_model_compressed_and_refuses_an_update_codec() -> None:
    spec = parse_job({**JOB, "compression": {"model": "int8", "chunk": 8}})
    job = build_hfl_job(spec)
    assert isinstance(job.workflow, SecAggPlus)
    assert job.workflow.model == UpdateCompression(model="int8", chunk=8)
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 2,
        workflow=job.workflow,
    )  # fmt: skip
    assert not any(r.failures for r in history.rounds)
    with pytest.raises(ConfigError, match=r"compression\.update = 'float16' with privacy\.secagg"):
        parse_job({**JOB, "compression": {"update": "float16", "model": "float16"}})


def _masked_input_message(requested: tuple[str, ...]) -> dict[str, Any]:
    """A masked-input message whose fit carries an int8 model and requests ``requested``."""
    parts, _ = compressed_model(START, UpdateCompression(model="int8"), model_rng(0, 1, "fit"))
    config: Config = dict(model_codec_config(UpdateCompression(model="int8"), START))
    if requested:
        config[MODS_KEY] = mods_config_value(requested)
    return {
        "round": 1, "fit": FitIns(parts, config), "ring_bits": 32, "mode": "examples",
        "clip_range": 1.0, "quantisation_bits": 16, "max_examples": 10,
    }  # fmt: skip


def _client_a_ready_for_its_input() -> dict[str, Any]:
    """Client a of a, b, c run by hand through share delivery; its state."""
    ids, mod = ["a", "b", "c"], SecAggMod()
    states: dict[str, dict[str, Any]] = {u: {} for u in ids}
    points = {u: i + 1 for i, u in enumerate(ids)}
    public = {
        u: mod(
            ClientCall(u, ADVERTISE, {"round": 1, "threshold": 2, "points": points,
                                      "neighbours": [v for v in ids if v != u]}, states[u]),
            _no_client,
        )
        for u in ids
    }  # fmt: skip
    shared = {
        u: mod(
            ClientCall(u, SHARE_KEYS, {"round": 1, "keys": {v: public[v] for v in ids if v != u}},
                       states[u]),
            _no_client,
        )
        for u in ids
    }  # fmt: skip
    delivery = {
        "round": 1,
        "sealed": {v: shared[v]["sealed"]["a"] for v in ("b", "c")},
        "digests": {v: shared[v]["digests"]["a"] for v in ("b", "c")},
    }
    mod(ClientCall("a", DELIVER, delivery, states["a"]), _no_client)
    return states["a"]


def _no_client(call: ClientCall) -> Any:
    raise AssertionError(f"stage {call.key} reached the client")


def _train(call: ClientCall) -> FitResult:
    assert all(np.asarray(p).dtype == np.float64 for p in call.message.parameters)
    return FitResult([np.asarray(p) + 0.01 for p in call.message.parameters], 2, {})


def test_the_masked_input_is_taken_against_the_decoded_model() -> None:
    """The same client state and training: the masked input of an int8 model equals the
    masked input of its decoded arrays sent as they are."""
    state = _client_a_ready_for_its_input()
    twin = copy.deepcopy(state)
    message = _masked_input_message(requested=("decompress_model", "secagg"))
    _, decoded = compressed_model(START, UpdateCompression(model="int8"), model_rng(0, 1, "fit"))
    plain = {**message, "fit": FitIns(decoded, {MODS_KEY: mods_config_value(("secagg",))})}
    got = SecAggMod()(ClientCall("a", MASKED_INPUT, message, state), _train)["masked"]
    want = SecAggMod()(ClientCall("a", MASKED_INPUT, plain, twin), _train)["masked"]
    np.testing.assert_array_equal(got, want)


def test_a_compressed_model_that_does_not_decode_is_refused_before_training() -> None:
    message = _masked_input_message(requested=("decompress_model", "secagg"))
    message["fit"].parameters[1] = -np.abs(message["fit"].parameters[1])  # negative scales
    with pytest.raises(ProtocolError, match="int8 model from the coordinator does not decode"):
        SecAggMod()(
            ClientCall("a", MASKED_INPUT, message, _client_a_ready_for_its_input()), _no_client
        )


@pytest.mark.parametrize("name", ["fedper", "ditto", "fedrep"])
def test_personalised_strategies_take_the_update_against_the_decoded_global_model(
    name: str,
) -> None:
    """Their mods put the client's personal arrays in the model on its way to training
    (and Ditto and FedRep train twice): the update is still against Q(w), so the global
    model ends as the run's with the model sent exact, to far below the codec's rounding
    (FedPer's personal array stays where it started, to the ring's rounding)."""
    from rengo.hfl import Ditto, FedPer, FedRep

    strategies = {
        "fedper": lambda: FedPer(fraction_evaluate=0.0, personal_arrays="-1"),
        "ditto": lambda: Ditto(fraction_evaluate=0.0),
        "fedrep": lambda: FedRep(fraction_evaluate=0.0, personal_arrays="-1"),
    }
    ends = []
    for model in ("none", "int8"):
        history = simulate(
            Steps, N, strategies[name](), START, 3, seed=2,
            workflow=SecAggPlus(quantisation_bits=24, model=model),
        )  # fmt: skip
        assert not any(r.failures for r in history.rounds), history.rounds[0].failures
        ends.append(history.parameters)
    for a, b in zip(*ends, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    if name == "fedper":
        np.testing.assert_allclose(ends[1][1], START[1], rtol=0, atol=1e-6)


def test_a_signed_secagg_job_simulated_keeps_sending_the_model_compressed() -> None:
    spec = parse_job({**JOB, "privacy": {"secagg": True, "secagg_signed": True},
                      "compression": {"model": "int8"}})  # fmt: skip
    _, workflow = build_hfl_job(spec).for_simulation()
    assert isinstance(workflow, SecAggPlus) and workflow.ca is not None
    assert workflow.model.model == "int8"
    assert compression_settings(workflow)["compression"]["model"] == "int8"
