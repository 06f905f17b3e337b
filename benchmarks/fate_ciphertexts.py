"""Reading FATE 2.2's serialised Paillier values (runs inside the FATE bench venv).

FATE's ``fate_utils`` (Rust) serialises a public key as its integers (the first is n) and a
``CiphertextVector`` as a u64 count followed, per ciphertext, by the integer and an i32
fixed-point exponent; each integer is a u32 radix (10 or 16), a u64 length and its digits.
A ciphertext of the unrandomised form ``1 + n*m (mod n^2)`` satisfies ``(c - 1) mod n == 0``
and gives its plaintext to anyone with the public key. Imported by the FATE-side benchmark
scripts (no rengo import here: this module runs under the bench venv's interpreter).
"""

import struct


def integer_at(state: bytes, offset: int) -> tuple:
    """``(value, next offset)`` of the serialised integer at ``offset``."""
    radix, length = struct.unpack_from("<IQ", state, offset)
    text = state[offset + 12 : offset + 12 + length]
    if radix not in (10, 16) or not text or len(text) != length:
        raise ValueError(f"no serialised integer at byte {offset}")
    return int(text.decode(), radix), offset + 12 + length


def public_modulus(state: bytes) -> int:
    """n, the first integer of a serialised public key."""
    return integer_at(state, 0)[0]


def ciphertext_vector(state: bytes) -> list:
    """Every ciphertext integer of a serialised ``CiphertextVector``."""
    count = struct.unpack_from("<Q", state, 0)[0]
    out, offset = [], 8
    for _ in range(count):
        value, offset = integer_at(state, offset)
        out.append(value)
        offset += 4  # the exponent
    if offset != len(state):
        raise ValueError(f"{len(state) - offset} unparsed bytes after {count} ciphertexts")
    return out


def unrandomised(ciphertexts: list, modulus: int) -> int:
    """How many ciphertexts have the form 1 + n*m (no randomness at all)."""
    return sum((c - 1) % modulus == 0 for c in ciphertexts)


def count_encryptions(out_dir: str, every: int = 500) -> None:
    """Wrap FATE's Paillier ``PK.encrypt_encoded`` in this process: count the ciphertexts it
    makes, those made with ``obfuscate=True``, and those of the form 1 + n*m; the totals go
    to ``<out_dir>/encryptions-<pid>.json`` every ``every`` calls (FATE runs ``apply_row``
    in spawned worker processes: install this in each, e.g. from a ``sitecustomize``)."""
    import json
    import os

    from fate.arch.protocol.phe import paillier

    original = paillier.PK.encrypt_encoded
    totals = {"calls": 0, "ciphertexts": 0, "obfuscate_requested": 0, "unrandomised": 0}
    path = os.path.join(out_dir, f"encryptions-{os.getpid()}.json")

    def encrypt_encoded(pk, vec, obfuscate):  # type: ignore[no-untyped-def]
        out = original(pk, vec, obfuscate)
        try:
            cts = ciphertext_vector(bytes(out.__getstate__()))
            n = public_modulus(bytes(pk.pk.__getstate__()))
            totals["calls"] += 1
            totals["ciphertexts"] += len(cts)
            totals["obfuscate_requested"] += len(cts) if obfuscate else 0
            totals["unrandomised"] += unrandomised(cts, n)
            if totals["calls"] % every == 1:
                with open(path, "w") as handle:
                    json.dump(totals, handle)
        except Exception:  # an inspection failure must not stop FATE
            pass
        return out

    paillier.PK.encrypt_encoded = encrypt_encoded
