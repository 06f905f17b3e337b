"""Cryptography for federated learning: Paillier (EUROCRYPT 1999) and X25519 blinding.

Paillier key pairs with g = n + 1 and CRT decryption, fixed-point encoding of signed floats,
numpy-like :class:`EncryptedArray` arithmetic (add, negate, plaintext multiply, sum,
``enc_vec @ matrix`` by bucketed multi-exponentiation), ciphertexts safe on the wire by
default (only freshly randomised ones are sent), precomputed obfuscators made by a named
scheme that states its security assumption (full ``r^n``, CRT for the key holder, DJN short
exponents from a fixed-base table: the default for parties that encrypt under another's key,
see :data:`LocalObfuscatorScheme`), pools that fill in the background, and their
dealing, one-time-pad masking in Z_n so a key holder decrypts only noise, slot packing
(offset and signed), homomorphic segment sums, multi-core execution and codec registration
for the wire. ``rengo.crypto.x25519`` holds hash-to-curve and commutative blinding for PSI
(loaded on first use). For secure aggregation: Shamir secret sharing (``shamir``), a
AES-CTR PRG (``prg``), quantisation into ``Z_{2^bits}`` (``quantisation``) and X25519
pairwise agreement with authenticated encryption (``pairwise``), and parties' signatures
under their federation certificates, checkable through an untrusted relay (``signatures``).
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.crypto.dealing import (
        OBFUSCATOR_SOURCES,
        ObfuscatorSource,
        batch_obfuscators,
        deal_obfuscators,
    )
    from rengo.crypto.encrypted_array import (
        EncryptedArray,
        ScaleMismatchError,
        UnrandomizedCiphertextError,
        decrypt_array,
        encrypt_array,
    )
    from rengo.crypto.fixed_base import FixedBaseTable
    from rengo.crypto.fixed_point import (
        DEFAULT_PRECISION_BITS,
        FixedPointEncoder,
        FixedPointOverflowError,
    )
    from rengo.crypto.key_storage import (
        load_private_key,
        private_key_from_bytes,
        private_key_to_bytes,
        save_private_key,
    )
    from rengo.crypto.keys import (
        DEFAULT_KEY_BITS,
        SUPPORTED_KEY_BITS,
        InvalidCiphertextError,
        PaillierPrivateKey,
        PaillierPublicKey,
        generate_paillier_keypair,
    )
    from rengo.crypto.masking import Mask, decrypt_masked, mask_encrypted, unmask
    from rengo.crypto.obfuscator_processes import ObfuscatorProcesses
    from rengo.crypto.obfuscator_schemes import (
        FullExponentObfuscators,
        KeyHolderObfuscators,
        ObfuscatorAssumption,
        ObfuscatorScheme,
        ShortExponentObfuscators,
        kangaroo_exponent_bits,
        obfuscator_scheme,
    )
    from rengo.crypto.obfuscators import (
        DEFAULT_LOCAL_OBFUSCATOR_SCHEME,
        LOCAL_OBFUSCATOR_SCHEMES,
        MAX_OBFUSCATOR_PROCESSES,
        LocalObfuscatorScheme,
        ObfuscatorPool,
        PoolStats,
        djn_default_exponent_bits,
        local_exponent_bits,
    )
    from rengo.crypto.packing import (
        PackedEncryptedVector,
        SlotLayout,
        decrypt_packed,
        encrypt_packed,
        pack,
        unpack,
    )
    from rengo.crypto.pairwise import (
        KeyPair,
        agree,
        new_key_pair,
        open_sealed,
        public_key_of,
        seal,
    )
    from rengo.crypto.prg import add_masks, prg_mask
    from rengo.crypto.quantisation import (
        Quantisation,
        dequantise_sum,
        quantise,
        quantise_into,
        ring_bits_for,
        rounding_error_bound,
    )
    from rengo.crypto.segment_sums import encrypted_differences, encrypted_segment_sums
    from rengo.crypto.shamir import Share, combine_shares, split_secret
    from rengo.crypto.signatures import (
        SignatureError,
        SigningIdentity,
        simulated_identities,
        verify_signed,
    )
    from rengo.crypto.signed_slots import capacity, combine_ciphertexts, pack_signed, unpack_signed
    from rengo.crypto.wire import ciphertexts_from_bytes, ciphertexts_to_bytes
    from rengo.crypto.x25519 import BlindingPool, hash_to_points, new_secret


__all__ = [
    "DEFAULT_KEY_BITS",
    "DEFAULT_LOCAL_OBFUSCATOR_SCHEME",
    "DEFAULT_PRECISION_BITS",
    "LOCAL_OBFUSCATOR_SCHEMES",
    "MAX_OBFUSCATOR_PROCESSES",
    "OBFUSCATOR_SOURCES",
    "SUPPORTED_KEY_BITS",
    "BlindingPool",
    "EncryptedArray",
    "FixedBaseTable",
    "FixedPointEncoder",
    "FixedPointOverflowError",
    "FullExponentObfuscators",
    "InvalidCiphertextError",
    "KeyHolderObfuscators",
    "KeyPair",
    "LocalObfuscatorScheme",
    "Mask",
    "ObfuscatorAssumption",
    "ObfuscatorPool",
    "ObfuscatorProcesses",
    "ObfuscatorScheme",
    "ObfuscatorSource",
    "PackedEncryptedVector",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "PoolStats",
    "Quantisation",
    "ScaleMismatchError",
    "Share",
    "ShortExponentObfuscators",
    "SignatureError",
    "SigningIdentity",
    "SlotLayout",
    "UnrandomizedCiphertextError",
    "add_masks",
    "agree",
    "batch_obfuscators",
    "capacity",
    "ciphertexts_from_bytes",
    "ciphertexts_to_bytes",
    "combine_ciphertexts",
    "combine_shares",
    "deal_obfuscators",
    "decrypt_array",
    "decrypt_masked",
    "decrypt_packed",
    "dequantise_sum",
    "djn_default_exponent_bits",
    "encrypt_array",
    "encrypt_packed",
    "encrypted_differences",
    "encrypted_segment_sums",
    "generate_paillier_keypair",
    "hash_to_points",
    "kangaroo_exponent_bits",
    "load_private_key",
    "local_exponent_bits",
    "mask_encrypted",
    "new_key_pair",
    "new_secret",
    "obfuscator_scheme",
    "open_sealed",
    "pack",
    "pack_signed",
    "prg_mask",
    "private_key_from_bytes",
    "private_key_to_bytes",
    "public_key_of",
    "quantise",
    "quantise_into",
    "ring_bits_for",
    "rounding_error_bound",
    "save_private_key",
    "seal",
    "simulated_identities",
    "split_secret",
    "unmask",
    "unpack",
    "unpack_signed",
    "verify_signed",
]

__getattr__, __dir__ = lazy_exports(__name__)
