from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from rengo.core.codec import MAGIC, decode, encode
from rengo.core.errors import CodecError, DataError
from rengo.crypto import (
    EncryptedArray,
    PackedEncryptedVector,
    PaillierPublicKey,
    SlotLayout,
    decrypt_packed,
    encrypt_array,
    encrypt_packed,
    load_private_key,
    private_key_from_bytes,
    private_key_to_bytes,
    save_private_key,
)


def _payload(tree: object, buffers: list[bytes]) -> bytes:
    """A hand-built codec payload, to feed the decoder hostile content."""
    header = json.dumps({"tree": tree, "bufs": [len(b) for b in buffers]}).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(buffers)


def _array_tree(n_bytes: int, shape: list, exponent: object = 32) -> dict:
    return {
        "$t": "ext",
        "n": "rengo.paillier.EncryptedArray",
        "v": {
            "$t": "map",
            "v": {
                "key": {
                    "$t": "ext",
                    "n": "rengo.paillier.PublicKey",
                    "v": {"$t": "map", "v": {"n": {"$t": "bytes", "b": 0}}},
                },
                "shape": shape,
                "exponent": exponent,
                "ct": {"$t": "bytes", "b": 1},
            },
        },
    }


def test_public_key_round_trips_through_codec(keypair):
    public_key, _ = keypair
    decoded = decode(encode(public_key))
    assert isinstance(decoded, PaillierPublicKey) and decoded == public_key


def test_encrypted_array_round_trips_with_fixed_width_ciphertexts(keypair):
    public_key, private_key = keypair
    values = np.random.default_rng(0).normal(size=(2, 3))
    enc = (encrypt_array(values, public_key, precision_bits=24) * 3).rerandomize()
    data = encode({"gradient": enc})
    assert len(data) > 6 * public_key.ciphertext_bytes
    decoded = decode(data)["gradient"]
    assert isinstance(decoded, EncryptedArray)
    assert decoded.shape == (2, 3) and decoded.exponent == 24
    assert decoded.public_key == public_key
    assert [int(c) for c in decoded.ciphertexts.ravel()] == [
        int(c) for c in enc.ciphertexts.ravel()
    ]
    np.testing.assert_array_equal(decoded.decrypt(private_key), enc.decrypt(private_key))


def test_scalar_and_empty_arrays_round_trip(keypair):
    public_key, private_key = keypair
    scalar = decode(encode(encrypt_array(2.5, public_key)))
    assert scalar.shape == () and scalar.decrypt(private_key) == 2.5
    empty = decode(encode(encrypt_array(np.zeros((0, 4)), public_key)))
    assert empty.shape == (0, 4)


def test_packed_vector_round_trips(keypair):
    public_key, private_key = keypair
    layout = SlotLayout(precision_bits=16, value_bits=4, headroom_bits=4)
    values = np.linspace(-10, 10, 50)
    packed = encrypt_packed(values, public_key, layout)
    packed = (packed + packed).rerandomize()
    decoded = decode(encode(packed))
    assert isinstance(decoded, PackedEncryptedVector) and decoded.terms == 2
    np.testing.assert_allclose(decrypt_packed(decoded, private_key), 2 * values, atol=2.0**-15)


def test_ciphertext_not_below_n_squared_is_rejected(keypair):
    public_key, _ = keypair
    n_bytes = int(public_key.n).to_bytes(128, "big")
    too_big = int(public_key.nsquare).to_bytes(public_key.ciphertext_bytes, "big")
    with pytest.raises(CodecError, match=r"n\^2"):
        decode(_payload(_array_tree(128, [1]), [n_bytes, too_big]))
    zero = bytes(public_key.ciphertext_bytes)
    with pytest.raises(CodecError):
        decode(_payload(_array_tree(128, [1]), [n_bytes, zero]))


@pytest.mark.parametrize(
    ("shape", "ct_len", "exponent"),
    [([2], 1, 32), ([1], 300, 32), ([-1], 256, 32), ([1], 256, "32"), ([1], 256, -1)],
)
def test_malformed_encrypted_arrays_are_rejected(keypair, shape, ct_len, exponent):
    public_key, _ = keypair
    n_bytes = int(public_key.n).to_bytes(128, "big")
    ct = (1).to_bytes(ct_len, "big")
    with pytest.raises(CodecError):
        decode(_payload(_array_tree(128, shape, exponent), [n_bytes, ct]))


def test_tiny_or_even_moduli_are_rejected():
    tree = {
        "$t": "ext",
        "n": "rengo.paillier.PublicKey",
        "v": {"$t": "map", "v": {"n": {"$t": "bytes", "b": 0}}},
    }
    with pytest.raises(CodecError):
        decode(_payload(tree, [(35).to_bytes(1, "big")]))
    with pytest.raises(CodecError):
        decode(_payload(tree, [(2**600).to_bytes(76, "big")]))


def test_private_key_saves_to_disk_and_reloads(keypair, tmp_path):
    _, private_key = keypair
    path = tmp_path / "key.json"
    save_private_key(private_key, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_private_key(path) == private_key
    with pytest.raises(CodecError):
        encode(private_key)  # never on the wire


@pytest.mark.parametrize(
    "change",
    [
        {"p": "-{p}", "q": "-{q}"},  # negative factors: the product is still n
        {"format": "{format}", "n": "f", "p": "3", "q": "5"},  # a 4-bit key
        {"p": "0x{p}"},
        {"p": " {p}"},
        {"p": "{p}\n"},
    ],
)
def test_private_key_file_with_bad_factors_tiny_modulus_or_loose_hex_is_refused(keypair, change):
    _, private_key = keypair
    record = json.loads(private_key_to_bytes(private_key))
    edited = {**record, **{key: value.format(**record) for key, value in change.items()}}
    with pytest.raises(DataError):
        private_key_from_bytes(json.dumps(edited).encode())


def test_saved_private_key_is_owner_only_even_over_a_wider_file_or_a_symlink(keypair, tmp_path):
    _, private_key = keypair
    wide = tmp_path / "wide.json"
    wide.write_bytes(b"old")
    wide.chmod(0o644)
    save_private_key(private_key, wide)
    assert wide.stat().st_mode & 0o777 == 0o600
    assert load_private_key(wide) == private_key
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"unrelated")
    link = tmp_path / "link.json"
    link.symlink_to(elsewhere)
    save_private_key(private_key, link)
    assert elsewhere.read_bytes() == b"unrelated"  # the link is replaced, not followed
    assert not link.is_symlink() and link.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", "link.json", "wide.json"]


def test_corrupt_private_key_file_is_refused(keypair):
    _, private_key = keypair
    record = json.loads(private_key_to_bytes(private_key))
    record["p"] = format(int(private_key.p) + 2, "x")
    with pytest.raises(DataError):
        private_key_from_bytes(json.dumps(record).encode())
    with pytest.raises(DataError):
        private_key_from_bytes(b"not json")


def test_a_process_that_imports_only_a_paillier_class_can_send_and_receive_it() -> None:
    """The codec learned the Paillier types only when rengo.crypto.wire was imported, which
    `from rengo.crypto import EncryptedArray` does not do: a user's own protocol failed with
    "cannot encode values of type PaillierPublicKey" (and this file failed run on its own)."""
    import subprocess
    import sys

    probe = (
        "from rengo.core.codec import decode, encode\n"
        "from rengo.crypto import decrypt_array, encrypt_array, generate_paillier_keypair\n"
        "import numpy as np\n"
        "public, private = generate_paillier_keypair(512)\n"
        "sent = encrypt_array(np.array([1.5, -2.0]), public)\n"
        "back = decode(encode({'key': public, 'x': sent}))\n"
        "print(type(back['key']).__name__, decrypt_array(back['x'], private).tolist())\n"
    )
    said = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert said.split()[0] == "PaillierPublicKey" and "1.5" in said and "-2.0" in said
