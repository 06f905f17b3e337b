"""Ciphertexts are safe on the wire by default: only freshly randomised ones are sent, and
the way out is explicit and named insecure (python-paillier's ``be_secure=True``)."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.codec import decode, encode
from rengo.crypto import (
    EncryptedArray,
    ObfuscatorPool,
    SlotLayout,
    UnrandomizedCiphertextError,
    decrypt_array,
    encrypt_array,
    encrypt_packed,
)
from rengo.crypto.masking import mask_encrypted
from rengo.crypto.randomness import random_source


def test_new_encryptions_rerandomised_and_masked_arrays_are_fresh(keypair):
    public_key, _ = keypair
    enc = encrypt_array(np.arange(3.0), public_key)
    assert enc.fresh
    assert (enc * 2).rerandomize().fresh
    masked, _ = mask_encrypted(enc + 1.0, random_source(1), ObfuscatorPool(public_key))
    assert masked.fresh
    dealt = ObfuscatorPool(public_key).take(3)
    assert encrypt_array(np.ones(3), public_key, obfuscators=dealt).fresh


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a + 1.5,
        lambda a, b: -a,
        lambda a, b: a - b,
        lambda a, b: a * 3,
        lambda a, b: a.multiply(np.array([1.0, 2.0, 3.0])),
        lambda a, b: a @ np.ones((3, 2)),
        lambda a, b: a.sum(),
        lambda a, b: a.rescale(40),
    ],
    ids=["add", "add-plain", "neg", "sub", "mul", "multiply", "matmul", "sum", "rescale"],
)
def test_homomorphic_results_are_not_fresh_and_the_codec_refuses_them(keypair, operation):
    public_key, _ = keypair
    a, b = encrypt_array(np.ones(3), public_key), encrypt_array(np.ones(3), public_key)
    result = operation(a, b)
    assert not result.fresh
    with pytest.raises(UnrandomizedCiphertextError, match=r"rerandomize\(pool\)"):
        encode({"gradient": result})


def test_views_keep_freshness_and_received_arrays_are_not_fresh(keypair):
    public_key, private_key = keypair
    enc = encrypt_array(np.arange(6.0).reshape(2, 3), public_key)
    for view in (enc[0], enc.T, enc.reshape(6), enc.ravel()):
        assert view.fresh
    received = decode(encode(enc))
    assert isinstance(received, EncryptedArray) and not received.fresh
    np.testing.assert_array_equal(
        decrypt_array(received, private_key), np.arange(6.0).reshape(2, 3)
    )
    with pytest.raises(UnrandomizedCiphertextError):
        encode(received)  # a party cannot vouch for the randomness of what it received


def test_the_explicit_insecure_opt_out_sends_the_same_ciphertexts(keypair):
    public_key, private_key = keypair
    total = encrypt_array(np.ones(2), public_key) + 2.0
    opted = total.insecure_unrandomized()
    sent = decode(encode(opted))
    assert [int(c) for c in sent.ciphertexts] == [int(c) for c in total.ciphertexts]
    np.testing.assert_array_equal(decrypt_array(sent, private_key), [3.0, 3.0])
    assert not (opted + 1.0).sendable  # the opt-out covers this array only


def test_packed_sums_must_be_rerandomised_before_sending(keypair):
    public_key, _ = keypair
    layout = SlotLayout(precision_bits=16, value_bits=4, headroom_bits=4)
    packed = encrypt_packed(np.linspace(-1, 1, 8), public_key, layout)
    assert packed.fresh
    encode(packed)
    total = packed + packed
    with pytest.raises(UnrandomizedCiphertextError, match="packed"):
        encode(total)
    encode(total.rerandomize())
    encode(total.times(3).insecure_unrandomized())
