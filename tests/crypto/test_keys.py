from __future__ import annotations

import gmpy2
import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.crypto import ObfuscatorPool, PaillierPrivateKey, generate_paillier_keypair
from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.randomness import InsecureSeededSource


def test_keypair_has_exact_bit_length_and_factors(keypair):
    public_key, private_key = keypair
    assert public_key.bits == 1024
    assert private_key.p * private_key.q == public_key.n
    assert private_key.p < private_key.q
    assert public_key.ciphertext_bytes == 256


def test_2048_bit_keygen_works():
    public_key, private_key = generate_paillier_keypair()
    assert public_key.bits == 2048
    assert private_key.raw_decrypt(public_key.raw_encrypt(12345, 1)) == 12345


def test_seeded_keygen_is_reproducible_and_unseeded_is_not():
    assert generate_paillier_keypair(512, seed=3)[0] == generate_paillier_keypair(512, seed=3)[0]
    assert generate_paillier_keypair(512)[0] != generate_paillier_keypair(512)[0]


def test_unsupported_key_size_is_refused():
    with pytest.raises(ValueError, match="key size"):
        generate_paillier_keypair(1000)


def test_crt_decryption_matches_textbook_paillier(keypair):
    public_key, private_key = keypair
    n, n2 = int(public_key.n), int(public_key.nsquare)
    lam = int(gmpy2.lcm(private_key.p - 1, private_key.q - 1))
    mu = pow((pow(n + 1, lam, n2) - 1) // n, -1, n)
    rng = InsecureSeededSource(1)
    for m in (0, 1, n - 1, int(rng.randbelow(n))):
        c = public_key.raw_encrypt(m, public_key.raw_obfuscator(rng))
        textbook = (pow(int(c), lam, n2) - 1) // n * mu % n
        assert private_key.raw_decrypt(c) == textbook == m


def test_raw_ciphertexts_add_homomorphically(keypair):
    public_key, private_key = keypair
    rng = InsecureSeededSource(2)
    a = public_key.raw_encrypt(17, public_key.raw_obfuscator(rng))
    b = public_key.raw_encrypt(25, public_key.raw_obfuscator(rng))
    assert private_key.raw_decrypt(a * b % public_key.nsquare) == 42


@pytest.mark.parametrize("method", ["standard", "crt", "djn-fixed-base"])
def test_obfuscators_are_fresh_nth_residues(keypair, method):
    public_key, private_key = keypair
    pool = ObfuscatorPool(
        public_key,
        private_key=private_key if method == "crt" else None,
        short_exponent_bits=256 if method == "djn-fixed-base" else None,
        seed=5,
    )
    assert pool.method == method
    obfuscators = pool.take(20)
    lam = gmpy2.lcm(private_key.p - 1, private_key.q - 1)
    for r in obfuscators:
        assert private_key.raw_decrypt(r) == 0  # an encryption of zero
        assert gmpy2.powmod(r, lam, public_key.nsquare) == 1  # in the n-th residue subgroup
    assert len(set(int(r) for r in obfuscators)) == 20


def test_pool_serves_precomputed_stock_first_then_makes_more(keypair):
    public_key, _ = keypair
    pool = ObfuscatorPool(public_key, seed=9)
    pool.fill(10)
    assert len(pool) == 10
    first = pool.take(4)
    assert len(pool) == 6
    rest = pool.take(9)  # 6 from stock, 3 made now
    assert len(pool) == 0
    assert len(first) == 4 and len(rest) == 9
    assert not set(map(int, first)) & set(map(int, rest))


def test_pool_fill_over_threads_gives_valid_obfuscators(keypair):
    public_key, private_key = keypair
    pool = ObfuscatorPool(public_key, private_key=private_key, seed=4, workers=2)
    pool.fill(64)
    values = pool.take(64)
    assert all(private_key.raw_decrypt(r) == 0 for r in values)


def test_short_exponents_refused_for_key_holder_and_when_too_short(keypair):
    public_key, private_key = keypair
    with pytest.raises(ConfigError):
        ObfuscatorPool(public_key, private_key=private_key, short_exponent_bits=512)
    with pytest.raises(ConfigError):
        ObfuscatorPool(public_key, short_exponent_bits=64)


def test_private_key_refuses_wrong_factors(keypair):
    public_key, private_key = keypair
    with pytest.raises(ValueError):
        PaillierPrivateKey(public_key, private_key.p, private_key.p)
    with pytest.raises(ValueError):
        PaillierPublicKey(np.int64(10))


def test_private_key_refuses_factors_that_are_not_primes_above_one(keypair):
    public_key, private_key = keypair
    with pytest.raises(ValueError, match="primes"):
        PaillierPrivateKey(public_key, -private_key.p, -private_key.q)
    with pytest.raises(ValueError, match="primes"):  # 3 * 5 * 7: a composite "factor"
        PaillierPrivateKey(PaillierPublicKey(gmpy2.mpz(105)), 3, 35)
