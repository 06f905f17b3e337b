"""Secrets sealed under a passphrase (rengo.crypto.sealing): damaged files are DataError."""

from __future__ import annotations

import json

import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.crypto.sealing import seal, unseal

PASSPHRASE = "correct horse battery"


def _open(record: dict[str, object]) -> bytes:
    return unseal(json.dumps(record).encode(), PASSPHRASE, b"ctx", what="keys.sealed")


def test_a_sealed_secret_opens_only_with_its_passphrase_and_context() -> None:
    sealed = seal(b"key material", PASSPHRASE, b"ctx")
    assert unseal(sealed, PASSPHRASE, b"ctx", what="keys.sealed") == b"key material"
    with pytest.raises(ConfigError, match="does not open"):
        unseal(sealed, "another passphrase", b"ctx", what="keys.sealed")
    with pytest.raises(ConfigError, match="does not open"):
        unseal(sealed, PASSPHRASE, b"other", what="keys.sealed")


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": ""},
        {"salt": ""},
        {"ciphertext": ""},
        {"kdf": {"name": "scrypt", "n": 3, "r": 8, "p": 1}},  # not a power of 2
        {"kdf": {"name": "scrypt", "n": 2**40, "r": 8, "p": 1}},  # 1 PiB
        {"kdf": {"name": "scrypt", "n": 2**20, "r": 8, "p": 1}},  # 1 GiB: feasible, refused
        {"kdf": {"name": "scrypt", "n": 2**15, "r": 8, "p": 64}},
        {"kdf": {"name": "scrypt", "n": 2.0**15, "r": 8, "p": 1}},
        {"kdf": {"name": "scrypt", "n": 2**15, "r": 8, "p": True}},
        {"kdf": ["scrypt"]},
    ],
)
def test_damaged_files_and_foreign_scrypt_parameters_are_data_errors_before_deriving(
    change, monkeypatch
) -> None:
    record = json.loads(seal(b"key material", PASSPHRASE, b"ctx"))
    record.update(change)
    derived: list[int] = []
    monkeypatch.setattr("rengo.crypto.sealing._key", lambda *args: derived.append(1) or b"k" * 32)
    with pytest.raises(DataError, match=r"keys\.sealed is not a sealed secret"):
        _open(record)
    assert not derived
