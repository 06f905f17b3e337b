"""Obfuscator schemes: valid encryptions of zero, the assumption each names, pools that use
them, and background filling (the offline phase)."""

from __future__ import annotations

import threading

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz

from rengo.core.errors import ConfigError
from rengo.crypto import (
    EncryptedArray,
    FixedBaseTable,
    FullExponentObfuscators,
    KeyHolderObfuscators,
    ObfuscatorPool,
    ObfuscatorProcesses,
    PaillierPublicKey,
    ShortExponentObfuscators,
    decrypt_array,
    djn_default_exponent_bits,
    encrypt_array,
    local_exponent_bits,
    obfuscator_scheme,
)
from rengo.crypto.obfuscator_schemes import MIN_SHORT_EXPONENT_BITS, kangaroo_exponent_bits
from rengo.crypto.randomness import InsecureSeededSource, SystemRandomSource


def _schemes(keypair):
    public_key, private_key = keypair
    rng = InsecureSeededSource(3)
    return {
        "standard": FullExponentObfuscators(public_key),
        "crt": KeyHolderObfuscators(private_key),
        "djn-fixed-base": ShortExponentObfuscators.create(public_key, rng),
        "djn-short-exponent": ShortExponentObfuscators.create(
            public_key, rng, fixed_base_table=False
        ),
    }


@pytest.mark.parametrize("name", ["standard", "crt", "djn-fixed-base", "djn-short-exponent"])
def test_every_scheme_makes_distinct_encryptions_of_zero_in_the_nth_residues(keypair, name):
    public_key, private_key = keypair
    scheme = _schemes(keypair)[name]
    assert scheme.name == name
    values = scheme.generate(40, InsecureSeededSource(8), workers=2)
    lam = gmpy2.lcm(private_key.p - 1, private_key.q - 1)
    assert len(values) == 40 and len({int(v) for v in values}) == 40
    for value in values:
        assert 0 < value < public_key.nsquare
        assert private_key.raw_decrypt(value) == 0
        assert gmpy2.powmod(value, lam, public_key.nsquare) == 1


@pytest.mark.parametrize("name", ["standard", "crt", "djn-fixed-base", "djn-short-exponent"])
def test_encrypted_arrays_round_trip_with_every_scheme(keypair, name):
    public_key, private_key = keypair
    pool = ObfuscatorPool(public_key, scheme=_schemes(keypair)[name], seed=2)
    values = np.random.default_rng(0).normal(scale=50, size=(6, 5))
    encrypted = encrypt_array(values, public_key, pool=pool)
    np.testing.assert_allclose(decrypt_array(encrypted, private_key), values, atol=2**-30)
    total = (encrypted + encrypted.rerandomize(pool)).sum(axis=0)
    np.testing.assert_allclose(decrypt_array(total, private_key), 2 * values.sum(axis=0))


def test_short_exponent_obfuscators_are_powers_of_the_schemes_base(keypair):
    """h_s^a with a < 2^l: replaying the seeded draw of the table gives each exponent."""
    public_key, private_key = keypair
    scheme = ShortExponentObfuscators.create(public_key, InsecureSeededSource(1))
    bits = scheme.exponent_bits
    values = scheme.generate(5, InsecureSeededSource(9))
    raw = int(InsecureSeededSource(9).randbits(bits * 5)).to_bytes(bits * 5 // 8, "little")
    step = bits // 8
    exponents = [int.from_bytes(raw[k * step : (k + 1) * step], "little") for k in range(5)]
    assert [int(v) for v in values] == [
        pow(int(scheme.base), e, int(public_key.nsquare)) for e in exponents
    ]
    # the base itself is an n-th power of -x^2, i.e. an encryption of zero
    assert private_key.raw_decrypt(scheme.base) == 0


@pytest.mark.parametrize(("bits", "expected"), [(1024, 512), (2048, 1024), (3072, 1536)])
def test_djn_default_exponent_is_half_the_modulus_length(bits, expected):
    fake = PaillierPublicKey(mpz(2) ** (bits - 1) + 1)
    assert djn_default_exponent_bits(fake) == expected


@pytest.mark.parametrize(
    ("bits", "expected"), [(512, 224), (1024, 224), (2048, 224), (3072, 256), (4096, 304)]
)
def test_kangaroo_rule_exponent_is_twice_the_security_level(bits, expected):
    fake = PaillierPublicKey(mpz(2) ** (bits - 1) + 1)
    assert kangaroo_exponent_bits(fake) == expected
    assert kangaroo_exponent_bits(fake) <= djn_default_exponent_bits(fake)


def test_each_scheme_names_the_assumption_it_rests_on(keypair):
    schemes = _schemes(keypair)
    assert schemes["standard"].assumption == "dcr"
    assert schemes["crt"].assumption == "dcr"
    assert schemes["djn-fixed-base"].assumption == "dcr+short-exponent"
    assert schemes["djn-short-exponent"].assumption == "dcr+short-exponent"
    public_key, _ = keypair
    pool = ObfuscatorPool(public_key, short_exponent_bits=256, seed=1)
    assert pool.assumption == "dcr+short-exponent" and pool.method == "djn-fixed-base"
    assert ObfuscatorPool(public_key).assumption == "dcr"


def test_scheme_factory_picks_by_assumption_and_role(keypair):
    public_key, private_key = keypair
    rng = InsecureSeededSource(4)
    assert isinstance(obfuscator_scheme(public_key, rng), FullExponentObfuscators)
    djn = obfuscator_scheme(public_key, rng, assumption="dcr+short-exponent")
    assert isinstance(djn, ShortExponentObfuscators) and djn.table is not None
    # the key holder keeps CRT: DCR alone, and faster than anything public
    holder = obfuscator_scheme(
        public_key, rng, assumption="dcr+short-exponent", private_key=private_key
    )
    assert isinstance(holder, KeyHolderObfuscators)


def test_scheme_factory_refuses_unclear_requests(keypair):
    public_key, _ = keypair
    rng = InsecureSeededSource(4)
    with pytest.raises(ConfigError, match="assumption"):
        obfuscator_scheme(public_key, rng, assumption="ddh")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="short-exponent"):
        obfuscator_scheme(public_key, rng, exponent_bits=512)
    with pytest.raises(ConfigError, match=str(MIN_SHORT_EXPONENT_BITS)):
        ShortExponentObfuscators.create(public_key, rng, exponent_bits=128)
    # numpy's Generator (rengo's usual rng elsewhere) failed deep in the DJN path with an
    # AttributeError; leaving rng out takes the OS CSPRNG
    with pytest.raises(ConfigError, match=r"rng must draw big integers.*Generator"):
        obfuscator_scheme(public_key, np.random.default_rng(0), assumption="dcr+short-exponent")
    default = obfuscator_scheme(public_key, assumption="dcr+short-exponent")
    assert isinstance(default, ShortExponentObfuscators)


def test_table_of_another_base_is_refused(keypair):
    public_key, _ = keypair
    scheme = ShortExponentObfuscators.create(public_key, InsecureSeededSource(1))
    other = FixedBaseTable.build(scheme.base + 1, public_key.nsquare, scheme.exponent_bits)
    with pytest.raises(ConfigError, match="another base"):
        ShortExponentObfuscators(public_key, scheme.base, scheme.exponent_bits, other)


def test_pool_refuses_a_scheme_together_with_key_options(keypair):
    public_key, private_key = keypair
    with pytest.raises(ConfigError):
        ObfuscatorPool(
            public_key, private_key=private_key, scheme=KeyHolderObfuscators(private_key)
        )


def test_background_fill_serves_take_without_making_any_on_demand(keypair):
    public_key, private_key = keypair
    with ObfuscatorPool(public_key, private_key=private_key, seed=6) as pool:
        future = pool.fill_in_background(30)
        values = pool.take(25)  # waits for the fill in flight instead of making its own
        assert future.done()
        assert pool.stats.made_ahead == 30 and pool.stats.made_on_demand == 0
        assert len(pool) == 5
        more = pool.take(8)  # 5 from stock, 3 now
        assert pool.stats.made_on_demand == 3 and pool.stats.taken == 33
    assert all(private_key.raw_decrypt(v) == 0 for v in [*values, *more])
    assert len({int(v) for v in [*values, *more]}) == 33


def test_replenishing_makes_again_in_the_background_what_was_taken_since_last_time(keypair):
    public_key, private_key = keypair
    with ObfuscatorPool(public_key, private_key=private_key, seed=8) as pool:
        assert pool.replenish_in_background() is None  # nothing taken yet
        pool.take(12)
        future = pool.replenish_in_background()
        assert future is not None
        future.result()
        assert len(pool) == 12 and pool.stats.made_ahead == 12
        assert pool.replenish_in_background() is None  # nothing taken since
        pool.take(5)
        pool.take(3)
        pool.replenish_in_background()
        pool.wait()
        assert len(pool) == 12 and pool.stats.made_ahead == 20
        assert pool.stats.made_on_demand == 12  # only the first take, before any fill


def test_pool_stats_split_offline_from_online_seconds(keypair):
    """Time in fill is the offline phase; take served from stock adds no online time; a
    shortfall made inside take is online time."""
    public_key, _ = keypair
    with ObfuscatorPool(public_key, seed=7) as pool:
        assert pool.stats.seconds_ahead == 0.0 and pool.stats.seconds_on_demand == 0.0
        pool.fill(20)
        ahead = pool.stats.seconds_ahead
        assert ahead > 0.0
        pool.take(20)  # all from stock: nothing on the critical path
        assert pool.stats.seconds_on_demand == 0.0 and pool.stats.seconds_ahead == ahead
        pool.take(4)  # the stock is empty: made now
        assert pool.stats.seconds_on_demand > 0.0 and pool.stats.seconds_ahead == ahead
        assert pool.stats.made_on_demand == 4


def test_background_fill_runs_off_the_callers_thread(keypair):
    public_key, _ = keypair
    seen: list[str] = []
    pool = ObfuscatorPool(public_key, seed=1)
    original = pool.scheme.generate

    def spy(count, rng, workers=None):
        seen.append(threading.current_thread().name)
        return original(count, rng, workers)

    pool.scheme = type("Spy", (), {"generate": staticmethod(spy), "name": "spy"})()
    pool.fill_in_background(4).result()
    pool.close()
    assert seen and seen[0].startswith("obfuscators")
    assert len(pool) == 4


def test_pool_rejects_negative_counts(keypair):
    public_key, _ = keypair
    pool = ObfuscatorPool(public_key)
    with pytest.raises(ValueError):
        pool.fill_in_background(-1)
    with pytest.raises(ValueError):
        pool.fill(-1)


def test_rerandomised_ciphertexts_with_short_exponents_differ_but_decrypt_equal(keypair):
    public_key, private_key = keypair
    pool = ObfuscatorPool(public_key, short_exponent_bits=512, seed=12)
    encrypted = encrypt_array(np.arange(5.0), public_key, pool=pool)
    fresh = encrypted.rerandomize(pool)
    assert isinstance(fresh, EncryptedArray)
    assert not set(map(int, encrypted.ciphertexts)) & set(map(int, fresh.ciphertexts))
    np.testing.assert_array_equal(decrypt_array(fresh, private_key), np.arange(5.0))


def test_worker_processes_make_valid_reproducible_obfuscators(keypair):
    public_key, private_key = keypair
    scheme = ShortExponentObfuscators.create(public_key, InsecureSeededSource(2))
    with ObfuscatorProcesses(scheme, processes=2) as workers:
        assert workers.assumption == "dcr+short-exponent"
        values = workers.generate(37, InsecureSeededSource(5))
        again = workers.generate(37, InsecureSeededSource(5))
        fresh = workers.generate(20, SystemRandomSource())
    assert [int(v) for v in values] == [int(v) for v in again]  # seeded: reproducible
    assert len({int(v) for v in [*values, *fresh]}) == 57
    assert all(private_key.raw_decrypt(v) == 0 for v in [*values, *fresh])
    with pytest.raises(ConfigError, match="closed"):
        workers.generate(1, SystemRandomSource())
    workers.close()  # idempotent


def test_worker_processes_serve_pools_and_stop_with_them(keypair):
    public_key, private_key = keypair
    workers = ObfuscatorProcesses(FullExponentObfuscators(public_key), processes=1)
    pool = ObfuscatorPool(public_key, scheme=workers)
    encrypted = encrypt_array(np.arange(4.0), public_key, pool=pool)
    pool.close()
    np.testing.assert_array_equal(decrypt_array(encrypted, private_key), np.arange(4.0))
    with pytest.raises(ConfigError):
        workers.generate(1, SystemRandomSource())


def test_worker_processes_refuse_the_key_holders_scheme(keypair):
    _, private_key = keypair
    with pytest.raises(ConfigError, match="threads"):
        ObfuscatorProcesses(KeyHolderObfuscators(private_key))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scheme", "processes", "method", "assumption"),
    [
        ("djn", 0, "djn-fixed-base", "dcr+short-exponent"),
        ("djn-short", 0, "djn-fixed-base", "dcr+short-exponent"),
        ("full", 0, "standard", "dcr"),
        ("djn-short", 1, "djn-fixed-base (in 1 processes)", "dcr+short-exponent"),
        ("djn", 1, "djn-fixed-base (in 1 processes)", "dcr+short-exponent"),
    ],
)
def test_an_encryptors_pool_uses_the_named_scheme_and_assumption(
    keypair, scheme, processes, method, assumption
):
    public_key, private_key = keypair
    with ObfuscatorPool.for_encryptor(public_key, scheme, processes=processes) as pool:
        assert (pool.method, pool.assumption) == (method, assumption)
        values = pool.take(40)
    assert len({int(v) for v in values}) == 40
    assert all(private_key.raw_decrypt(v) == 0 for v in values)


@pytest.mark.parametrize(
    ("scheme", "holds_private", "method"),
    [
        ("full", True, "crt"),
        ("full", False, "standard"),
        ("djn", True, "djn-fixed-base"),
        ("djn-short", True, "djn-fixed-base"),
    ],
)
def test_a_key_holders_pool_computes_full_randomness_by_crt_and_else_uses_the_scheme(
    keypair, scheme, holds_private, method
):
    public_key, private_key = keypair
    with ObfuscatorPool.for_key_holder(
        public_key, private_key if holds_private else None, scheme
    ) as pool:
        assert pool.method == method
        values = pool.take(20)
    assert len({int(v) for v in values}) == 20
    assert all(private_key.raw_decrypt(v) == 0 for v in values)


def test_with_worker_processes_only_the_workers_build_the_fixed_base_table(keypair):
    public_key, private_key = keypair
    with ObfuscatorPool.for_encryptor(public_key, "djn", processes=1, expected_count=5000) as pool:
        workers = pool.scheme
        assert isinstance(workers, ObfuscatorProcesses)
        assert isinstance(workers.inner, ShortExponentObfuscators)
        assert workers.inner.table is None  # this process never uses one
        assert pool.method == "djn-fixed-base (in 1 processes)"
        values = pool.take(30)
    assert all(private_key.raw_decrypt(v) == 0 for v in values)


def test_worker_processes_refuse_a_table_window_they_cannot_use(keypair):
    public_key, _ = keypair
    tabled = ShortExponentObfuscators.create(public_key, InsecureSeededSource(3))
    bare = ShortExponentObfuscators.create(
        public_key, InsecureSeededSource(3), fixed_base_table=False
    )
    with pytest.raises(ConfigError, match="without a table"):
        ObfuscatorProcesses(FullExponentObfuscators(public_key), 1, window_bits=8)
    with pytest.raises(ConfigError, match="without a table"):
        ObfuscatorProcesses(tabled, 1, window_bits=8)
    with pytest.raises(ConfigError, match=r"window_bits must lie in \[1, 16\]"):
        ObfuscatorProcesses(bare, 1, window_bits=17)


@pytest.mark.parametrize(
    ("key_bits", "djn_bits", "short_bits"), [(1024, 512, 224), (2048, 1024, 224), (3072, 1536, 256)]
)
def test_djn_short_exponents_are_twice_the_keys_security_bits(key_bits, djn_bits, short_bits):
    """ "djn" draws ceil(k/2)-bit exponents, "djn-short" the Diffie-Hellman rule's
    2 x security bits (never below the 224-bit floor), and the pool really uses them."""
    public_key = PaillierPublicKey(mpz(1) << (key_bits - 1) | 1)  # only its size matters
    assert local_exponent_bits(public_key, "djn") == djn_bits
    assert local_exponent_bits(public_key, "djn-short") == short_bits
    assert short_bits == max(MIN_SHORT_EXPONENT_BITS, kangaroo_exponent_bits(public_key))
    with pytest.raises(ConfigError, match="'full' has no short exponent"):
        local_exponent_bits(public_key, "full")


def test_a_djn_short_pool_draws_short_exponents_of_its_base(keypair):
    public_key, private_key = keypair
    pool = ObfuscatorPool.for_encryptor(public_key, "djn-short", expected_count=200, seed=5)
    scheme = pool.scheme
    assert isinstance(scheme, ShortExponentObfuscators)
    assert (
        scheme.exponent_bits
        == kangaroo_exponent_bits(public_key)
        < djn_default_exponent_bits(public_key)
    )
    assert scheme.table is not None and scheme.table.exponent_bits == scheme.exponent_bits
    values = pool.take(50)
    assert len({int(v) for v in values}) == 50
    assert all(private_key.raw_decrypt(v) == 0 for v in values)


def test_the_default_encryptors_scheme_is_djn(keypair):
    public_key, _ = keypair
    assert ObfuscatorPool.for_encryptor(public_key).method == "djn-fixed-base"


def test_an_encryptors_pool_refuses_unknown_schemes_and_process_counts(keypair):
    public_key, _ = keypair
    refused = r"obfuscator_scheme must be one of \('djn', 'djn-short', 'full'\)"
    with pytest.raises(ConfigError, match=refused):
        ObfuscatorPool.for_encryptor(public_key, "short")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"obfuscator_processes must lie in \[0, 64\]"):
        ObfuscatorPool.for_encryptor(public_key, processes=-1)


def test_worker_processes_of_a_dropped_pool_stop(keypair):
    """A role that returns (or fails) without closing its pool leaves no worker behind."""
    public_key, _ = keypair
    pool = ObfuscatorPool.for_encryptor(public_key, "full", processes=1)
    pool.take(2)
    worker = pool.scheme._workers[0].process  # type: ignore[attr-defined]
    del pool
    assert worker.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("expected", "method", "window"),
    [(3, "djn-short-exponent", None), (20_000, "djn-fixed-base", 11)],
)
def test_an_encryptors_table_is_sized_by_how_many_obfuscators_it_will_make(
    keypair, expected, method, window
):
    public_key, private_key = keypair
    pool = ObfuscatorPool.for_encryptor(public_key, expected_count=expected)
    assert pool.method == method
    table = pool.scheme.table  # type: ignore[attr-defined]
    assert (None if table is None else table.window_bits) == window
    values = pool.take(5)
    assert all(private_key.raw_decrypt(v) == 0 for v in values)
    with pytest.raises(ConfigError, match="expected_count must be >= 0"):
        ObfuscatorPool.for_encryptor(public_key, expected_count=-1)
