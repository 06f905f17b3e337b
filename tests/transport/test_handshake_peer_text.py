"""What a peer names in its hello or welcome (its rengo release) is bounded before the other
side logs it or reads the wire format after it: a release with a newline or a terminal
escape could forge whole lines of the coordinator's log (a party holding a valid
certificate, on every connection), and a release over 88 characters pushed the wire format
and the rejoining flag past the 128 bytes the hub reads, so that a party of the same format
was refused as a build before wire formats were numbered. The refusal of a build of the
same release names the wire format to run, not that release."""

from __future__ import annotations

import pytest

from rengo.core.errors import ReleaseMismatchError
from rengo.transport.grpc_wire import (
    HELLO_LIMIT,
    check_coordinator_release,
    check_release,
    hello_payload,
    parse_hello,
    parse_welcome,
    welcome_payload,
)

INSTANCE = "0123456789abcdef"
FORGED = (
    "0.1.1\n2026-12-07 21:00:00 ERROR rengo.transport: party bob sent a poisoned update\x1b[2K\r"
)


def test_a_party_release_with_control_characters_cannot_forge_a_coordinator_log_line() -> None:
    payload = INSTANCE.encode() + b" rengo/" + FORGED.encode() + b" wire/2"
    _, _, release, wire = parse_hello(payload[:HELLO_LIMIT])
    assert wire == 2
    logged = check_release("alice", release, wire, ours="0.1.0", our_wire=2)
    assert logged is not None and "compatible" in logged
    assert not any(ch in logged for ch in "\n\r\x1b")
    assert logged.isprintable()


def test_a_coordinator_release_with_control_characters_is_made_printable_at_the_party() -> None:
    payload = b"RUN-1 rengo/" + FORGED.encode() + b" wire/2"
    run_id, release, wire = parse_welcome(payload)
    assert (run_id, wire) == ("RUN-1", 2)
    logged = check_coordinator_release("alice", release, wire, ours="0.1.0", our_wire=2)
    assert logged is not None and logged.isprintable()


@pytest.mark.parametrize("wire", [2, 12, 999_999_999])
@pytest.mark.parametrize("length", [88, 89, 98, 200])
def test_a_long_release_never_cuts_the_wire_format_or_the_rejoining_flag(
    length: int, wire: int
) -> None:
    release = "0.1.0+" + "x" * (length - 6)
    payload = hello_payload(INSTANCE, True, release=release, wire=wire)
    assert len(payload) <= HELLO_LIMIT
    instance, rejoining, named, spoken = parse_hello(payload[:HELLO_LIMIT])
    assert (instance, rejoining, spoken) == (INSTANCE.encode(), True, wire)
    assert named is not None and release.startswith(named.partition("~")[0])
    assert check_release("alice", named, spoken, ours=release, our_wire=wire) is None


def test_the_refusal_of_a_build_of_the_same_release_names_the_wire_format_to_run() -> None:
    with pytest.raises(ReleaseMismatchError) as at_hub:
        check_release("alice", "0.1.0", 1, ours="0.1.0", our_wire=2)
    assert "party's release" not in str(at_hub.value)
    assert "run the coordinator on a build of wire format 1" in str(at_hub.value)
    with pytest.raises(ReleaseMismatchError) as at_party:
        check_coordinator_release("alice", "0.1.0", 1, ours="0.1.0", our_wire=2)
    assert "coordinator's release" not in str(at_party.value)
    assert "run party alice on a build of wire format 1" in str(at_party.value)


def test_a_coordinator_run_id_with_control_characters_cannot_forge_a_party_log_line() -> None:
    """The welcome's run id reached the party's log context as sent (``run_id=`` on every
    later line of its text log): a coordinator could forge whole lines of every party's log."""
    forged = "20261207-101500-a1b2c3\n2026-12-07T21:00:00 ERROR rengo.transport FORGED\x1b[2K"
    run_id, release, wire = parse_welcome(forged.encode() + b" rengo/0.1.0 wire/2")
    assert run_id is not None and run_id.isprintable() and "\x1b" not in run_id
    assert run_id.startswith("20261207-101500-a1b2c3 2026-12-07T21:00:00 ERROR")
    assert (release, wire) == ("0.1.0", 2)
    assert parse_welcome(b"RUN-1 rengo/0.1.0 wire/2")[0] == "RUN-1"  # an ordinary one kept
    long_id, _, _ = parse_welcome(b"r" * 5000 + b" rengo/0.1.0 wire/2")
    assert long_id is not None and len(long_id) == 128


def test_a_refusal_offers_one_way_out_on_each_machine_whichever_side_is_newer() -> None:
    """A peer of a newer wire format was told to upgrade one machine "or run" that same
    machine on the other format: the second way out named the side already named."""
    with pytest.raises(ReleaseMismatchError) as at_hub:
        check_release("alice", "9.0", 3, ours="0.1.0", our_wire=2)
    said = str(at_hub.value)
    assert "upgrade the coordinator to party alice's rengo 9.0 (wire format 3)" in said
    assert "or run party alice on a build of wire format 2" in said
    with pytest.raises(ReleaseMismatchError) as at_party:
        check_coordinator_release("alice", "9.0", 3, ours="0.1.0", our_wire=2)
    said = str(at_party.value)
    assert "upgrade party alice to the coordinator's rengo 9.0 (wire format 3)" in said
    assert "or run the coordinator on a build of wire format 2" in said
    with pytest.raises(ReleaseMismatchError) as older:  # the older party: as before
        check_release("alice", "0.0.9", 1, ours="0.1.0", our_wire=2)
    assert "upgrade party alice to rengo 0.1.0" in str(older.value)
    assert "or run the coordinator on a build of wire format 1" in str(older.value)


@pytest.mark.parametrize("common", [64, 100])
def test_two_builds_whose_releases_differ_only_past_the_64th_character_are_told_apart(
    common: int,
) -> None:
    """Each side named its release cut to 64 characters, so ``0.1.0+<64 characters>.a``
    and ``...b`` compared as one release: neither log said the releases differ."""
    shared = "0.1.0+" + "g" * (common - 6)
    party, coordinator = shared + ".build-a", shared + ".build-b"
    _, _, named, wire = parse_hello(hello_payload(INSTANCE, False, release=party, wire=2))
    logged = check_release("alice", named, wire, ours=coordinator, our_wire=2)
    assert logged is not None and "the releases differ" in logged
    _, named, wire = parse_welcome(welcome_payload("RUN-1", release=coordinator, wire=2))
    logged = check_coordinator_release("alice", named, wire, ours=party, our_wire=2)
    assert logged is not None and "the releases differ" in logged
    _, _, named, wire = parse_hello(hello_payload(INSTANCE, False, release=party, wire=2))
    assert check_release("alice", named, wire, ours=party, our_wire=2) is None
