"""Each party's gradient (and the source's loss) from the other party's terms, encrypted or not.

The other party's terms arrive as Paillier ciphertexts (homomorphic mode) or as arrays
(plaintext mode); the party's own factors (:func:`rengo.ftl.math.source_gradient_matrices`,
:func:`rengo.ftl.math.target_gradient_matrices`) are plaintext. Every product here is
``terms @ plaintext`` - one bucketed multi-exponentiation per output under encryption
(:meth:`rengo.crypto.EncryptedArray.matmul`) - and every sum aligns fixed-point exponents
first, so the same functions give the encrypted gradient that is then masked and decrypted
by the other party, or the plaintext gradient directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rengo.crypto.encrypted_array import EncryptedArray

Terms = EncryptedArray | np.ndarray
"""Another party's terms: ciphertexts under its key, or plaintext arrays."""


def product(x: Terms, matrix: np.ndarray, bits: int) -> Terms:
    """``x @ matrix``; an encrypted ``x`` encodes ``matrix`` with ``bits`` fractional bits."""
    if isinstance(x, EncryptedArray):
        return x.matmul(matrix, bits)
    result: np.ndarray = np.asarray(x) @ matrix
    return result


def total(parts: Sequence[Terms]) -> Terms:
    """The sum of ``parts`` (all encrypted or all plaintext); encrypted parts are brought to
    the largest fixed-point exponent first.

    Raises
    ------
    TypeError
        If encrypted and plaintext parts are mixed.
    """
    encrypted = [p for p in parts if isinstance(p, EncryptedArray)]
    if not encrypted:
        summed: np.ndarray = np.sum(np.stack([np.asarray(p) for p in parts]), axis=0)
        return summed
    if len(encrypted) != len(parts):
        raise TypeError("cannot sum encrypted and plaintext terms of another party")
    top = max(p.exponent for p in encrypted)
    result = encrypted[0].rescale(top)
    for part in encrypted[1:]:
        result = result + part.rescale(top)
    return result


def source_gradient(
    u_b: Terms, w_b: Terms, r_b: Terms | None, mats: Mapping[str, np.ndarray], bits: int
) -> Terms:
    """The source's gradient ``vec(dL/dPhi) J_Phi + vec(U_B) J_A' + plain`` from the target's
    ``U_B`` (n x d), ``W`` (d x d) and ``R`` (C x d, ``None``: no target labels in the batch);
    ``dL/dPhi`` is assembled transposed (d x C)."""
    parts = [product(u_b.T, mats["a_scaled"], bits), product(w_b, mats["phi_q"], bits)]
    if r_b is not None:
        parts.append(r_b.T)
    d_phi = total(parts).T.ravel()
    gradient = total(
        [product(d_phi, mats["jac_phi"], bits), product(u_b.ravel(), mats["u_weights"], bits)]
    )
    return gradient + mats["plain"]


def source_loss(
    u_b: Terms,
    w_b: Terms,
    r_b: Terms | None,
    q_b: Terms,
    mats: Mapping[str, np.ndarray],
    bits: int,
) -> Terms:
    """The batch's Taylor loss (shape (1,)) from the target's ``U_B``, ``W``, ``R`` and
    ``q`` (see :mod:`rengo.ftl.math`)."""
    parts = [
        product(u_b.ravel(), mats["loss_u"][:, None], bits),
        product(w_b.ravel(), mats["loss_w"][:, None], bits),
        q_b,
    ]
    if r_b is not None:
        parts.append(product(r_b.ravel(), mats["loss_r"][:, None], bits))
    return total(parts) + mats["loss_plain"].reshape(1)


def target_gradient(
    c: Terms, m: Terms, phi: Terms | None, mats: Mapping[str, np.ndarray], bits: int
) -> Terms:
    """The target's gradient ``vec(c) J + vec(M) K_M + vec(Phi) K_Phi + plain`` from the
    source's ``c`` (n x d), ``M`` (d x d) and ``Phi`` (C x d; ``None``: no target labels in
    the batch)."""
    parts = [product(c.ravel(), mats["jac_c"], bits), product(m.ravel(), mats["k_m"], bits)]
    if phi is not None:
        parts.append(product(phi.ravel(), mats["k_phi"], bits))
    return total(parts) + mats["plain"]
