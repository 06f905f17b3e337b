"""The coordinator on tokens admits only the parties of its allow-list, each with its own
token, as it does on certificates, and takes no token short enough to guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.core.errors import AuthenticationError, ConfigError
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_security import NAME_HEADER, TOKEN_HEADER, HubSecurity

ALICE_TOKEN = "alice-token-0123456789"
BOB_TOKEN = "bob-token-0123456789ab"


class CallMetadata:
    """The part of a gRPC servicer context that token authentication reads."""

    def __init__(self, name: str, token: str) -> None:
        self._metadata = ((NAME_HEADER, name), (TOKEN_HEADER, token))

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, ["alice", "bob"])
    return directory


def test_a_token_holder_left_out_of_the_allow_list_is_refused(certs: Path) -> None:
    """The tokens file names alice and bob, the run admits alice only (--parties): bob's
    right token no longer lets him join a run he was left out of."""
    security = HubSecurity.from_directory(
        certs, tokens={"alice": ALICE_TOKEN, "bob": BOB_TOKEN}, parties=["alice"]
    )
    assert security.authenticate(CallMetadata("alice", ALICE_TOKEN)) == "alice"  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError, match="unknown party 'bob'"):
        security.authenticate(CallMetadata("bob", BOB_TOKEN))  # type: ignore[arg-type]


def test_without_an_allow_list_every_token_holder_is_admitted_by_their_own_token(
    certs: Path,
) -> None:
    security = HubSecurity.from_directory(certs, tokens={"alice": ALICE_TOKEN, "bob": BOB_TOKEN})
    assert security.authenticate(CallMetadata("bob", BOB_TOKEN)) == "bob"  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError, match="bad or missing token for party 'alice'"):
        security.authenticate(CallMetadata("alice", BOB_TOKEN))  # type: ignore[arg-type]


def test_a_token_short_enough_to_guess_is_refused_naming_its_party_not_the_token(
    certs: Path,
) -> None:
    with pytest.raises(ConfigError, match="the token of 'bob' is shorter than 16") as refused:
        HubSecurity.from_directory(certs, tokens={"alice": ALICE_TOKEN, "bob": "b0b"})
    assert "b0b" not in str(refused.value) and "secrets.token_urlsafe" in str(refused.value)
    with pytest.raises(ConfigError, match="shorter than 16"):  # plain text takes no less
        HubSecurity(insecure=True, tokens={"alice": "a"})


def test_a_party_of_the_allow_list_without_a_token_is_refused_before_anyone_joins(
    certs: Path,
) -> None:
    with pytest.raises(ConfigError, match="holds no token for 'bob', named among the run's"):
        HubSecurity.from_directory(certs, tokens={"alice": ALICE_TOKEN}, parties=["alice", "bob"])
    with pytest.raises(ConfigError, match="holds no token for 'bob'"):
        HubSecurity(insecure=True, tokens={"alice": ALICE_TOKEN}, parties=frozenset({"bob"}))
