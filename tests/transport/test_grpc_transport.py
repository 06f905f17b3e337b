"""The gRPC hub and party connection on loopback: payload sizes, authentication, forged
names, hostile bytes, and vertical-FL role code over GrpcChannel."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rengo import __version__
from rengo.core.codec import decode, encode
from rengo.core.errors import (
    AuthenticationError,
    ConfigError,
    HandshakeError,
    ReleaseMismatchError,
)
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_frames import CHUNK, STREAMED, WHOLE, OutgoingMessage, envelope_frames
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import NAME_HEADER, HubSecurity, PartyCredentials
from rengo.transport.grpc_wire import (
    CHANNEL_OPTIONS,
    FULL_METHOD,
    HELLO,
    HELLO_LIMIT,
    REJOINING,
    WIRE_FORMAT,
    hello_payload,
    parse_hello,
    parse_welcome,
    welcome_payload,
)
from rengo.transport.pool import Request
from rengo.vfl.psi import psi_follower, psi_leader

FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=1.5)


def doubling(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
    return encode(decode(bytearray(payload)) * 2), None


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, ["alice", "bob", "carol", "mallory"])
    return directory


@pytest.fixture
def hub(certs: Path) -> Iterator[GrpcHub]:
    security = HubSecurity.from_directory(certs, parties=["alice", "bob", "carol"])
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.5) as running:
        yield running


def connect(hub: GrpcHub, certs: Path, name: str, **options: object) -> PartyConnection:
    credentials = PartyCredentials.from_directory(certs, name)
    conn = PartyConnection(
        hub.address,
        name,
        credentials,
        handler=doubling,
        heartbeat_interval=0.5,
        backoff=FAST,
        **options,  # type: ignore[arg-type]
    )
    return conn.start()


@pytest.mark.timeout(30)
def test_40mb_model_round_trips_in_chunks(hub: GrpcHub, certs: Path) -> None:
    conn = connect(hub, certs, "alice")
    conn.wait_connected(10)
    model = np.arange(5_000_000, dtype=np.float64)  # 40 MB, 10x gRPC's default 4 MiB limit
    (reply,) = hub.request([Request("alice", "x", encode(model))], timeout=20)
    assert reply.ok, reply.error
    np.testing.assert_array_equal(decode(bytearray(reply.payload)), model * 2)
    assert reply.bytes_sent > 40_000_000
    conn.close()


@pytest.mark.timeout(30)
def test_replies_come_in_request_order_and_absent_party_fails(hub: GrpcHub, certs: Path) -> None:
    conns = [connect(hub, certs, n) for n in ("alice", "bob")]
    for c in conns:
        c.wait_connected(10)
    requests = [
        Request("bob", "x", encode(np.array([1.0]))),
        Request("carol", "x", encode(np.array([2.0]))),
        Request("alice", "x", encode(np.array([3.0]))),
    ]
    replies = list(hub.request(requests, timeout=10))
    assert [r.client_id for r in replies] == ["bob", "carol", "alice"]
    assert [r.ok for r in replies] == [True, False, True]
    assert replies[1].error == "not connected"
    assert decode(bytearray(replies[2].payload))[0] == 6.0
    for c in conns:
        c.close()


@pytest.mark.timeout(30)
def test_certificate_from_another_ca_is_refused(
    hub: GrpcHub, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other-ca")
    init_certificates(other, ["alice"])
    theirs = PartyCredentials.from_directory(other, "alice")
    # Trusts the real hub but presents a certificate our CA never signed.
    forged = PartyCredentials(ca_cert=hub.security.ca_cert, cert=theirs.cert, key=theirs.key)
    conn = PartyConnection(hub.address, "alice", forged, backoff=FAST, heartbeat_interval=0.5)
    with pytest.raises(HandshakeError, match="refused this party's certificate"):
        conn.run()  # at once, not after give_up_after
    assert hub.client_ids() == []
    assert conn.sessions == 0


@pytest.mark.timeout(30)
def test_certified_party_outside_the_allow_list_is_refused(hub: GrpcHub, certs: Path) -> None:
    conn = PartyConnection(
        hub.address, "mallory", PartyCredentials.from_directory(certs, "mallory"), backoff=FAST
    )
    with pytest.raises(AuthenticationError, match="unknown party"):
        conn.run()


@pytest.mark.timeout(30)
def test_a_misspelt_allow_list_is_named_to_the_operator_not_to_the_party(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """With 'clinet-1' in the allow-list, the certified party client-1 was refused as unknown
    each time it connected and nothing pointed at the typo; the coordinator's log now names
    the close allow-listed name, and the party is told only that it is unknown."""
    directory = tmp_path_factory.mktemp("typo-certs")
    init_certificates(directory, ["client-1"])
    events: list[tuple[str, str]] = []
    security = HubSecurity.from_directory(directory, parties=["clinet-1"])
    with GrpcHub(
        "127.0.0.1:0", security, heartbeat_interval=0.5, on_event=lambda *e: events.append(e)
    ) as hub:
        credentials = PartyCredentials.from_directory(directory, "client-1")
        conn = PartyConnection(hub.address, "client-1", credentials, backoff=FAST)
        with pytest.raises(AuthenticationError, match="unknown party 'client-1'") as told:
            conn.run()
    assert "clinet-1" not in str(told.value)  # another admitted party's name stays here
    refused = [text for level, text in events if "refused connection" in text]
    assert refused and "the allow-list names 'clinet-1'" in refused[0], events


@pytest.mark.timeout(30)
def test_certificate_used_under_another_name_is_refused(hub: GrpcHub, certs: Path) -> None:
    bobs = PartyCredentials.from_directory(certs, "bob")
    conn = PartyConnection(hub.address, "alice", bobs, backoff=FAST)
    with pytest.raises(AuthenticationError, match="certificate is for 'bob'"):
        conn.run()
    assert hub.client_ids() == []


@pytest.mark.timeout(30)
def test_token_mode_refuses_wrong_token_and_admits_right_one(certs: Path) -> None:
    tokens = {"alice": "s3cret-token-of-alice", "bob": "s3cret-token-of-bob"}
    security = HubSecurity.from_directory(certs, tokens=tokens)
    ca = security.ca_cert
    with GrpcHub("127.0.0.1:0", security, heartbeat_interval=0.5) as hub:
        wrong = PartyCredentials(ca_cert=ca, token="s3cret-token-of-bob")
        with pytest.raises(AuthenticationError, match="bad or missing token"):
            PartyConnection(hub.address, "alice", wrong, backoff=FAST).run()
        right = PartyConnection(
            hub.address,
            "alice",
            PartyCredentials(ca_cert=ca, token="s3cret-token-of-alice"),
            handler=doubling,
            backoff=FAST,
        ).start()
        right.wait_connected(10)
        assert hub.client_ids() == ["alice"]
        right.close()


def raw_stream(hub: GrpcHub, certs: Path, name: str, frames: list[bytes]) -> grpc.RpcError | None:
    """Open a stream as certified party ``name`` and send ``frames`` verbatim."""
    creds = PartyCredentials.from_directory(certs, name)
    channel_credentials = creds.channel_credentials()
    assert channel_credentials is not None
    with grpc.secure_channel(hub.address, channel_credentials, options=CHANNEL_OPTIONS) as ch:
        call = ch.stream_stream(FULL_METHOD)(iter(frames), metadata=[(NAME_HEADER, name)])
        try:
            for _ in call:
                pass
        except grpc.RpcError as exc:
            return exc
    return None


def hello(sender: str) -> bytes:
    (frame,) = envelope_frames(
        OutgoingMessage(sender, "coordinator", HELLO, hello_payload("raw", False))
    )
    return frame


@pytest.mark.timeout(30)
def test_forged_sender_name_is_refused(hub: GrpcHub, certs: Path) -> None:
    error = raw_stream(hub, certs, "alice", [hello("bob")])
    assert error is not None and error.code() == grpc.StatusCode.PERMISSION_DENIED
    # Joined honestly, then a message claiming to come from bob: cut off.
    (forged,) = envelope_frames(OutgoingMessage("bob", "carol", "psi/x", b"hi"))
    error = raw_stream(hub, certs, "alice", [hello("alice"), forged])
    assert error is not None and error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "claiming to be 'bob'" in (error.details() or "")
    assert hub.client_ids() == []


frame_bytes = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda tag, body: tag + body,
        st.sampled_from([WHOLE, STREAMED, CHUNK]),
        st.binary(max_size=64),
    ),
    st.builds(
        lambda f, cut: f[:cut],
        st.just(b"".join(envelope_frames(OutgoingMessage("alice", "bob", "k", b"x" * 70_000)))),
        st.integers(0, 200),
    ),
)


@pytest.mark.timeout(60)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=st.lists(frame_bytes, max_size=4))
def test_hostile_frames_never_crash_the_hub(hub: GrpcHub, certs: Path, frames: list[bytes]) -> None:
    raw_stream(hub, certs, "carol", [hello("carol"), *frames])
    honest = connect(hub, certs, "alice")
    honest.wait_connected(10)
    (reply,) = hub.request([Request("alice", "x", encode(np.array([1.5])))], timeout=10)
    assert reply.ok and decode(bytearray(reply.payload))[0] == 3.0
    honest.close()


@pytest.mark.timeout(30)
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(min_size=1, max_size=512))
def test_random_bytes_at_the_socket_never_crash_the_hub(
    hub: GrpcHub, certs: Path, junk: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
        sock.sendall(junk)
    honest = connect(hub, certs, "bob")
    honest.wait_connected(10)
    honest.close()


@pytest.mark.timeout(60)
def test_psi_role_code_runs_unchanged_over_grpc_channels(hub: GrpcHub, certs: Path) -> None:
    ids = {
        "alice": [f"id{i}" for i in range(0, 60)],
        "bob": [f"id{i}" for i in range(30, 90)],
        "carol": [f"id{i}" for i in range(20, 50)],
    }
    conns = {n: connect(hub, certs, n) for n in ids}
    results: dict[str, object] = {}

    def role(name: str) -> None:
        channel = conns[name].channel()
        if name == "alice":
            results[name] = psi_leader(channel, ids[name], ["bob", "carol"], seed=1, timeout=30)
        else:
            results[name] = psi_follower(channel, ids[name], "alice", timeout=30)

    threads = [threading.Thread(target=role, args=(n,)) for n in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    rows = {n: [ids[n][i] for i in results[n].rows] for n in ids}  # type: ignore[attr-defined]
    assert rows["alice"] == rows["bob"] == rows["carol"]
    assert sorted(rows["alice"]) == sorted(f"id{i}" for i in range(30, 50))
    for c in conns.values():
        c.close()


@pytest.mark.timeout(30)
def test_silent_party_is_dropped_after_heartbeat_timeout(hub: GrpcHub, certs: Path) -> None:
    release = threading.Event()

    def hello_then_silence() -> Iterator[bytes]:
        yield hello("alice")
        release.wait(20)

    creds = PartyCredentials.from_directory(certs, "alice").channel_credentials()
    assert creds is not None
    with grpc.secure_channel(hub.address, creds, options=CHANNEL_OPTIONS) as ch:
        call = ch.stream_stream(FULL_METHOD)(hello_then_silence())
        with pytest.raises(grpc.RpcError) as info:
            for _ in call:
                pass
        release.set()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "no heartbeat" in (info.value.details() or "")
    assert hub.client_ids() == []


def test_another_partys_certificate_and_key_under_this_name_is_refused_naming_both(
    certs: Path, tmp_path: Path
) -> None:
    # bob's pair copied over alice's: the key matches the certificate, the name does not, and
    # the coordinator would refuse "unknown party 'bob'" or take alice's process for bob
    mixed = tmp_path / "mixed"
    shutil.copytree(certs, mixed)
    for suffix in (".pem", ".key"):
        shutil.copy(mixed / "parties" / f"bob{suffix}", mixed / "parties" / f"alice{suffix}")
    with pytest.raises(
        ConfigError, match=r"alice\.pem is the certificate of party 'bob', not of party 'alice'"
    ):
        PartyCredentials.from_directory(mixed, "alice")


def test_a_party_key_of_another_certificate_is_one_config_error_at_loading(
    certs: Path, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(certs, mixed)
    shutil.copy(mixed / "parties" / "bob.key", mixed / "parties" / "alice.key")
    with pytest.raises(ConfigError, match=r"alice\.key is not the private key of the certificate"):
        PartyCredentials.from_directory(mixed, "alice")
    shutil.copy(mixed / "parties" / "bob.key", mixed / "coordinator.key")
    with pytest.raises(ConfigError, match=r"coordinator\.key is not the private key"):
        HubSecurity.from_directory(mixed)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("hello", "named"),
    [
        (lambda instance, welcomed_before: hello_payload(instance, welcomed_before, "0.0.9", 1),
         "runs rengo 0.0.9 .*\\(wire format 1\\) and this coordinator rengo"),
        (lambda instance, welcomed_before: hello_payload(instance, welcomed_before, "9.0", 99),
         "runs rengo 9.0 \\(wire format 99\\) .* upgrade the coordinator to party alice's "
         "rengo 9.0"),
        (lambda instance, welcomed_before: instance.encode(),  # a release before the tag
         "runs an earlier rengo build whose hello names no release \\(no wire format\\) and "
         f"this coordinator rengo {__version__} .* install this build of rengo {__version__} "
         f"\\(wire format {WIRE_FORMAT}\\) for party alice"),
    ],
    ids=["older-format", "newer-format", "untagged-hello"],
)  # fmt: skip
def test_a_party_of_another_wire_format_is_refused_at_hello_naming_both(
    hub: GrpcHub, certs: Path, monkeypatch: pytest.MonkeyPatch, hello: object, named: str
) -> None:
    """Coordinator and parties whose messages differ met mid-protocol: a party whose roles'
    messages had changed failed the run with a decoding error, or waited for a message that
    never came."""
    import rengo.transport.grpc_party as grpc_party

    monkeypatch.setattr(grpc_party, "hello_payload", hello)
    conn = PartyConnection(
        hub.address, "alice", PartyCredentials.from_directory(certs, "alice"), backoff=FAST
    )
    with pytest.raises(ReleaseMismatchError, match=named) as refused:
        conn.run()
    assert f"rengo {__version__} (wire format {WIRE_FORMAT})" in str(refused.value)
    assert hub.client_ids() == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("welcome", "named"),
    [
        (lambda run_id: welcome_payload(run_id, "0.0.9", 1),
         "the coordinator runs rengo 0.0.9 .*\\(wire format 1\\)"),
        (lambda run_id: run_id.encode() + b" rengo/" + __version__.encode(),
         f"the coordinator runs rengo {__version__} of a build before wire formats were "
         "numbered \\(wire format 1\\)"),
        (lambda run_id: run_id.encode(),  # a release whose welcome named none
         "the coordinator runs an earlier rengo build whose welcome names no release"),
    ],
    ids=["older-format", "same-release-before-formats", "untagged-welcome"],
)  # fmt: skip
def test_a_coordinator_of_another_wire_format_is_refused_by_the_party_at_welcome(
    hub: GrpcHub, certs: Path, monkeypatch: pytest.MonkeyPatch, welcome: object, named: str
) -> None:
    """A coordinator of an earlier release admitted a party of this one (it reads no
    release in a hello), and the run failed mid-protocol: ``unknown node tag 'bmap'`` after
    PSI in a vertical run. A coordinator built before wire formats, of the same release
    0.1.0, admitted every party of 0.1.0 whatever its build."""
    import rengo.transport.grpc_hub as grpc_hub

    monkeypatch.setattr(grpc_hub, "welcome_payload", welcome)
    conn = PartyConnection(
        hub.address, "alice", PartyCredentials.from_directory(certs, "alice"), backoff=FAST
    )
    with pytest.raises(ReleaseMismatchError, match=named) as refused:
        conn.run()
    assert f"party alice rengo {__version__} (wire format {WIRE_FORMAT})" in str(refused.value)


@pytest.mark.parametrize("release", ["0.1.0", "2.3.4.dev5+g1a2b3c"])
def test_a_welcome_gives_back_its_run_id_release_and_wire_format(release: str) -> None:
    run_id = "20261205-233354-bde225"
    assert parse_welcome(welcome_payload(run_id, release)) == (run_id, release, WIRE_FORMAT)
    assert parse_welcome(welcome_payload(run_id, release, 7)) == (run_id, release, 7)
    assert parse_welcome(f"{run_id} rengo/{release}".encode()) == (run_id, release, 1)
    assert parse_welcome(run_id.encode()) == (run_id, None, None)
    assert parse_welcome(b"") == (None, None, None)


@pytest.mark.parametrize("rejoining", [False, True])
@pytest.mark.parametrize("release", ["0.1.0", "2.3.4.dev5+g1a2b3c"])
def test_a_hello_gives_back_its_instance_release_wire_format_and_rejoining_flag(
    release: str, rejoining: bool
) -> None:
    payload = hello_payload("0123456789abcdef", rejoining, release)
    assert len(payload) <= HELLO_LIMIT
    assert parse_hello(payload) == (b"0123456789abcdef", rejoining, release, WIRE_FORMAT)
    assert parse_hello(b"0123456789abcdef" + REJOINING * rejoining) == (
        b"0123456789abcdef", rejoining, None, None,
    )  # fmt: skip
    named_release_only = f"0123456789abcdef rengo/{release}".encode() + REJOINING * rejoining
    assert parse_hello(named_release_only) == (b"0123456789abcdef", rejoining, release, 1)
