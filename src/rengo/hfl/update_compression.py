"""Update compression for the client-to-coordinator leg: the settings (job section
``[compression]``), how they ride in the round config, and the encoding of a whole fit
reply and its checked decoding at the coordinator.

What is compressed is the *update*: each result array minus the global model's array (an
array past the model's - SCAFFOLD's control-variate change - minus zero). The codecs'
arithmetic is in :mod:`rengo.hfl.update_codecs`; the client mod that encodes is
:class:`~rengo.hfl.mods.CompressUpdateMod`, the workflow that asks for it and decodes is
:class:`~rengo.hfl.CompressedUpdates`.

Top-k sparsifies the flattened update as a whole (the ``k`` largest magnitudes of all
arrays together); int8 quantises each array in chunks of ``chunk`` values, one scale each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rengo.core.errors import ConfigError, ProtocolError
from rengo.core.messages import Config, EncodedUpdate
from rengo.core.options import check_options, option, options_from_wire, options_to_wire
from rengo.core.parameters import Parameters
from rengo.hfl.update_codecs import (
    INT8_LEVELS,
    float16_encode,
    int8_chunks,
    int8_decode,
    int8_encode,
    topk_count,
    topk_decode,
    topk_encode,
)

CONFIG_PREFIX = "compression_"
"""Round-config keys carrying the settings to the clients (``compression_update``...)."""
RESIDUAL_KEY = "topk_residual"
"""The client-state key of top-k's error-feedback residual (float64 arrays)."""
_RANDOM_STREAM = 0xC0DEC


@dataclass(frozen=True)
class UpdateCompression:
    """How clients compress their fit updates, and the coordinator the global model it sends
    them (job section ``[compression]``).

    Parameters
    ----------
    update
        ``"none"``, ``"float16"`` (half the bytes of float32), ``"int8"`` (a quarter, plus
        one float32 scale per ``chunk`` values; unbiased stochastic rounding) or ``"topk"``
        (the ``fraction`` of values of largest magnitude, 8 bytes each: index and value).
    fraction
        Top-k: the share of the update's values sent each round.
    chunk
        Int8 (the update's or the model's): values per scale.
    error_feedback
        Top-k: the client keeps what it did not send and adds it to its next update.
    model
        How the global model travels *down* to each client: ``"none"`` (as it is),
        ``"float16"`` or ``"int8"`` (``chunk`` values per scale, stochastic rounding drawn
        once a round from the run seed). The coordinator keeps the exact model and re-bases
        every reply on it (see :mod:`rengo.hfl.model_compression`).

    Raises
    ------
    ConfigError
        For a value out of its range.
    """

    update: Literal["none", "float16", "int8", "topk"] = option(
        "none", "none | float16 | int8 | topk: how each client's update travels."
    )
    fraction: float = option(0.01, "topk: share of the update's values sent.", gt=0, le=1)
    chunk: int = option(1024, "int8: values per float32 scale.", ge=1, le=2**31 - 1)
    error_feedback: bool = option(
        True, "topk: carry what was not sent into the client's next update."
    )
    model: Literal["none", "float16", "int8"] = option(
        "none",
        "none | float16 | int8: how the global model travels to each client (the "
        "coordinator keeps it exact).",
    )

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def enabled(self) -> bool:
        """Whether updates are compressed at all."""
        return self.update != "none"

    @property
    def compresses_model(self) -> bool:
        """Whether the global model travels to the clients compressed."""
        return self.model != "none"

    @property
    def active(self) -> bool:
        """Whether anything travels compressed, either way."""
        return self.enabled or self.compresses_model

    def describe(self) -> str:
        """``topk(fraction=0.1, error feedback)``, ``int8(chunk=1024)``, ``float16``."""
        if self.update == "topk":
            feedback = "error feedback" if self.error_feedback else "no error feedback"
            return f"topk(fraction={self.fraction:g}, {feedback})"
        if self.update == "int8":
            return f"int8(chunk={self.chunk})"
        return self.update


def compression_config(settings: UpdateCompression) -> Config:
    """The round-config entries that tell a client how to compress its update (the model's
    codec travels apart, see :func:`rengo.hfl.model_compression.model_codec_config`)."""
    return {CONFIG_PREFIX + k: v for k, v in options_to_wire(settings).items() if k != "model"}


def recorded_settings(settings: UpdateCompression) -> dict[str, Any]:
    """What a run's record says of ``settings``: every option, ``model`` only when set, so
    a run recorded before the model could travel compressed still resumes."""
    wire = options_to_wire(settings)
    if not settings.compresses_model:
        del wire["model"]
    return wire


def compression_from_config(config: Mapping[str, Any]) -> UpdateCompression:
    """The settings a round config carries (see :func:`compression_config`).

    Raises
    ------
    ProtocolError
        If the config carries none, or settings out of range.
    """
    entries = {k[len(CONFIG_PREFIX) :]: v for k, v in config.items() if k.startswith(CONFIG_PREFIX)}
    if "update" not in entries:
        raise ProtocolError(
            f"update compression needs config[{CONFIG_PREFIX + 'update'!r}] from the "
            "coordinator (the CompressedUpdates workflow sends it)"
        )
    try:
        return options_from_wire(UpdateCompression, entries, "the round's compression settings")
    except ConfigError as exc:
        raise ProtocolError(str(exc)) from None


def update_bases(
    global_model: Sequence[np.ndarray], like: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """What each result array's update is taken against: the global model's array, or
    zero past the model's arrays."""
    n = len(global_model)
    return [
        np.asarray(global_model[i], np.float64) if i < n else np.zeros(np.shape(a))
        for i, a in enumerate(like)
    ]


def update_of(arrays: Sequence[np.ndarray], global_model: Sequence[np.ndarray]) -> Parameters:
    """Each result array minus its base (float64): what the codecs compress."""
    return [
        np.asarray(a, np.float64) - b
        for a, b in zip(arrays, update_bases(global_model, arrays), strict=True)
    ]


def round_rng(seed: int) -> np.random.Generator:
    """The generator of a client's stochastic rounding in one round, from the round config's
    per-client ``seed``: a simulated and a deployed client draw the same."""
    return np.random.default_rng(np.random.SeedSequence([seed, _RANDOM_STREAM]))


def encode_update(
    update: Sequence[np.ndarray],
    settings: UpdateCompression,
    rng: np.random.Generator,
    residual: Sequence[np.ndarray] | None = None,
) -> tuple[Parameters, Parameters | None]:
    """Encode ``update`` (see :func:`update_of`) with ``settings``' codec.

    Parameters
    ----------
    update
        The float64 update arrays.
    settings
        The codec and its options.
    rng
        Draws int8's stochastic rounding.
    residual
        Top-k with error feedback: what earlier rounds did not send (arrays of the update's
        shapes), added before selecting; None: zero.

    Returns
    -------
    tuple
        The parts of the :class:`~rengo.core.messages.EncodedUpdate` and, for top-k with
        error feedback, the new residual (None otherwise).

    Raises
    ------
    ValueError
        If the update is not finite, float16 cannot hold a value, or ``residual`` does not
        match ``update``'s shapes.
    """
    for i, u in enumerate(update):
        if not np.all(np.isfinite(u)):
            raise ValueError(f"the update's array {i} holds NaN or Inf: nothing to compress")
    if settings.update == "float16":
        return [float16_encode(u) for u in update], None
    if settings.update == "int8":
        parts: Parameters = []
        for u in update:
            q, scales = int8_encode(u, settings.chunk, rng)
            parts += [q.reshape(np.shape(u)), scales]
        return parts, None
    if settings.update != "topk":
        raise ValueError(f"unknown update codec {settings.update!r}")
    flat = np.concatenate([np.ravel(u) for u in update]) if update else np.zeros(0)
    if settings.error_feedback and residual is not None:
        shapes = [np.shape(u) for u in update]
        if [np.shape(r) for r in residual] != shapes:
            raise ValueError(
                "the kept error-feedback residual has other shapes than this round's update "
                "(the model changed): clear the client's state"
            )
        flat = flat + np.concatenate([np.ravel(r) for r in residual])
    indices, values = topk_encode(flat, topk_count(flat.size, settings.fraction))
    if not settings.error_feedback:
        return [indices, values], None
    left = flat - topk_decode(indices, values, flat.size)
    return [indices, values], _split(left, update)


def _split(flat: np.ndarray, like: Sequence[np.ndarray]) -> Parameters:
    out: Parameters = []
    offset = 0
    for a in like:
        size = int(np.size(a))
        out.append(flat[offset : offset + size].reshape(np.shape(a)))
        offset += size
    return out


def decode_update(
    encoded: EncodedUpdate,
    settings: UpdateCompression,
    global_model: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    *,
    bases: Sequence[np.ndarray] | None = None,
) -> Parameters:
    """The result arrays an encoded update stands for, every part checked first.

    Parameters
    ----------
    encoded
        What the client sent.
    settings
        The round's codec and options (what the client was told to use).
    global_model
        The model the round started from (the base of the first arrays).
    reference
        The arrays a result must match (the strategy's ``result_reference``): their count,
        shapes and dtypes.
    bases
        ``update_bases(global_model, reference)``, made once a round by a caller that
        decodes every client's update (None: made here).

    Returns
    -------
    list[numpy.ndarray]
        Base plus decoded update, in each reference array's dtype.

    Raises
    ------
    ValueError
        Saying what is wrong: another codec than the round's, a part count, dtype or shape
        that does not match the model, an int8 value outside [-127, 127], a scale that is
        negative or not finite, a top-k index out of range, repeated or out of order, or a
        value that is not finite.
    """
    if encoded.codec != settings.update:
        raise ValueError(
            f"sent a {encoded.codec!r} update, the round asked for {settings.update!r}"
        )
    parts = encoded.parts
    if settings.update == "float16":
        expect_part_count(parts, len(reference), "float16 arrays (one per model array)")
        update = [
            checked_float_part(p, np.float16, np.shape(r), f"array {i}")
            for i, (p, r) in enumerate(zip(parts, reference, strict=True))
        ]
    elif settings.update == "int8":
        expect_part_count(parts, 2 * len(reference), "int8 parts (values and scales per array)")
        update = [
            checked_int8_array(parts[2 * i], parts[2 * i + 1], np.shape(r), settings.chunk, i)
            for i, r in enumerate(reference)
        ]
    else:
        update = _topk_update(parts, settings.fraction, reference)
    return [
        _cast_like(b + u, r)
        for b, u, r in zip(
            update_bases(global_model, reference) if bases is None else bases,
            update,
            reference,
            strict=True,
        )
    ]


def expect_part_count(parts: Sequence[np.ndarray], count: int, what: str) -> None:
    """Raise ValueError unless ``parts`` holds ``count`` parts (``what`` says of what)."""
    if len(parts) != count:
        raise ValueError(f"sent {len(parts)} parts, the model needs {count} {what}")


def checked_float_part(
    part: np.ndarray, dtype: type, shape: tuple[int, ...], what: str
) -> np.ndarray:
    """``part`` as float64 once checked to be finite, of ``dtype`` and ``shape`` (raises
    ValueError naming ``what`` otherwise)."""
    if part.dtype != np.dtype(dtype):
        raise ValueError(f"{what} is {part.dtype}, expected {np.dtype(dtype)}")
    if part.shape != shape:
        raise ValueError(f"{what} has shape {part.shape}, expected {shape}")
    if not np.all(np.isfinite(part)):
        raise ValueError(f"{what} contains NaN or Inf")
    return np.asarray(part, np.float64)


def checked_int8_array(
    q: np.ndarray, scales: np.ndarray, shape: tuple[int, ...], chunk: int, i: int
) -> np.ndarray:
    """Array ``i``'s int8 values and scales decoded (float64, ``shape``), once checked: int8
    of ``shape``, no -128, one finite non-negative float32 scale per ``chunk`` values
    (raises ValueError saying what is wrong otherwise)."""
    if q.dtype != np.int8 or q.shape != shape:
        raise ValueError(f"array {i}'s values are {q.dtype} {q.shape}, expected int8 {shape}")
    if q.size and int(np.min(q)) < -INT8_LEVELS:
        raise ValueError(f"array {i} holds int8 value {int(np.min(q))}, outside [-127, 127]")
    count = int8_chunks(q.size, chunk)
    checked = checked_float_part(scales, np.float32, (count,), f"array {i}'s scales")
    if count and float(np.min(checked)) < 0:
        raise ValueError(f"array {i} has a negative scale {float(np.min(checked)):g}")
    return int8_decode(q, checked, chunk).reshape(shape)


def _topk_update(
    parts: Sequence[np.ndarray], fraction: float, reference: Sequence[np.ndarray]
) -> Parameters:
    expect_part_count(parts, 2, "top-k parts (indices and values)")
    indices, values = parts
    size = int(sum(np.size(r) for r in reference))
    k = topk_count(size, fraction)
    if indices.dtype.kind != "u" or indices.shape != (k,):
        raise ValueError(
            f"top-k indices are {indices.dtype} {indices.shape}, expected {k} unsigned "
            f"integers ({fraction:g} of {size} values)"
        )
    if k and int(np.max(indices)) >= size:
        raise ValueError(
            f"top-k index {int(np.max(indices))} is out of range (the update has {size} values)"
        )
    steps = np.diff(indices.astype(np.int64))
    if np.any(steps == 0):
        repeated = int(indices[1:][steps == 0][0])
        raise ValueError(f"top-k index {repeated} appears more than once")
    if np.any(steps < 0):
        raise ValueError("top-k indices are not in ascending order")
    dense = topk_decode(indices, checked_float_part(values, np.float32, (k,), "top-k values"), size)
    return _split(dense, reference)


def _cast_like(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` in ``reference``'s dtype (integer arrays rounded to the nearest)."""
    kind = np.asarray(reference).dtype
    if kind.kind in "iub":
        values = np.rint(values)
    return np.asarray(values).astype(kind)
