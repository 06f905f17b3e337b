"""Paillier homomorphic encryption for federated learning (Paillier, EUROCRYPT 1999).

Key pairs with g = n + 1 and CRT decryption, fixed-point encoding of signed floats,
numpy-like :class:`EncryptedArray` arithmetic (add, negate, plaintext multiply, sum,
``enc_vec @ matrix``), precomputed obfuscators made by a named scheme that states its security
assumption (full ``r^n``, CRT for the key holder, opt-in DJN short exponents from a fixed-base
table), pools that fill in the background, slot packing, multi-core execution and codec
registration for the wire.
"""

from rengo.crypto.encrypted_array import (
    EncryptedArray,
    ScaleMismatchError,
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
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_paillier_keypair,
)
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
from rengo.crypto.obfuscators import ObfuscatorPool, PoolStats, djn_default_exponent_bits
from rengo.crypto.packing import (
    PackedEncryptedVector,
    SlotLayout,
    decrypt_packed,
    encrypt_packed,
    pack,
    unpack,
)
from rengo.crypto.wire import ciphertexts_from_bytes, ciphertexts_to_bytes

__all__ = [
    "DEFAULT_KEY_BITS",
    "DEFAULT_PRECISION_BITS",
    "SUPPORTED_KEY_BITS",
    "EncryptedArray",
    "FixedBaseTable",
    "FixedPointEncoder",
    "FixedPointOverflowError",
    "FullExponentObfuscators",
    "KeyHolderObfuscators",
    "ObfuscatorAssumption",
    "ObfuscatorPool",
    "ObfuscatorProcesses",
    "ObfuscatorScheme",
    "PackedEncryptedVector",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "PoolStats",
    "ScaleMismatchError",
    "ShortExponentObfuscators",
    "SlotLayout",
    "ciphertexts_from_bytes",
    "ciphertexts_to_bytes",
    "decrypt_array",
    "decrypt_packed",
    "djn_default_exponent_bits",
    "encrypt_array",
    "encrypt_packed",
    "generate_paillier_keypair",
    "kangaroo_exponent_bits",
    "load_private_key",
    "obfuscator_scheme",
    "pack",
    "private_key_from_bytes",
    "private_key_to_bytes",
    "save_private_key",
    "unpack",
]
