"""SerialPool and ProcessPool: replies in request order, each client's state kept between
calls, and a crashing or hanging client turned into an error reply, never an exception."""

from __future__ import annotations

import time

import pytest

from rengo.transport.pool import Reply, Request
from rengo.transport.simulation import ProcessPool, SerialPool

POOLS = [SerialPool, lambda handler, ids: ProcessPool(handler, ids, workers=2)]
POOL_IDS = ["serial", "process"]


def counting_handler(
    client_id: str, key: str, payload: bytes, state: bytes | None
) -> tuple[bytes, bytes | None]:
    """Replies ``id:key:payload:count``; the count is this client's state, one per call.
    Client "crash" raises; client "slow" sleeps for as many seconds as its payload says."""
    if client_id == "crash":
        raise RuntimeError("client exploded")
    if client_id == "slow":
        time.sleep(float(payload))
    count = int(state or b"0") + 1
    return f"{client_id}:{key}:{payload.decode()}:{count}".encode(), str(count).encode()


@pytest.fixture(params=POOLS, ids=POOL_IDS)
def make(request):
    pools = []

    def build(ids: list[str]):
        pool = request.param(counting_handler, ids)
        pools.append(pool)
        return pool

    yield build
    for pool in pools:
        pool.close()


def _texts(replies: list[Reply]) -> list[str | None]:
    return [r.payload.decode() if r.payload is not None else None for r in replies]


def test_replies_come_back_in_request_order(make) -> None:
    ids = [f"c{i}" for i in range(9)]
    pool = make(ids)
    assert pool.client_ids() == ids
    order = [ids[i] for i in (4, 0, 8, 2, 6, 1, 7, 3, 5)]
    replies = list(pool.request([Request(c, "fit", f"{i}".encode()) for i, c in enumerate(order)]))
    assert [r.client_id for r in replies] == order
    assert _texts(replies) == [f"{c}:fit:{i}:1" for i, c in enumerate(order)]
    for r, c in zip(replies, order, strict=True):
        assert r.ok and r.error is None and r.key == "fit"
        assert r.bytes_sent == len(str(order.index(c)))
        assert r.bytes_received == len(r.payload)


def test_client_state_is_kept_per_client_across_calls(make) -> None:
    pool = make(["a", "b"])
    first = list(pool.request([Request("a", "k", b"x"), Request("b", "k", b"x")]))
    second = list(pool.request([Request("a", "k", b"y")]))
    third = list(pool.request([Request("b", "k", b"z"), Request("a", "k", b"z")]))
    assert _texts(first) == ["a:k:x:1", "b:k:x:1"]
    assert _texts(second) == ["a:k:y:2"]
    assert _texts(third) == ["b:k:z:2", "a:k:z:3"]


def test_a_crashing_handler_yields_an_error_reply(make) -> None:
    pool = make(["a", "crash", "b"])
    replies = list(pool.request([Request(c, "k", b"1") for c in ("a", "crash", "b")]))
    assert [r.ok for r in replies] == [True, False, True]
    assert replies[1].payload is None
    assert replies[1].error == "raised RuntimeError: client exploded"
    assert _texts(replies)[::2] == ["a:k:1:1", "b:k:1:1"]
    # The crash left the other clients' state intact.
    assert _texts(list(pool.request([Request("a", "k", b"2")]))) == ["a:k:2:2"]


def test_replies_a_caller_stopped_reading_never_reach_the_next_call(make) -> None:
    pool = make(["a", "slow"])
    first = pool.request([Request("a", "k", b"1"), Request("slow", "k", b"2")])
    assert next(first).payload == b"a:k:1:1"
    first.close()  # the caller stops reading while "slow" still trains (a break, an error)
    second = list(pool.request([Request("slow", "k", b"0"), Request("a", "k", b"2")]))
    # before: the process pool handed slow's late reply of the first call to "a"
    assert _texts(second) == ["slow:k:0:1", "a:k:2:2"]


def test_a_call_left_unfinished_ends_quietly_after_the_pool_closed(make) -> None:
    pool = make(["a", "slow"])
    first = pool.request([Request("a", "k", b"1"), Request("slow", "k", b"2")])
    assert next(first).payload == b"a:k:1:1"
    pool.close()  # an error ended the run: the pool closes before the call is let go
    first.close()  # once let go, it has no workers of its own left to replace
    assert _texts(list(pool.request([Request("a", "k", b"2")]))) == ["a:k:2:1"]


@pytest.mark.parametrize(("pool_index", "sleep_s"), [(0, "0.4"), (1, "5")], ids=POOL_IDS)
def test_a_client_past_the_timeout_yields_a_timeout_reply(pool_index, sleep_s) -> None:
    pool = POOLS[pool_index](counting_handler, ["a", "slow", "b", "c"])
    try:
        requests = [
            Request(c, "k", sleep_s.encode() if c == "slow" else b"1")
            for c in ("a", "slow", "b", "c")
        ]
        replies = list(pool.request(requests, timeout=0.2))
        assert [r.client_id for r in replies] == ["a", "slow", "b", "c"]
        assert [r.ok for r in replies] == [True, False, True, True]
        assert replies[1].error is not None and replies[1].error.startswith("timed out")
        assert "limit 0.2s" in replies[1].error
        assert _texts(replies)[2:] == ["b:k:1:1", "c:k:1:1"]
        # The pool still serves requests after a timeout; the slow client's state is unchanged.
        again = list(pool.request([Request("a", "k", b"2"), Request("slow", "k", b"0")]))
        assert _texts(again) == ["a:k:2:2", "slow:k:0:1"]
    finally:
        pool.close()


def test_process_pool_runs_clients_in_other_processes() -> None:
    import os

    def pid_handler(cid: str, key: str, payload: bytes, state: bytes | None):
        return str(os.getpid()).encode(), None

    pool = ProcessPool(pid_handler, ["a", "b"], workers=2)
    try:
        pids = {int(r.payload) for r in pool.request([Request(c, "k", b"") for c in "ab" * 4])}
    finally:
        pool.close()
    assert os.getpid() not in pids


@pytest.mark.timeout(60)
def test_process_pool_survives_a_client_that_kills_its_worker() -> None:
    import os

    def exiting_handler(cid: str, key: str, payload: bytes, state: bytes | None):
        if cid == "exit" and payload == b"1":
            os._exit(3)
        return f"{cid}:{payload.decode()}".encode(), None

    pool = ProcessPool(exiting_handler, ["a", "exit", "b"], workers=2)
    try:
        first = list(pool.request([Request(c, "k", b"1") for c in ("a", "exit", "b")]))
        second = list(pool.request([Request(c, "k", b"2") for c in ("a", "exit", "b")]))
    finally:
        pool.close()
    assert [r.client_id for r in first] == ["a", "exit", "b"]
    dead = first[1]
    assert not dead.ok and "worker process died" in (dead.error or "")
    assert all(r.ok for r in second)
    assert second[1].payload == b"exit:2"
