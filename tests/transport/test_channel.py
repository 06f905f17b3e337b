"""LocalBus: messages arrive through envelope and codec, the transcript holds the exact wire
bytes, and a failing role or a missing message never leaves the others hanging."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rengo.core.codec import decode, encode
from rengo.core.envelope import envelope_from_bytes
from rengo.core.errors import ChannelTimeout, ProtocolError
from rengo.transport.channel import Channel, LocalBus, run_roles


def test_messages_arrive_in_order_per_sender_and_key() -> None:
    bus = LocalBus(["alice", "bob"])

    def alice(ch: Channel) -> str:
        ch.send("bob", ("grad", 1), np.arange(4.0))
        ch.send("bob", ("grad", 1), {"second": [1, 2]})
        ch.send("bob", "note", "hello")
        return ch.recv("bob", "ack")

    def bob(ch: Channel) -> list:
        note = ch.recv("alice", "note")  # keys are independent queues
        first = ch.recv("alice", ("grad", 1))
        second = ch.recv("alice", "grad/1")  # tuple keys normalise to "grad/1"
        ch.send("alice", "ack", "ok")
        return [note, first, second]

    results = run_roles(bus, {"alice": alice, "bob": bob})
    assert results["alice"] == "ok"
    note, first, second = results["bob"]
    assert note == "hello"
    np.testing.assert_array_equal(first, np.arange(4.0))
    assert second == {"second": [1, 2]}


def test_transcript_records_the_exact_wire_bytes() -> None:
    bus = LocalBus(["a", "b"], record=True)
    value = {"w": np.array([[1.5, -2.0]], dtype=np.float32), "n": 3}

    def a(ch: Channel) -> None:
        ch.send("b", "model", value)

    def b(ch: Channel) -> dict:
        return ch.recv("a", "model")

    results = run_roles(bus, {"a": a, "b": b})
    (entry,) = bus.transcript
    assert (entry.sender, entry.receiver, entry.key) == ("a", "b", "model")
    env = envelope_from_bytes(entry.payload)
    assert (env.sender, env.receiver, env.key) == ("a", "b", "model")
    assert env.payload == encode(value)
    assert bus.bytes_sent["a"] == len(entry.payload)
    assert "b" not in bus.bytes_sent
    assert bus.sent_by("a") == [entry] and bus.sent_by("b") == []
    decoded = decode(env.payload)
    np.testing.assert_array_equal(decoded["w"], value["w"])
    np.testing.assert_array_equal(results["b"]["w"], value["w"])


def test_no_transcript_unless_recording() -> None:
    bus = LocalBus(["a", "b"])
    bus.channel("a").send("b", "k", 1)
    assert bus.transcript == []
    assert bus.channel("b").recv("a", "k") == 1


@pytest.mark.timeout(30)
def test_run_roles_propagates_a_role_exception_and_unblocks_the_others() -> None:
    bus = LocalBus(["leader", "follower", "observer"], timeout=600.0)
    woke = threading.Event()

    def leader(ch: Channel) -> None:
        raise ValueError("leader broke")

    def follower(ch: Channel) -> None:
        try:
            ch.recv("leader", "never")  # would wait 600 s if not woken
        except ProtocolError:
            woke.set()
            raise

    def observer(ch: Channel) -> str:
        return "done"

    with pytest.raises(ValueError, match="leader broke"):
        run_roles(bus, {"leader": leader, "follower": follower, "observer": observer})
    assert woke.is_set()


def test_missing_message_raises_channel_timeout() -> None:
    bus = LocalBus(["a", "b"])
    with pytest.raises(ChannelTimeout, match="b waited for 'k/2' from a in vain"):
        bus.channel("b").recv("a", ("k", 2), timeout=0.05)


def test_bus_timeout_applies_when_recv_gives_none() -> None:
    bus = LocalBus(["a", "b"], timeout=0.05)
    with pytest.raises(ChannelTimeout):
        bus.channel("a").recv("b", "x")


def test_sending_to_an_unknown_role_is_a_protocol_error() -> None:
    bus = LocalBus(["a", "b"])
    with pytest.raises(ProtocolError, match="unknown role 'carol'"):
        bus.channel("a").send("carol", "k", 1)


def test_bus_rejects_duplicate_and_unknown_role_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        LocalBus(["a", "a"])
    with pytest.raises(ValueError, match="unknown role"):
        LocalBus(["a"]).channel("z")


def test_values_the_codec_cannot_encode_fail_at_send() -> None:
    from rengo.core.errors import CodecError

    bus = LocalBus(["a", "b"])
    with pytest.raises(CodecError):
        bus.channel("a").send("b", "k", object())
