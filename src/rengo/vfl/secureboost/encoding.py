"""How gradients and hessians are quantised and packed into Paillier plaintexts.

The label party rounds every gradient and hessian to a multiple of ``2**-precision_bits``
(:func:`quantize`); from then on every party works with those integers, and the sums a
feature party computes homomorphically are exactly the sums a plaintext implementation
computes on the same integers: the protocol is lossless with respect to its quantised
gradients (Cheng et al. 2021, Theorem 1, with fixed-point encoding).

A row's gradients and hessians (``g_k, h_k`` for each output k) sit side by side in signed
slots of ``width`` bits (:mod:`rengo.crypto.signed_slots`), as many outputs per ciphertext
as fit; ``width`` leaves room for the sum over every training row, so no histogram sum can
carry into its neighbour. A histogram is sent back with several (bin, chunk) items per
ciphertext, shifted into place by the feature party.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import DataError, ProtocolError
from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.signed_slots import capacity, pack_signed, unpack_signed

MAX_QUANTIZED_BITS = 62
MAX_SUM_BITS = 63
"""Widest signed slot of a gradient or hessian sum: sums are int64 wherever they are added
(the label party's own histograms, its check of a feature party's split)."""


def slot_width(rows: int, bound: int) -> int:
    """Bits of a signed slot that holds the sum of ``rows`` quantised values of magnitude at
    most ``bound`` exactly."""
    return (max(1, rows) * max(1, bound)).bit_length() + 1


def gradient_bound(g: np.ndarray, h: np.ndarray, precision_bits: int) -> int:
    """The largest magnitude among a tree's quantised gradients and hessians, at least
    ``2^precision_bits`` (one: ``|g| <= 1``, ``h <= 1/4`` for the unweighted logistic and
    softmax losses). Class weights (``w |p - y|``) and a regression's residuals reach past
    one: sizing the slots for one then let a weighted class's sums overflow into the next
    slot, silently."""
    return max(
        1 << precision_bits,
        int(np.abs(g).max(initial=0)),
        int(np.abs(h).max(initial=0)),
    )


def require_exact_sums(party: str, gradients: np.ndarray, rows: int, precision_bits: int) -> None:
    """Refuse regression gradients whose exact sums over ``rows`` rows would not fit
    :data:`MAX_SUM_BITS` at ``precision_bits``, saying which ``precision_bits`` or which
    scaling of the target fits.

    Raises
    ------
    DataError
        Naming the party, the largest gradient, the bits needed and the fix.
    """
    g = np.abs(np.asarray(gradients, dtype=np.float64))
    if not g.size or not np.isfinite(g).all():
        return  # quantize names the non-finite value
    largest = float(g.max())

    def width(bits: int, scale: float = 1.0) -> int:
        return slot_width(rows, max(1 << bits, int(np.rint(np.ldexp(largest / scale, bits)))))

    needed = width(precision_bits)
    if needed <= MAX_SUM_BITS:
        return
    fixes = []
    fits = next((b for b in range(precision_bits - 1, 7, -1) if width(b) <= MAX_SUM_BITS), None)
    if fits is not None:
        fixes.append(f"set precision_bits = {fits} (or less)")
    if width(precision_bits, largest) <= MAX_SUM_BITS:  # scaling can help at this precision
        scale = 10.0
        while width(precision_bits, scale) > MAX_SUM_BITS:
            scale *= 10.0
        fixes.append(f"divide the target by {scale:g} (and multiply the predictions back)")
    raise DataError(
        f"{party}: regression gradients (residuals) reach {largest:.3g} on {rows} rows: "
        f"their exact sums at precision_bits = {precision_bits} need {needed} bits, more "
        f"than the {MAX_SUM_BITS} the protocol sums in; "
        + (" or ".join(fixes) if fixes else "train on fewer rows or lower precision_bits")
    )


def quantize(values: np.ndarray, precision_bits: int) -> np.ndarray:
    """``round(values * 2**precision_bits)`` as int64.

    Raises
    ------
    DataError
        If a value is not finite or too large for 62 bits at this precision.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size and not np.isfinite(x).all():
        raise DataError("gradients must be finite (a label or score is not a finite number)")
    scaled = np.rint(np.ldexp(x, precision_bits))
    if scaled.size and np.abs(scaled).max() >= 2.0**MAX_QUANTIZED_BITS:
        raise DataError(
            "gradients are too large for the fixed-point encoding; scale the regression "
            "target down or lower precision_bits"
        )
    return scaled.astype(np.int64)


@dataclass(frozen=True)
class GradientLayout:
    """Where each output's gradient and hessian sit: ``outputs_per_chunk`` (g, h) pairs of
    ``width``-bit signed slots per ciphertext, ``chunks`` ciphertexts per row.

    ``precision_bits`` are the fractional bits of every slot's integer.
    """

    outputs: int
    width: int
    outputs_per_chunk: int
    precision_bits: int

    @property
    def chunk_slots(self) -> int:
        """Slots per ciphertext (a g and an h per output)."""
        return 2 * self.outputs_per_chunk

    @property
    def chunks(self) -> int:
        """Ciphertexts per row."""
        return -(-self.outputs // self.outputs_per_chunk)

    @property
    def chunk_bits(self) -> int:
        """Bits one chunk occupies (the shift between items of a compressed histogram)."""
        return self.chunk_slots * self.width

    def items_per_ciphertext(self, public_key: PaillierPublicKey) -> int:
        """Histogram items (one chunk of one candidate) per ciphertext sent back."""
        return max(1, capacity(public_key, self.width) // self.chunk_slots)

    @classmethod
    def choose(
        cls, outputs: int, bound: int, rows: int, precision_bits: int, public_key: PaillierPublicKey
    ) -> GradientLayout:
        """The layout for ``rows`` quantised values of magnitude at most ``bound``.

        Raises
        ------
        DataError
            If one (g, h) pair does not fit the key (lower precision_bits or use a larger
            key).
        """
        width = slot_width(rows, bound)
        per = capacity(public_key, width) // 2
        if per < 1:
            raise DataError(
                f"a {public_key.bits}-bit key cannot hold a gradient and a hessian of "
                f"{width} bits each; lower precision_bits or use a larger key"
            )
        return cls(outputs, width, min(per, outputs), precision_bits)

    def encode_rows(self, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Packed plaintexts (rows x chunks object array of signed ints) of quantised
        ``g`` and ``h`` (each rows x outputs)."""
        rows = len(g)
        padded = self.chunks * self.outputs_per_chunk
        slots = np.zeros((rows, 2 * padded), dtype=np.int64)
        slots[:, 0 : 2 * self.outputs : 2] = g
        slots[:, 1 : 2 * self.outputs : 2] = h
        out = np.empty((rows, self.chunks), dtype=object)
        for c in range(self.chunks):
            part = slots[:, c * self.chunk_slots : (c + 1) * self.chunk_slots]
            out[:, c] = pack_signed(part, self.width)
        return out

    def decode_items(
        self, plaintexts: np.ndarray, items: int, per: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(G, H)`` sums, each items-per-candidate x outputs of Python ints, from signed
        plaintexts holding ``per`` chunk items each; ``items`` candidates were sent (each
        with ``chunks`` items)."""
        slots = unpack_signed(np.asarray(plaintexts), self.width, per * self.chunk_slots)
        flat = slots.reshape(-1, self.chunk_slots)[: items * self.chunks]
        table = flat.reshape(items, self.chunks * self.chunk_slots)
        return table[:, 0 : 2 * self.outputs : 2], table[:, 1 : 2 * self.outputs : 2]

    def to_wire(self) -> dict[str, int]:
        """A codec-friendly dict."""
        return {
            "outputs": self.outputs,
            "width": self.width,
            "outputs_per_chunk": self.outputs_per_chunk,
            "precision_bits": self.precision_bits,
        }

    @classmethod
    def from_wire(cls, tree: Any, public_key: PaillierPublicKey) -> GradientLayout:
        """Check a layout received from the label party against the key.

        Raises
        ------
        ProtocolError
            If fields are missing or the slots do not fit the key.
        """
        names = ("outputs", "width", "outputs_per_chunk", "precision_bits")
        if not isinstance(tree, dict) or set(tree) != set(names):
            raise ProtocolError("the label party sent a malformed gradient layout")
        values = [tree[n] for n in names]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ProtocolError("the label party's gradient layout holds non-positive fields")
        layout = cls(*values)
        if layout.outputs_per_chunk > layout.outputs or (
            layout.chunk_slots > capacity(public_key, layout.width)
        ):
            raise ProtocolError("the label party's gradient layout does not fit the key")
        return layout
