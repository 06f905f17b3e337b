"""Client mods: the chain's order, stage routing, state between calls, the strategy-requested
mods, and the two mods beyond FedProx and SCAFFOLD (update clipping, personal layers)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rengo.core.codec import decode, encode
from rengo.core.errors import ProtocolError
from rengo.core.messages import Config, EvaluateIns, EvaluateResult, FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import (
    CallNext,
    Client,
    ClientCall,
    ClipUpdateMod,
    FedAvg,
    LocalLayersMod,
    LogisticRegressionClient,
    client_handler,
    register_mod,
    simulate,
    with_mods,
)
from rengo.hfl.mods import MODS_KEY, clip_update


class EchoClient(Client):
    """Returns the model plus one, and its config as metrics (to see what reached it)."""

    built = 0

    def __init__(self, cid: str = "") -> None:
        super().__init__()
        EchoClient.built += 1

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        self.state["fits"] = int(self.state.get("fits", 0)) + 1
        seen = {k: str(v) for k, v in config.items()}
        return FitResult([p + 1.0 for p in parameters], 1, seen)  # type: ignore[arg-type]

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(float(parameters[0].sum()), 1)


class Tracer:
    """Appends its label to the reply's metrics on the way out."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        reply = call_next(call)
        order = str(reply.metrics.get("order", ""))
        reply.metrics["order"] = f"{order}>{self.label}" if order else self.label
        return reply


@register_mod
class RequestedTracer(Tracer):
    name: ClassVar[str] = "test_requested_tracer"

    def __init__(self) -> None:
        super().__init__("requested")


@register_mod
class StageOwner:
    """Answers its own stage without the client; counts calls in the client's state."""

    name: ClassVar[str] = "test_stage_owner"
    stages: ClassVar[frozenset[str]] = frozenset({"test.ping"})

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        if call.key == "test.ping":
            call.state["pings"] = int(call.state.get("pings", 0)) + 1
            return {"pong": call.message["n"], "pings": call.state["pings"]}
        return call_next(call)


def _fit(handler, config: Config, state: bytes | None = None, cid: str = "a"):
    reply, new_state = handler(cid, "fit", encode(FitIns([np.zeros(2)], config)), state)
    return decode(reply), new_state


def test_requested_mods_wrap_installed_mods_which_wrap_the_client() -> None:
    handler = client_handler(EchoClient, mods=[Tracer("outer"), Tracer("inner")])
    result, _ = _fit(handler, {MODS_KEY: "test_requested_tracer"})
    # Replies travel inside out: the client, the installed mods (listed outermost first),
    # then the mods the coordinator asked for.
    assert result.metrics["order"] == "inner>outer>requested"


def test_the_client_never_sees_the_mods_key() -> None:
    result, _ = _fit(client_handler(EchoClient), {MODS_KEY: "test_requested_tracer", "lr": 0.1})
    assert MODS_KEY not in result.metrics and result.metrics["lr"] == "0.1"


def test_a_stage_goes_to_its_owner_and_builds_no_client() -> None:
    handler = client_handler(EchoClient)
    before = EchoClient.built
    state = None
    for n in (1, 2):
        reply, state = handler("a", "test.ping", encode({"n": n}), state)
        assert decode(reply) == {"pong": n, "pings": n}  # state kept between the calls
    assert EchoClient.built == before
    _, state = _fit(handler, {}, state)
    assert decode(state) == {"pings": 2, "fits": 1}  # mod and client share the client's state


def test_an_unowned_stage_key_is_a_protocol_error_naming_it() -> None:
    with pytest.raises(ProtocolError, match=r"unknown message key 'nobody\.owns'.*no client mod"):
        client_handler(EchoClient)("a", "nobody.owns", encode({}), None)


def test_a_requested_mod_this_client_lacks_is_a_clear_error() -> None:
    with pytest.raises(ProtocolError, match="asks for client mod 'secagg_plus_v9'"):
        _fit(client_handler(EchoClient), {MODS_KEY: "secagg_plus_v9"})


def test_a_mod_name_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_mod
        class Impostor:
            name: ClassVar[str] = "fedprox"

            def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
                return call_next(call)


def test_with_mods_shares_the_clients_state() -> None:
    client = EchoClient("a")
    modded = with_mods(client, [Tracer("t")])
    modded.fit([np.zeros(1)], {})
    modded.fit([np.zeros(1)], {})
    assert client.state == {"fits": 2} and modded.state is client.state


def test_a_client_fn_returning_with_mods_trains_with_the_coordinators_proximal_term(
    client_data,
) -> None:
    """``with_mods`` inside a ``client_fn`` wraps the client the coordinator's FedProx mod
    wraps: its proximal term reaches the training loop (it stopped at the wrapper)."""
    from rengo.hfl import FedProx, softmax_init

    def plain(cid: str) -> Client:
        X, y = client_data[cid]
        return LogisticRegressionClient(X, y, lr=0.1, local_epochs=3, batch_size=None)

    def wrapped(cid: str) -> Client:
        return with_mods(plain(cid), [Tracer("own")], cid)

    ids = sorted(client_data)
    start = softmax_init(4, 3)
    free = simulate(plain, ids, FedAvg(), start, rounds=1).parameters
    expected = simulate(plain, ids, FedProx(proximal_mu=5.0), start, rounds=1).parameters
    got = simulate(wrapped, ids, FedProx(proximal_mu=5.0), start, rounds=1).parameters
    assert any(not np.array_equal(a, b) for a, b in zip(free, expected, strict=True))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


class CountingMod:
    """Counts the fits it saw in the client's persisted state."""

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        call.state["seen"] = int(call.state.get("seen", 0)) + 1
        reply = call_next(call)
        reply.metrics["seen"] = call.state["seen"]
        return reply


def test_mods_inside_with_mods_see_the_state_the_runtime_persisted() -> None:
    """A ``client_fn`` builds a fresh client each call; the state the handler restores must
    reach the mods ``with_mods`` installed (they saw the new client's empty dict)."""
    handler = client_handler(lambda cid: with_mods(EchoClient(cid), [CountingMod()], cid))
    state = None
    for expected in (1, 2, 3):
        result, state = _fit(handler, {}, state)
        assert result.metrics["seen"] == expected
    assert decode(state) == {"seen": 3, "fits": 3}


# -- frozen arrays: the seam FedRep's alternating training needs --------------------------------


class Freeze:
    def __init__(self, *indices: int) -> None:
        self.indices = indices

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        call.local_training.frozen.update(self.indices)
        return call_next(call)


def test_the_numpy_adapter_leaves_frozen_arrays_alone(client_data) -> None:
    X, y = client_data["0"]
    start = [np.ones((4, 3)), np.ones(3)]
    client = LogisticRegressionClient(X, y, lr=0.1, local_epochs=2, batch_size=8)
    free = client.fit(start, {"seed": 1}).parameters
    frozen = with_mods(client, [Freeze(1)]).fit(start, {"seed": 1}).parameters
    assert frozen[1].tobytes() == start[1].tobytes()
    assert not np.array_equal(frozen[0], start[0]) and not np.array_equal(free[1], start[1])


def test_the_torch_adapter_leaves_frozen_arrays_out_of_the_optimiser() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl.torch_client import TorchClient, get_parameters, make_mlp

    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(32, 4, generator=gen), torch.randint(0, 3, (32,), generator=gen)
    )
    torch.manual_seed(0)
    model = make_mlp(4, 3, hidden=(8,))
    start = get_parameters(model)
    client = TorchClient(model, DataLoader(data, batch_size=8), lr=0.5, local_epochs=2)
    head = [2, 3]  # the last Linear's weight and bias, in state_dict order
    trained = with_mods(client, [Freeze(*head)]).fit(start, {"seed": 0}).parameters
    for i in head:
        assert trained[i].tobytes() == start[i].tobytes()
    assert not np.array_equal(trained[0], start[0])


# -- batch transforms: the seam label-flip and backdoor attack simulators need ------------------


class LabelFlip:
    """An attacker's mod: trains on labels ``C - 1 - y`` (Biggio et al.'s label flipping)."""

    def __init__(self, num_classes: int) -> None:
        self.top = num_classes - 1

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        call.local_training.batch_transforms.append(lambda x, y: (x, self.top - y))
        return call_next(call)


def test_a_mod_can_flip_the_labels_the_numpy_client_trains_on(client_data) -> None:
    X, y = client_data["1"]
    start = [np.zeros((4, 3)), np.zeros(3)]

    def make(labels: np.ndarray) -> LogisticRegressionClient:
        return LogisticRegressionClient(X, labels, lr=0.1, local_epochs=2, batch_size=8)

    attacked = with_mods(make(y), [LabelFlip(3)]).fit(start, {"seed": 2}).parameters
    flipped = make(2 - y).fit(start, {"seed": 2}).parameters
    honest = make(y).fit(start, {"seed": 2}).parameters
    for a, f in zip(attacked, flipped, strict=True):
        assert a.tobytes() == f.tobytes()
    assert not np.array_equal(attacked[0], honest[0])


def test_a_mod_can_flip_the_labels_the_torch_client_trains_on() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl.torch_client import TorchClient, get_parameters, make_mlp, set_parameters

    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(32, 4, generator=gen), torch.randint(0, 3, (32,), generator=gen)
    torch.manual_seed(0)
    model = make_mlp(4, 3, hidden=(8,))
    start = get_parameters(model)

    def make(labels: Any) -> TorchClient:
        set_parameters(model, start)
        loader = DataLoader(TensorDataset(X, labels), batch_size=8, shuffle=True)
        return TorchClient(model, loader, lr=0.3)

    attacked = with_mods(make(y), [LabelFlip(3)]).fit(start, {"seed": 5}).parameters
    flipped = make(2 - y).fit(start, {"seed": 5}).parameters
    for a, f in zip(attacked, flipped, strict=True):
        assert a.tobytes() == f.tobytes()


# -- update clipping (DP-FedAvg's client half) ----------------------------------------------------

finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(
    model=arrays(np.float64, st.integers(1, 12), elements=finite),
    reference=arrays(np.float64, st.integers(1, 12), elements=finite),
    bound=st.floats(1e-3, 1e3),
)
def test_clipping_bounds_every_update_and_keeps_its_direction(model, reference, bound) -> None:
    n = min(model.size, reference.size)
    model, reference = model[:n], reference[:n]
    (clipped,), norm = clip_update([model], [reference], bound)
    delta, new_delta = model - reference, clipped - reference
    assert np.linalg.norm(new_delta) <= bound * (1 + 1e-9) + 1e-9
    assert norm == pytest.approx(np.linalg.norm(delta), rel=1e-12, abs=1e-12)
    if norm <= bound:
        assert clipped.tobytes() == model.tobytes()
    else:  # the same direction, scaled down
        np.testing.assert_allclose(new_delta * norm, delta * bound, rtol=1e-9, atol=1e-6 * norm)


class Attacker(Client):
    """Sends the global model plus a huge step (a scaled-update attack)."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 1e3 for p in parameters], 10)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        raise NotImplementedError


class UpdateNorms:
    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_fit_result(self, server_round, global_parameters, client_id, result) -> None:
        delta = [r - g for r, g in zip(result.parameters, global_parameters, strict=True)]
        self.norms.append(float(np.sqrt(sum(np.sum(d * d) for d in delta))))

    def on_round_end(self, server_round, old, new, metrics) -> None:
        pass


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_installed_clipping_bounds_what_the_coordinator_receives(executor: str) -> None:
    norms = UpdateNorms()
    simulate(
        lambda cid: Attacker(), 4, FedAvg(min_fit_clients=4), [np.zeros((3, 2)), np.zeros(2)], 2,
        executor=executor, workers=2, client_mods=[ClipUpdateMod(max_norm=0.5)], observers=[norms],
    )  # fmt: skip
    assert len(norms.norms) == 8
    assert all(n == pytest.approx(0.5, rel=1e-9) for n in norms.norms)


def test_clipping_asked_for_by_name_needs_the_coordinators_bound() -> None:
    handler = client_handler(lambda cid: Attacker())
    result, _ = _fit(handler, {MODS_KEY: "clip_update", "clip_norm": 2.0})
    assert np.linalg.norm(result.parameters[0]) == pytest.approx(2.0)
    with pytest.raises(ProtocolError, match="positive config\\['clip_norm'\\]"):
        _fit(handler, {MODS_KEY: "clip_update"})


# -- personal layers (FedPer / FedBN) ----------------------------------------------------------


class PersonalStep(Client):
    """Adds 1 to the shared weights and k = id + 1 to the bias; evaluates to its bias."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.k = float(int(cid) + 1)

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        w, b = parameters
        return FitResult([w + 1.0, b + self.k], 1)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(float(parameters[1][0]), 1)


class Transcript:
    def __init__(self) -> None:
        self.biases: list[np.ndarray] = []

    def on_fit_result(self, server_round, global_parameters, client_id, result) -> None:
        self.biases.append(result.parameters[1].copy())

    def on_round_end(self, server_round, old, new, metrics) -> None:
        pass


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_personal_layers_never_leave_the_client_yet_serve_it(executor: str) -> None:
    transcript = Transcript()
    history = simulate(
        PersonalStep, 3, FedAvg(min_fit_clients=3, fraction_evaluate=1.0, min_evaluate_clients=3),
        [np.zeros(2), np.zeros(1)], 2, executor=executor, workers=2,
        client_mods=[LocalLayersMod([1])], observers=[transcript],
    )  # fmt: skip
    # The coordinator only ever saw the global bias it sent (zeros), never a personal one...
    assert len(transcript.biases) == 6 and all(not b.any() for b in transcript.biases)
    np.testing.assert_array_equal(history.parameters[1], [0.0])
    np.testing.assert_array_equal(history.parameters[0], [2.0, 2.0])  # shared layers train
    # ...while each client trained and evaluated its own: biases 2k for k = 1, 2, 3.
    assert history.last("eval_loss") == pytest.approx((2 + 4 + 6) / 3)


def test_personal_layer_indices_are_checked() -> None:
    with pytest.raises(ValueError, match="distinct array indices"):
        LocalLayersMod([1, 1])
    handler = client_handler(PersonalStep, mods=[LocalLayersMod([5])])
    with pytest.raises(ValueError, match="out of range"):
        handler("0", "evaluate", encode(EvaluateIns([np.zeros(1)], {})), None)


def test_the_old_scaffold_client_module_warns_and_still_works() -> None:
    from rengo.hfl import scaffold_client
    from rengo.hfl.mods import scaffold

    with pytest.warns(DeprecationWarning, match="moved to rengo.hfl.mods.scaffold"):
        assert scaffold_client.ScaffoldCorrection is scaffold.ScaffoldCorrection
    with pytest.warns(DeprecationWarning):
        assert scaffold_client.STATE_KEY == "scaffold_c_i"


def test_the_fit_a_stage_owner_runs_passes_the_mods_installed_outside_it() -> None:
    """A party's signing secure-aggregation mod is installed after its own mods (rengo
    party's round report, --mod local clipping): the stage went straight to it and the fit
    it ran skipped every mod before it, so those mods never saw the party's training."""
    from rengo.hfl.mods.chain import ClientCall, ModChain

    seen: list[tuple[str, str]] = []

    class Outer:
        def __call__(self, call: Any, call_next: Any) -> Any:
            seen.append(("outer", call.key))
            return call_next(call)

    class Owner:
        stages: ClassVar[frozenset[str]] = frozenset({"test_owner.stage"})

        def __call__(self, call: Any, call_next: Any) -> Any:
            seen.append(("owner", call.key))
            return call_next(call.forward("fit", FitIns([np.zeros(1)], {})))

    chain = ModChain([Outer(), Owner()])
    reply = chain.run(
        ClientCall("c", "test_owner.stage", {}, {}), lambda c: FitResult([np.ones(1)], 3)
    )
    assert isinstance(reply, FitResult) and reply.num_examples == 3
    assert seen == [("owner", "test_owner.stage"), ("outer", "fit")]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_an_installed_mod_stands_in_for_the_requested_one_under_secagg(signed: bool) -> None:
    """FedProx requests ``fedprox``; a party that installs its own FedProxMod must run it once
    and the requested one not at all. Under SecAgg+ the stage owner ran the requested mod and
    then the party's (signed: since the owner's fit passed the mods installed outside it;
    unsigned: always), so each fit trained with two proximal terms (mu 0.5 + 0.5)."""
    from rengo.crypto.signatures import simulated_identities
    from rengo.hfl import FedProx, SecAggMod, SecAggPlus
    from rengo.hfl.mods.fedprox import FedProxMod

    n = 4
    calls: list[str] = []
    seen: list[tuple[int, float]] = []

    class CountedFedProx(FedProxMod):
        def __call__(self, call: Any, call_next: Any) -> Any:
            calls.append(call.client_id)
            return super().__call__(call, call_next)

    class Probe(Client):
        def fit(self, parameters: Any, config: Any) -> FitResult:
            lt = self.local_training
            lt.record_step(0.1)
            seen.append((len(lt.corrections), sum(getattr(c, "mu", 0.0) for c in lt.corrections)))
            return FitResult([p + 0.1 for p in parameters], 10, {})

        def evaluate(self, parameters: Any, config: Any) -> EvaluateResult:
            return EvaluateResult(0.0, 1)

    mods: list[Any] = [CountedFedProx()]
    if signed:
        ca, identities = simulated_identities([str(i) for i in range(n)])
        workflow = SecAggPlus(signed=True, ca=ca)
        mods.append(SecAggMod(identities))
    else:
        workflow = SecAggPlus()
    simulate(
        lambda cid: Probe(),
        n,
        FedProx(proximal_mu=0.5, min_fit_clients=n),
        [np.zeros(3)],
        1,
        seed=0,
        workflow=workflow,
        client_mods=mods,
    )
    assert sorted(calls) == [str(i) for i in range(n)]  # the installed mod, once per client
    assert seen == [(1, 0.5)] * n  # one proximal term, the strategy's mu
