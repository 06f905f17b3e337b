"""Secrets at rest under a passphrase: scrypt (RFC 7914) then AES-256-GCM (NIST SP 800-38D).

For key material a role must keep on disk between two processes of one run (the vertical
coordinator's Paillier private key in a resumable run's checkpoint). Why a passphrase and not
the party's TLS key: a deployment may authenticate with tokens or run without TLS, the TLS
key usually sits beside the checkpoint (the same disk, the same thief), and a renewed
certificate would make every checkpoint unreadable; a passphrase the operator keeps apart
(an environment variable filled from a secret manager) has none of these faults.

A sealed secret is UTF-8 JSON: the format tag, scrypt's parameters and salt, the GCM nonce
and the ciphertext with its tag (base64). ``context`` is authenticated but not stored: a
secret sealed for one run and role does not open for another.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from rengo.core.errors import ConfigError, DataError

FORMAT = "rengo-sealed/1"
SCRYPT_N = 2**15
"""scrypt's cost (about 30 ms and 32 MiB per derivation): OWASP's interactive minimum."""
SCRYPT_R, SCRYPT_P = 8, 1
ACCEPTED_SCRYPT_PARAMETERS = frozenset({(SCRYPT_N, SCRYPT_R, SCRYPT_P)})
"""The ``(n, r, p)`` :func:`unseal` derives with: those rengo writes (should the defaults
rise, the old ones stay here). A file's own parameters are not trusted: whoever can write it
could make opening it take any time and memory."""
SALT_BYTES, NONCE_BYTES, TAG_BYTES = 16, 12, 16
MIN_PASSPHRASE = 8


def passphrase_bytes(passphrase: str | bytes) -> bytes:
    """``passphrase`` as bytes, once it is long enough to seal with (check it before a run
    starts, not when its key is first sealed).

    Parameters
    ----------
    passphrase
        The sealing passphrase.

    Returns
    -------
    bytes
        Its UTF-8 bytes.

    Raises
    ------
    ConfigError
        If it is shorter than :data:`MIN_PASSPHRASE` bytes.
    """
    secret = passphrase.encode() if isinstance(passphrase, str) else bytes(passphrase)
    if len(secret) < MIN_PASSPHRASE:
        raise ConfigError(
            f"the passphrase that seals key material must have at least {MIN_PASSPHRASE} characters"
        )
    return secret


def _key(passphrase: str | bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    secret = passphrase_bytes(passphrase)
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)


def seal(secret: bytes, passphrase: str | bytes, context: bytes) -> bytes:
    """``secret`` encrypted under a key derived from ``passphrase``, bound to ``context``.

    Parameters
    ----------
    secret
        What to protect.
    passphrase
        At least 8 characters; a long random one in practice.
    context
        Authenticated, not stored (e.g. the run id and the role): opening needs the same.

    Returns
    -------
    bytes
        The sealed secret (UTF-8 JSON).

    Raises
    ------
    ConfigError
        If the passphrase is too short.
    """
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    key = _key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    record: dict[str, Any] = {
        "format": FORMAT,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(AESGCM(key).encrypt(nonce, secret, context)).decode(),
    }
    return json.dumps(record).encode()


def unseal(sealed: bytes, passphrase: str | bytes, context: bytes, *, what: str) -> bytes:
    """The secret :func:`seal` protected.

    Parameters
    ----------
    sealed
        What :func:`seal` returned.
    passphrase, context
        The same as when sealing.
    what
        Names the secret in errors (a file).

    Returns
    -------
    bytes
        The secret.

    Raises
    ------
    ConfigError
        If the passphrase is wrong (or the secret was sealed for another context).
    DataError
        If ``sealed`` is not a sealed secret (damaged or another file): among others, scrypt
        parameters other than :data:`ACCEPTED_SCRYPT_PARAMETERS` (refused before deriving) or
        a salt, nonce or ciphertext of a length :func:`seal` does not write.
    """
    try:
        record = json.loads(sealed)
        if record.get("format") != FORMAT or record["kdf"].get("name") != "scrypt":
            raise ValueError(f"unknown format {record.get('format')!r}")
        kdf = record["kdf"]
        salt, nonce, body = (
            base64.b64decode(record[k], validate=True) for k in ("salt", "nonce", "ciphertext")
        )
        n, r, p = kdf["n"], kdf["r"], kdf["p"]
        if (
            any(type(v) is not int for v in (n, r, p))
            or (n, r, p) not in ACCEPTED_SCRYPT_PARAMETERS
        ):
            raise ValueError(f"scrypt parameters n={n!r}, r={r!r}, p={p!r} are not rengo's")
        if len(salt) != SALT_BYTES or len(nonce) != NONCE_BYTES or len(body) < TAG_BYTES:
            raise ValueError(
                f"a {len(salt)}-byte salt, a {len(nonce)}-byte nonce and a {len(body)}-byte "
                f"ciphertext (rengo writes {SALT_BYTES}, {NONCE_BYTES} and at least {TAG_BYTES})"
            )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DataError(f"{what} is not a sealed secret: {exc}") from exc
    try:
        return AESGCM(_key(passphrase, salt, n, r, p)).decrypt(nonce, body, context)
    except InvalidTag:
        raise ConfigError(
            f"{what} does not open with this passphrase (wrong passphrase, or sealed for "
            "another run or role)"
        ) from None
