"""The Ray executor reaches the same model as the serial one (one small local run)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.hfl import (
    CompressedUpdates,
    FedAvg,
    LogisticRegressionClient,
    Scaffold,
    SecAggPlus,
    simulate,
    softmax_init,
)

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'rengo[ray]'")


@pytest.fixture(autouse=True)
def _no_ray_cluster_of_the_machine(private_ray_record: Path) -> None:
    """Every test here fakes or starts Ray without the machine's `ray start` record or
    RAY_ADDRESS (see ``private_ray_record``)."""


TWO_CPU_NODE = {"Alive": True, "Resources": {"CPU": 2.0, "memory": 4e9}}
"""One live node of a stood-in cluster (what ``ray.nodes()`` lists)."""


def _client_fn(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    X = rng.normal(size=(40, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return LogisticRegressionClient(X, y, lr=0.3, batch_size=10)


@pytest.mark.timeout(180)
def test_ray_executor_matches_serial_with_client_state_and_compressed_or_secure_rounds(
    start_ray: Callable[..., None],
) -> None:
    """SCAFFOLD keeps per-client control variates and top-k's error feedback a residual (the
    pool must persist client state); the model travels int8 down to the clients, plain and
    under secure aggregation's stage messages: each run ends on the serial run's model."""
    runs: list[tuple[Any, Any]] = [
        (Scaffold(min_fit_clients=2, min_available_clients=2), None),
        (FedAvg(min_fit_clients=3), CompressedUpdates("topk", fraction=0.3, model="int8")),
        (FedAvg(min_fit_clients=4), SecAggPlus(quantisation_bits=20, model="int8")),
    ]

    def run(executor: str, strategy: Any, workflow: Any) -> list[np.ndarray]:
        return simulate(
            _client_fn, 4, strategy, softmax_init(5, 2), 3, seed=3, executor=executor,
            workers=2, workflow=workflow,
        ).parameters  # fmt: skip

    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        got = [run("ray", *settings) for settings in runs]
    finally:
        ray.shutdown()
    for on_ray, settings in zip(got, runs, strict=True):
        for a, b in zip(on_ray, run("serial", *settings), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.timeout(180)
def test_simulated_dropouts_lose_the_same_clients_on_ray_as_serially(
    start_ray: Callable[..., None],
) -> None:
    """The dropouts follow the run seed, not where or when a client runs."""
    from rengo.hfl import SimulatedDropout

    def run(executor: str) -> Any:
        return simulate(
            _client_fn, 12, FedAvg(fraction_fit=0.5, min_fit_clients=2), softmax_init(5, 2), 3,
            seed=5, executor=executor, workers=2,
            client_mods=[SimulatedDropout(dropout=0.3, stragglers=0.1)],
        )  # fmt: skip

    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run("ray")
    finally:
        ray.shutdown()
    serial = run("serial")
    assert [r.failures for r in on_ray.rounds] == [r.failures for r in serial.rounds]
    assert any(r.failures for r in serial.rounds)
    for a, b in zip(on_ray.parameters, serial.parameters, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_pool_starts_ray_quietly_without_its_start_up_banner_or_gpu_tip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ray itself is not started here (a second cluster beside another test's is slow on two
    # cores): its init is stood in for by one that warns as Ray 2.5x's does.
    import warnings

    import rengo.transport.ray_pool as ray_pool

    started: list[dict[str, object]] = []

    def init(address: object = None, **options: object) -> None:
        started.append({"address": address, **options})
        warnings.warn(
            "Tip: In future versions of Ray, Ray will no longer override accelerator visible "
            "devices env var if num_gpus=0 or num_gpus=None (default).",
            FutureWarning,
            stacklevel=2,
        )

    monkeypatch.setattr(ray_pool.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_pool.ray, "init", init)
    monkeypatch.setattr(ray_pool.ray, "nodes", lambda: [TWO_CPU_NODE])
    monkeypatch.setattr(ray_pool.ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(ray_pool.ray, "put", lambda value: "handler-ref")
    pool = ray_pool.RayPool(lambda *args: None, ["a", "b"], workers=2)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that got out would raise here
        assert pool._ensure_ray() == "handler-ref"
    (options,) = started
    assert options["logging_level"] == logging.WARNING  # not "Started a local Ray instance."
    assert options["log_to_driver"] is False and options["include_dashboard"] is False


def test_tasks_a_caller_stopped_reading_are_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    """They ran on, holding the cluster's CPUs, and the next round's clients waited behind
    them (Ray is stood in for: tasks run when their result is asked for)."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.transport.pool import Request

    cancelled: list[object] = []

    class Task:
        def options(self, **options: object) -> Task:
            return self

        def remote(
            self, handler: object, items: list[tuple[str, str, bytes, None]], threads: int
        ) -> object:
            return ("ref", tuple(cid for cid, *_ in items))

    def get(ref: tuple[str, tuple[str, ...]], timeout: float | None = None) -> list[object]:
        return ray_pool._call_batch(lambda cid, key, payload, state: (cid.encode(), None), [
            (cid, "k", b"", None) for cid in ref[1]
        ])  # fmt: skip

    monkeypatch.setattr(ray_pool.ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray_pool.ray, "nodes", lambda: [TWO_CPU_NODE])
    monkeypatch.setattr(ray_pool.ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(ray_pool.ray, "put", lambda value: "handler-ref")
    monkeypatch.setattr(ray_pool.ray, "get", get)
    monkeypatch.setattr(ray_pool.ray, "cancel", lambda ref, force=False: cancelled.append(ref))
    monkeypatch.setattr(ray_pool, "_remote_batch", Task())
    ids = [f"c{i}" for i in range(6)]
    pool = ray_pool.RayPool(lambda *args: None, ids, workers=2)  # type: ignore[arg-type]
    replies = pool.request([Request(cid, "k", b"") for cid in ids])
    assert next(replies).payload == b"c0"
    replies.close()  # three more tasks were submitted (a window of 2 x 2 workers)
    assert cancelled == [("ref", ("c1",)), ("ref", ("c2",)), ("ref", ("c3",))]
    later = pool.request([Request(cid, "k", b"") for cid in ids])
    assert next(later).payload == b"c0"
    monkeypatch.setattr(ray_pool.ray, "is_initialized", lambda: False)  # closed: Ray is down
    later.close()  # nothing to cancel then (cancelling raised 'Ray has not been started')
    assert len(cancelled) == 3


def _stand_in_for_ray_start(
    monkeypatch: pytest.MonkeyPatch, nodes: list[dict[str, object]], running: bool = False
) -> list[str]:
    """Ray's start stood in for (``running``: the user's Ray is up already) on a cluster of
    ``nodes``; returns the calls to ``ray.shutdown``."""
    import rengo.transport.ray_pool as ray_pool

    shutdowns: list[str] = []
    monkeypatch.setattr(ray_pool.ray, "is_initialized", lambda: running)
    monkeypatch.setattr(ray_pool.ray, "init", lambda address=None, **options: None)
    monkeypatch.setattr(ray_pool.ray, "nodes", lambda: nodes)
    monkeypatch.setattr(ray_pool.ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(ray_pool.ray, "put", lambda value: "handler-ref")
    monkeypatch.setattr(ray_pool.ray, "shutdown", lambda: shutdowns.append("shutdown"))
    return shutdowns


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"num_gpus_per_client": 1.0}, "num_gpus_per_client=1 (the largest node has 0 GPU)"),
        ({"num_cpus_per_client": 4}, "num_cpus_per_client=4 (the largest node has 2 CPU)"),
        ({"memory_per_client": 8 * 10**9}, "memory_per_client=8e+09"),
    ],
)
def test_a_client_task_no_node_can_run_is_refused_instead_of_waiting_forever(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, float], says: str
) -> None:
    """Ray queued such a task without end: device='cuda' on a machine without a GPU held
    simulate at round 1 with no word (seen: killed after 2 minutes at 0/1 rounds)."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError

    shutdowns = _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])
    pool = ray_pool.RayPool(lambda *args: None, ["a"], workers=1, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="would wait forever") as refused:
        pool._ensure_ray()
    assert says in str(refused.value)
    assert shutdowns == ["shutdown"]  # the Ray it started is not left running


def test_a_joined_cluster_that_cannot_run_a_client_task_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # an autoscaler may still add a GPU node to a cluster the pool joined: warned, not refused
    import rengo.transport.ray_pool as ray_pool

    shutdowns = _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE], running=True)
    pool = ray_pool.RayPool(lambda *args: None, ["a"], num_gpus_per_client=0.5)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="rengo.transport"):
        assert pool._ensure_ray() == "handler-ref"
    assert "num_gpus_per_client=0.5 (the largest node has 0 GPU)" in caplog.text
    assert shutdowns == []  # the user's Ray stays up


def test_a_task_fits_only_on_one_node_holding_all_it_asks_for() -> None:
    from rengo.transport.ray_resources import ClientTaskResources

    cpu_node = {"Alive": True, "Resources": {"CPU": 8.0}}
    gpu_node = {"Alive": True, "Resources": {"CPU": 1.0, "GPU": 1.0}}
    dead_big = {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}
    wants = ClientTaskResources(num_cpus_per_client=2, num_gpus_per_client=1)
    assert wants.unmet_on([cpu_node, gpu_node, dead_big]) == (
        "no single node has num_cpus_per_client=2, num_gpus_per_client=1 together (2 live nodes)"
    )
    assert wants.unmet_on([{"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}}]) is None


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"num_cpus_per_client": float("nan")}, "num_cpus_per_client must be finite"),
        ({"num_cpus_per_client": "2"}, "num_cpus_per_client must be a number, got '2'"),
        ({"num_gpus_per_client": float("nan")}, "num_gpus_per_client must be finite"),
        ({"num_gpus_per_client": True}, "num_gpus_per_client must be a number, got True"),
        ({"memory_per_client": -1}, "memory_per_client must be a whole number of bytes"),
        ({"memory_per_client": 1.5e9}, "memory_per_client must be a whole number of bytes"),
    ],
)
def test_resource_requests_that_ray_would_misread_are_refused_by_name(
    options: dict[str, object], says: str
) -> None:
    """NaN GPUs and a negative memory passed the old checks and reached Ray's own error
    (NaN CPUs: 'nan <= 0' is false); a string CPU count failed with a bare TypeError."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError

    with pytest.raises(ConfigError, match=says):
        ray_pool.RayPool(lambda *args: None, ["a"], **options)  # type: ignore[arg-type]


def test_simulate_passes_the_executors_own_options_to_its_pool(tmp_path: Path) -> None:
    """simulate had no way to reach Ray's address or per-client resources: a cluster was
    only usable through the user's own ray.init, and a client needing 2 CPUs or a GPU share
    not at all. Checked without starting Ray: the options are refused or kept by the pool
    before a run is recorded."""
    from rengo.core.errors import ConfigError
    from rengo.hfl import FedAvg
    from rengo.tracking import RunStore

    store = RunStore(tmp_path / "runs")
    run = {"seed": 0, "executor": "ray", "store": store}
    with pytest.raises(ConfigError, match="num_gpus_per_client must be finite"):
        simulate(_client_fn, 2, FedAvg(), softmax_init(5, 2), 1, **run,  # type: ignore[arg-type]
                 executor_options={"num_gpus_per_client": float("nan")})  # fmt: skip
    with pytest.raises(
        ConfigError, match="no option 'num_cpu_per_client'; did you mean 'num_cpus_per_client'"
    ):
        simulate(_client_fn, 2, FedAvg(), softmax_init(5, 2), 1, **run,  # type: ignore[arg-type]
                 executor_options={"num_cpu_per_client": 2})  # fmt: skip
    assert store.list_runs() == []


@pytest.mark.timeout(180)
def test_a_ray_worker_unpickles_the_federation_once_and_runs_clients_on_one_thread(
    start_ray: Callable[..., None], tmp_path: Path
) -> None:
    """Every task unpickled the whole handler - client_fn and the federation's data it
    holds - each round: with 400 MB of PyTorch tensors (copied when unpickled) a round of
    16 trivial clients took 1.3-1.9 s instead of 0.05 s (benchmarks/ray_handler_shipping.py).
    A stamp drawn each time the data is unpickled tells the copies apart. And a client ran
    with the BLAS threads its worker's environment set (OMP_NUM_THREADS exported in the
    user's shell reaches Ray's workers), where the serial and process executors run it on
    one: two such clients on two cores oversubscribed them."""
    import os

    from threadpoolctl import threadpool_info

    from rengo.core.messages import EvaluateResult, FitResult
    from rengo.hfl import Client, FedAvg
    from rengo.tracking import RunStore

    class Data:  # defined here, so Ray's workers get it by value
        def __init__(self) -> None:
            self.stamp = 0.0

        def __setstate__(self, state: dict[str, float]) -> None:
            self.stamp = float(int.from_bytes(os.urandom(6), "big"))  # a new copy

    data = Data()

    class Stamping(Client):
        def fit(self, parameters: list[np.ndarray], config: object) -> FitResult:
            blas = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
            metrics = {"pid": float(os.getpid()), "copy": data.stamp, "blas": float(blas)}
            return FitResult(parameters, 1, metrics)

        def evaluate(self, parameters: list[np.ndarray], config: object) -> EvaluateResult:
            return EvaluateResult(0.0, 1, {})

    threads = {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"}
    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False,
              runtime_env={"env_vars": threads})  # fmt: skip
    store = RunStore(tmp_path / "runs")
    history = simulate(lambda cid: Stamping(), 4, FedAvg(min_fit_clients=4), [np.zeros(2)], 3,
                       executor="ray", workers=2, store=store)  # fmt: skip
    records = store.client_records(str(history.run_id))
    copies: dict[float, set[float]] = {}
    for record in records:
        copies.setdefault(record.metrics["pid"], set()).add(record.metrics["copy"])
    assert len(records) == 12  # 3 rounds of 4 clients, in tasks of one client (4 a round)
    assert all(len(stamps) == 1 for stamps in copies.values()), copies
    assert {record.metrics["blas"] for record in records} == {1.0}


def test_a_client_writing_into_its_read_only_data_is_told_why_on_ray() -> None:
    """numpy arrays a Ray task unpickles are mapped read-only from the object store: a
    client that shuffles or normalises its data in place ran on serial and process, and on
    Ray every fit failed with numpy's bare 'array is read-only' (seen: round 1 failed)."""
    import rengo.transport.ray_pool as ray_pool

    data = np.arange(4.0)
    data.flags.writeable = False  # as Ray maps it

    def shuffles(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
        np.random.default_rng(0).shuffle(data)
        return b"", None

    (outcome,) = ray_pool._call_batch(shuffles, [("c0", "fit", b"", None)])
    assert outcome.error is not None
    assert outcome.error.startswith("raised ValueError: array is read-only (on Ray the arrays")
    assert "copy what a client changes in place, e.g. X = X.copy()" in outcome.error


def test_settings_for_a_ray_already_running_are_named_as_not_applied(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under the user's own ray.init, address= and init_options= were dropped without a
    word (seen: init_options={'num_cpus': 2} ran on the user's 1-CPU Ray)."""
    import rengo.transport.ray_pool as ray_pool

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE], running=True)
    pool = ray_pool.RayPool(
        lambda *args: None,  # type: ignore[arg-type]
        ["a"],
        address="ray://head:10001",
        init_options={"num_cpus": 2, "runtime_env": {}},
    )
    with caplog.at_level(logging.WARNING, logger="rengo.transport"):
        assert pool._ensure_ray() == "handler-ref"
    assert (
        "address='ray://head:10001', init_options['num_cpus'], init_options['runtime_env'] "
        "not applied (ray.shutdown() first" in caplog.text
    )


def test_a_cluster_named_by_ray_address_is_joined_without_a_local_instances_settings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ray joins the cluster at RAY_ADDRESS (set for a script `ray job submit` runs) when no
    address is given, and refuses num_cpus then: with workers= the pool passed num_cpus
    and every such run failed with Ray's 'When connecting to an existing cluster, num_cpus
    and num_gpus must not be provided'; and a task the cluster's current nodes cannot run
    is warned about there (an autoscaler may add one), not refused."""
    import rengo.transport.ray_pool as ray_pool

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])
    started: list[dict[str, object]] = []
    monkeypatch.setattr(
        ray_pool.ray, "init", lambda address=None, **options: started.append(options)
    )
    with socket.create_server(("", 0)) as head:  # a head that accepts connections
        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{head.getsockname()[1]}")
        pool = ray_pool.RayPool(lambda *args: None, ["a"], workers=4, num_gpus_per_client=1)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="rengo.transport"):
            assert pool._ensure_ray() == "handler-ref"
    (options,) = started
    assert "num_cpus" not in options
    assert "num_gpus_per_client=1 (the largest node has 0 GPU)" in caplog.text


def test_device_auto_beside_the_clusters_gpus_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """device='auto' gives the process executor's workers the GPUs; on Ray a task that
    reserves no GPU sees none, so the clients trained on the CPU beside idle GPUs, unsaid."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.transport import make_executor

    gpu_node = {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}}
    _stand_in_for_ray_start(monkeypatch, [gpu_node], running=True)
    monkeypatch.setattr(ray_pool.ray, "cluster_resources", lambda: {"CPU": 2.0, "GPU": 1.0})
    pool = make_executor("ray", lambda *args: (b"", None), ["a"], device="auto")
    with caplog.at_level(logging.WARNING, logger="rengo.transport"):
        pool._ensure_ray()  # type: ignore[attr-defined]
    assert "device='auto' on Ray reserves no GPU" in caplog.text
    caplog.clear()
    cuda = make_executor("ray", lambda *args: (b"", None), ["a"], device="cuda")
    with caplog.at_level(logging.WARNING, logger="rengo.transport"):
        cuda._ensure_ray()  # type: ignore[attr-defined]
    assert caplog.text == ""  # 'cuda' reserves a GPU a task


@pytest.mark.parametrize("named_by", ["address", "RAY_ADDRESS"])
def test_a_cluster_address_nothing_answers_at_is_refused_at_once_by_name(
    monkeypatch: pytest.MonkeyPatch, named_by: str
) -> None:
    """ray.init(address=host:port) with no cluster there retried 20 times 36 s (seen: a
    mistyped port held simulate 324 s before it was killed, with only Ray's C++ log lines):
    the pool refuses the address, naming it, before Ray tries to join."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])
    joined: list[str | None] = []
    monkeypatch.setattr(
        ray_pool.ray, "init", lambda address=None, **options: joined.append(address)
    )
    with socket.socket() as closed:  # a port nothing listens on once the socket is closed
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    if named_by == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", address)
    else:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    pool = ray_pool.RayPool(
        lambda *args: None,  # type: ignore[arg-type]
        ["a"],
        address=address if named_by == "address" else None,
    )
    with pytest.raises(ConfigError, match=f"no Ray cluster answers at {named_by}=") as refused:
        pool.start()
    assert repr(address) in str(refused.value)
    assert joined == []  # Ray was never asked to join it


def test_a_cluster_ray_start_recorded_is_joined_and_a_stale_record_passed_over(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ray.init() without an address joins the cluster `ray start` recorded on the machine:
    with workers= the pool passed num_cpus there and the run failed with Ray's 'When
    connecting to an existing cluster, num_cpus and num_gpus must not be provided' (seen);
    a record its head left when killed without `ray stop` held the run in ray.init (seen:
    killed after 109 s). The live cluster is joined as a cluster, the stale record skipped
    for a local instance, with a warning."""
    import rengo.transport.ray_pool as ray_pool

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])
    started: list[tuple[str | None, dict[str, object]]] = []
    monkeypatch.setattr(
        ray_pool.ray,
        "init",
        lambda address=None, **options: started.append((address, options)),
    )
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # where Ray looks for the record
    record = tmp_path / "ray" / "ray_current_cluster"
    record.parent.mkdir()
    with socket.create_server(("", 0)) as head:
        record.write_text(f"127.0.0.1:{head.getsockname()[1]}")
        pool = ray_pool.RayPool(lambda *args: None, ["a"], workers=2)  # type: ignore[arg-type]
        pool.start()
    stale = record.read_text()  # nothing listens there once the head is closed
    with caplog.at_level(logging.WARNING, logger="rengo.transport"):
        ray_pool.RayPool(lambda *args: None, ["a"], workers=2).start()  # type: ignore[arg-type]
    (joined, joined_options), (local, local_options) = started
    assert joined is not None and joined.endswith(stale.rpartition(":")[2])
    assert "num_cpus" not in joined_options
    assert (local, local_options["num_cpus"]) == ("local", 2)
    assert "where nothing answers" in caplog.text and "`ray stop` removes" in caplog.text


def test_a_round_on_a_cluster_no_node_of_which_can_run_its_tasks_ends_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a joined cluster a task no node can run is only warned about (an autoscaler may add
    a node), and Ray queues it without end: num_cpus_per_client=4 on 1-CPU nodes held
    simulate in round 1 (seen: stopped after 150 s, nothing said but the start's warning).
    The wait rechecks the live nodes and ends, naming the request, once none could run the
    task for unrunnable_wait_s (here 1, the least taken) seconds; the queued task is
    cancelled."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError
    from rengo.transport.pool import Request

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE], running=True)
    clock = _FakeClock()

    def queued_for_ever(ref: object, timeout: float | None = None) -> object:
        if timeout is None:
            raise AssertionError("waited without a limit: Ray would wait forever")
        clock.now += timeout
        raise ray_pool.GetTimeoutError()

    cancelled: list[object] = []
    monkeypatch.setattr(ray_pool, "time", clock)
    monkeypatch.setattr(ray_pool.ray, "get", queued_for_ever)
    monkeypatch.setattr(ray_pool.ray, "cancel", lambda ref, force=False: cancelled.append(ref))
    pool = ray_pool.RayPool(lambda *args: None, ["a"], num_cpus_per_client=4, unrunnable_wait_s=1)  # type: ignore[arg-type]
    monkeypatch.setattr(pool, "_submit", lambda task, batch: "task-ref")
    with pytest.raises(ConfigError, match="could run a client task for 1 s") as refused:
        list(pool.request([Request("a", "fit", b"")]))
    assert "num_cpus_per_client=4 (the largest node has 2 CPU)" in str(refused.value)
    assert cancelled == ["task-ref"]


def _record_a_cluster(tmp: Path, head: socket.socket) -> str:
    """Write Ray's record of a `ray start` cluster, whose head is ``head``, under ``tmp``
    (the test's RAY_TMPDIR); returns the address recorded."""
    record = tmp / "ray" / "ray_current_cluster"
    record.parent.mkdir(exist_ok=True)
    address = f"127.0.0.1:{head.getsockname()[1]}"
    record.write_text(address)
    return address


def test_the_joined_warning_is_logged_only_once_ray_init_joined_and_names_workers_only_if_given(
    monkeypatch: pytest.MonkeyPatch, private_ray_record: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The pool said it had 'joined the Ray cluster' before ray.init ran, so also when
    ray.init then failed, and always said 'workers= does not size it', also to a caller who
    gave no workers."""
    import rengo.transport.ray_pool as ray_pool

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])

    def init_fails(address: object = None, **options: object) -> None:
        raise ConnectionError("the head went away")

    with socket.create_server(("", 0)) as head:
        _record_a_cluster(private_ray_record, head)
        with caplog.at_level(logging.WARNING, logger="rengo.transport"):
            monkeypatch.setattr(ray_pool.ray, "init", init_fails)
            with pytest.raises(ConnectionError):
                ray_pool.RayPool(lambda *args: None, ["a"]).start()  # type: ignore[arg-type]
            assert "joined the Ray cluster" not in caplog.text
            monkeypatch.setattr(ray_pool.ray, "init", lambda address=None, **options: None)
            ray_pool.RayPool(lambda *args: None, ["a"]).start()  # type: ignore[arg-type]
            assert "joined the Ray cluster" in caplog.text
            assert "workers=" not in caplog.text
            caplog.clear()
            ray_pool.RayPool(lambda *args: None, ["a"], workers=2).start()  # type: ignore[arg-type]
            assert "workers= does not size it" in caplog.text


def test_a_task_the_recorded_one_machine_cluster_cannot_run_is_refused_at_once_and_named(
    monkeypatch: pytest.MonkeyPatch, private_ray_record: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Joining the cluster `ray start` recorded on this machine, which has no autoscaler,
    a request none of its nodes can meet (device='cuda' without a GPU) waited about 10.5
    minutes before failing, where rengo refused it at once before that cluster was joined as
    a cluster. It is refused at once again, the pool says which cluster it joined, and
    address='auto' (an autoscaling cluster's head) keeps the wait."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError

    shutdowns = _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])
    with socket.create_server(("", 0)) as head:
        address = _record_a_cluster(private_ray_record, head)
        pool = ray_pool.RayPool(lambda *args: None, ["a"], num_gpus_per_client=1)  # type: ignore[arg-type]
        with (
            caplog.at_level(logging.WARNING, logger="rengo.transport"),
            pytest.raises(ConfigError, match="would wait forever") as refused,
        ):
            pool.start()
        assert "the Ray cluster `ray start` recorded on this machine" in str(refused.value)
        port = address.rpartition(":")[2]  # Ray names this machine by its node IP
        assert f":{port} (recorded by `ray start` on this machine)" in caplog.text
        assert "joined the Ray cluster at " in caplog.text
        assert shutdowns == ["shutdown"]  # the connection it opened is closed
        auto = ray_pool.RayPool(lambda *args: None, ["a"], address="auto", num_gpus_per_client=1)  # type: ignore[arg-type]
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="rengo.transport"):
            assert auto._ensure_ray() == "handler-ref"
    assert "tasks wait until a node that has it joins, for at most 600 s" in caplog.text


def test_a_local_instances_init_options_are_dropped_by_name_when_a_cluster_is_joined(
    monkeypatch: pytest.MonkeyPatch, private_ray_record: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """init_options (documented as the local instance's) reached ray.init when the pool
    joined the cluster `ray start` recorded, and Ray refused them (seen: 'When connecting to
    an existing cluster, num_cpus and num_gpus must not be provided', and the same for
    object_store_memory). They are dropped with a warning naming them; the others stay."""
    import rengo.transport.ray_pool as ray_pool

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])
    started: list[dict[str, object]] = []

    def init(address: object = None, **options: object) -> None:  # as Ray checks them
        for name in ("num_cpus", "object_store_memory", "resources"):
            if options.get(name) is not None:
                raise ValueError(f"When connecting to an existing cluster, {name} must not be")
        started.append(options)

    monkeypatch.setattr(ray_pool.ray, "init", init)
    local_only = {"num_cpus": 2, "object_store_memory": 10**8, "resources": {"x": 1}}
    with socket.create_server(("", 0)) as head:
        _record_a_cluster(private_ray_record, head)
        pool = ray_pool.RayPool(
            lambda *args: None,  # type: ignore[arg-type]
            ["a"],
            init_options={**local_only, "namespace": "mine"},
        )
        with caplog.at_level(logging.WARNING, logger="rengo.transport"):
            assert pool._ensure_ray() == "handler-ref"
    (options,) = started
    assert options["namespace"] == "mine"
    assert (
        "init_options['num_cpus'], init_options['resources'], "
        "init_options['object_store_memory'] not applied" in caplog.text
    )


def test_address_local_starts_a_local_instance_sized_by_workers_not_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ray's address='local' starts a local instance; the pool took it for a cluster, so
    workers= did not size it and a task no node can run was only warned about."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE])
    started: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(
        ray_pool.ray, "init", lambda address=None, **options: started.append((address, options))
    )
    ray_pool.RayPool(lambda *args: None, ["a"], workers=3, address="local").start()  # type: ignore[arg-type]
    gpu = ray_pool.RayPool(lambda *args: None, ["a"], address="local", num_gpus_per_client=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no node of the local Ray instance"):
        gpu.start()
    (address, options), _ = started
    assert (address, options["num_cpus"]) == ("local", 3)


class _FakeClock:
    """``time.monotonic`` that moves only when a stood-in ``ray.get`` waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now


def test_the_unrunnable_limit_counts_from_the_first_check_that_finds_no_node_and_is_an_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The limit is an option (an autoscaler slower than 10 minutes needs more), its clock
    starts at the first check that finds no node able to run the task, and the message says
    the time measured. Checked with a clock only the stood-in ray.get moves: with checks
    every 30 s (a tenth of a shorter limit) the wait ends one check after the limit, at
    630 s and 49.5 s, saying 600 s and 45 s."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError
    from rengo.transport import make_executor
    from rengo.transport.pool import Request

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE], running=True)
    clock = _FakeClock()
    waits: list[float] = []

    def queued_for_ever(ref: object, timeout: float | None = None) -> object:
        assert timeout is not None, "waited without a limit"
        waits.append(timeout)
        clock.now += timeout
        raise ray_pool.GetTimeoutError()

    monkeypatch.setattr(ray_pool, "time", clock)
    monkeypatch.setattr(ray_pool.ray, "get", queued_for_ever)
    monkeypatch.setattr(ray_pool.ray, "cancel", lambda ref, force=False: None)
    by_default = ray_pool.RayPool(lambda *args: None, ["a"], num_cpus_per_client=4)  # type: ignore[arg-type]
    monkeypatch.setattr(by_default, "_submit", lambda task, batch: "task-ref")
    with pytest.raises(ConfigError, match="could run a client task for 600 s"):
        list(by_default.request([Request("a", "fit", b"")]))
    assert set(waits) == {30.0} and sum(waits) == 630.0
    waits.clear()
    pool = make_executor(
        "ray", lambda *args: (b"", None), ["a"], num_cpus_per_client=4, unrunnable_wait_s=45
    )
    monkeypatch.setattr(pool, "_submit", lambda task, batch: "task-ref")
    with pytest.raises(ConfigError, match="could run a client task for 45 s"):
        list(pool.request([Request("a", "fit", b"")]))
    assert set(waits) == {4.5} and sum(waits) == 49.5


@pytest.mark.parametrize(
    "value",
    [0, 0.01, -1, float("inf"), 10**400, "600", True],
    ids=["0", "0.01", "-1", "inf", "1e400", "str", "bool"],
)
def test_an_unrunnable_wait_too_short_or_not_a_finite_number_is_refused_with_the_reason(
    value: object,
) -> None:
    """unrunnable_wait_s=0 was taken and then polled the cluster without rest (seen: 16,125
    ray.nodes() calls during one 2 s task), and 10**400 raised OverflowError, not a
    ConfigError."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unrunnable_wait_s must be .* >= 1 \(a shorter"):
        ray_pool.RayPool(lambda *args: None, ["a"], unrunnable_wait_s=value)  # type: ignore[arg-type]


def test_a_task_queued_behind_a_long_one_gets_the_whole_unrunnable_wait_when_its_node_dies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The clock started when the task was queued: a task queued behind one that trained for
    700 s on a live node failed at once, when that node died at 700 s, saying 'could not run a
    client task for 600 s' (seen in the review's fake-clock script). Now it waits the whole
    limit from when the driver first saw no node: the round fails no earlier than 1,300 s."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError
    from rengo.transport.pool import Request

    nodes = [TWO_CPU_NODE]
    _stand_in_for_ray_start(monkeypatch, nodes, running=True)
    clock = _FakeClock()
    trained = {"first": 0.0}

    def get(ref: object, timeout: float | None = None) -> object:
        assert timeout is not None, "waited without a limit"
        if ref == "first" and trained["first"] >= 700:
            nodes.clear()  # the only node that can run the tasks is preempted
            return [ray_pool.HandlerOutcome(b"", None, None, 1.0)]
        step = min(timeout, 700 - trained["first"]) if ref == "first" else timeout
        trained["first"] += step if ref == "first" else 0.0
        clock.now += step
        raise ray_pool.GetTimeoutError()

    cancelled: list[object] = []
    monkeypatch.setattr(ray_pool, "time", clock)
    monkeypatch.setattr(ray_pool.ray, "get", get)
    monkeypatch.setattr(ray_pool.ray, "cancel", lambda ref, force=False: cancelled.append(ref))
    pool = ray_pool.RayPool(lambda *args: None, ["a", "b"], workers=1)  # type: ignore[arg-type]
    refs = iter(["first", "second"])
    monkeypatch.setattr(pool, "_submit", lambda task, batch: next(refs))
    with pytest.raises(ConfigError, match="could run a client task for 600 s"):
        list(pool.request([Request("a", "fit", b""), Request("b", "fit", b"")]))
    assert clock.now - 1000.0 >= 700.0 + 600.0
    assert "second" in cancelled


def test_every_resubmitted_client_task_is_cancelled_when_the_unrunnable_limit_ends_a_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a batch task died its clients ran again one per task; when the first of those
    hit the limit only the tasks still in the window were cancelled, and the other
    resubmitted ones stayed queued on the cluster (seen: 'ref2-1clients' never cancelled)."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError
    from rengo.transport.pool import Request

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE], running=True)
    submitted: list[str] = []
    cancelled: list[str] = []

    def submit(task: object, batch: list[Request]) -> str:
        submitted.append(f"ref{len(submitted)}-{len(batch)}clients")
        return submitted[-1]

    clock = _FakeClock()

    def get(ref: str, timeout: float | None = None) -> object:
        if ref == submitted[0]:
            raise ray_pool.RayError("the worker died")
        clock.now += timeout or 0.0
        raise ray_pool.GetTimeoutError()

    monkeypatch.setattr(ray_pool, "time", clock)

    monkeypatch.setattr(ray_pool.ray, "get", get)
    monkeypatch.setattr(ray_pool.ray, "cancel", lambda ref, force=False: cancelled.append(ref))
    monkeypatch.setattr(ray_pool.ray, "nodes", lambda: [{"Alive": True, "Resources": {"CPU": 0.5}}])
    ids = [f"c{i}" for i in range(16)]  # tasks of 2 clients on 2 workers
    pool = ray_pool.RayPool(lambda *args: None, ids, workers=2)  # type: ignore[arg-type]
    monkeypatch.setattr(pool, "_submit", submit)
    with pytest.raises(ConfigError, match="could run a client task for 600 s"):
        list(pool.request([Request(cid, "fit", b"") for cid in ids]))
    assert submitted[0].endswith("-2clients")
    alone = [ref for ref in submitted if ref.endswith("-1clients")]
    assert len(alone) == 2  # the dead batch's clients, resubmitted one per task
    assert set(submitted[1:]) <= set(cancelled)  # every task still queued, alone ones too


def test_a_node_seen_again_restarts_the_unrunnable_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A capable node that is seen again (a replacement that joined, then was lost too)
    stops the clock, and the next check that finds none starts it again: the round fails
    600 s after that check (at 930 s), where it failed 600 s after the check that saw the
    node (at 900 s), a limit that included time a node was there."""
    import rengo.transport.ray_pool as ray_pool
    from rengo.core.errors import ConfigError
    from rengo.transport.pool import Request

    _stand_in_for_ray_start(monkeypatch, [TWO_CPU_NODE], running=True)
    clock = _FakeClock()
    checks = {"count": 0}

    def nodes() -> list[dict[str, object]]:
        checks["count"] += 1
        # the 1st check is the start's; the 11th, at the 10th 30 s poll (300 s), sees a node
        return [TWO_CPU_NODE] if checks["count"] == 11 else []

    def queued_for_ever(ref: object, timeout: float | None = None) -> object:
        assert timeout is not None, "waited without a limit"
        clock.now += timeout
        raise ray_pool.GetTimeoutError()

    monkeypatch.setattr(ray_pool, "time", clock)
    monkeypatch.setattr(ray_pool.ray, "get", queued_for_ever)
    monkeypatch.setattr(ray_pool.ray, "cancel", lambda ref, force=False: None)
    pool = ray_pool.RayPool(lambda *args: None, ["a"])  # type: ignore[arg-type]
    monkeypatch.setattr(pool, "_submit", lambda task, batch: "task-ref")
    monkeypatch.setattr(ray_pool.ray, "nodes", nodes)  # after the start's own check
    with pytest.raises(ConfigError, match="could run a client task for 600 s"):
        list(pool.request([Request("a", "fit", b"")]))
    assert clock.now - 1000.0 == 300.0 + 30.0 + 600.0  # none seen from 330 s on (was 900)
