"""Model compression for the coordinator-to-client leg (``[compression] model``): the global
model ``w`` travels to the clients as ``Q(w)``, the codec's encoding, and every reply is
re-based on the exact ``w`` before any check or strategy sees it.

Lossy server-to-client compression is Caldas, Konečný, McMahan, Talwalkar 2018, "Expanding
the Reach of Federated Learning by Reducing Client Resource Requirements". rengo keeps the
coordinator exact:

* the coordinator keeps the full-precision ``w``; each client receives ``Q(w)`` (float16, or
  int8 with stochastic rounding drawn once a round from the run seed, so every client of a
  round receives the same bytes, simulated or deployed), decodes it and trains from it;
* the coordinator made ``Q(w)`` itself, so it knows exactly what each client trained from,
  and a reply model ``m_k`` becomes ``w + (m_k - Q(w))``: the client's own progress, on the
  exact model. FedAvg of the re-based models is ``w + sum_k p_k (m_k - Q(w))``; the rounding
  error ``w - Q(w)`` enters only through what the clients' training saw, and never adds up in
  ``w`` round after round;
* with update compression too, the client's update is taken against what it received
  (``m_k - Q(w)``), so decoding it on the base ``w`` is the same re-basing;
* under secure aggregation (:class:`~rengo.hfl.SecAggPlus` with ``model=``) each client
  masks its update against what it received, ``m_k - Q(w)``, and the coordinator adds the
  unmasked sum to its exact ``w``: the same re-basing, done on the sum.

Arrays that are not floating point (a batch-norm counter) travel unchanged. The codecs are
those of the update (:mod:`rengo.hfl.update_codecs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rengo.core.errors import ProtocolError, RoundFailure
from rengo.core.messages import Config, EvaluateIns, FitIns
from rengo.core.parameters import Parameters
from rengo.hfl.update_codecs import float16_overflow, int8_encode
from rengo.hfl.update_compression import (
    UpdateCompression,
    checked_float_part,
    checked_int8_array,
    expect_part_count,
)

MODEL_CONFIG_PREFIX = "downlink_"
"""Round-config keys telling a client how its model travelled (``downlink_codec``,
``downlink_chunk``, ``downlink_dtypes``)."""
MODEL_CODECS = ("float16", "int8")
_RANDOM_STREAM = 0xD0C0DE


def model_rng(seed: int, server_round: int, phase: str) -> np.random.Generator:
    """The generator of a round's int8 rounding of the model, from the run seed: one draw a
    round and phase (``"fit"``, ``"evaluate"``) for every client, the same on every
    executor and deployed."""
    tag = int.from_bytes(phase.encode(), "little")
    return np.random.default_rng(np.random.SeedSequence([seed, server_round, _RANDOM_STREAM, tag]))


def _compressible(array: np.ndarray) -> bool:
    return np.asarray(array).dtype.kind == "f"


def model_problem(parameters: Sequence[np.ndarray], codec: str) -> str | None:
    """Why ``parameters`` cannot travel with the model ``codec``, or None: a value that is
    not finite, or, for float16, one beyond its range (65504), which would arrive as
    infinity. The coordinator asks before it adopts a round's new model, so a model that
    grows past the codec fails its round and the last one that can travel is kept."""
    for i, array in enumerate(parameters):
        if not _compressible(array):
            continue
        values = np.asarray(array)
        if not np.all(np.isfinite(values)):
            return f"the global model's array {i} holds NaN or Inf"
        largest = float16_overflow(values) if codec == "float16" else None
        if largest is not None:
            return (
                f"the global model's array {i} holds a value of magnitude {largest:.4g}, "
                'beyond float16\'s range (65504): use [compression] model = "int8"'
            )
    return None


def encode_model(
    parameters: Sequence[np.ndarray], codec: str, chunk: int, rng: np.random.Generator
) -> Parameters:
    """The parts ``parameters`` travel as: per floating-point array, its float16 values or
    its int8 values then its float32 scales; any other array as it is.

    Raises
    ------
    ValueError
        For an unknown codec, or a model :func:`model_problem` finds a problem with.
    """
    if codec not in MODEL_CODECS:
        raise ValueError(f"unknown model codec {codec!r} (known: {', '.join(MODEL_CODECS)})")
    problem = model_problem(parameters, codec)
    if problem is not None:
        raise ValueError(problem)
    parts: Parameters = []
    for array in parameters:
        if not _compressible(array):
            parts.append(np.asarray(array))
        elif codec == "float16":
            parts.append(np.asarray(array, np.float16))
        else:  # int8_encode widens a block at a time: no float64 copy of the model
            values = np.asarray(array)
            q, scales = int8_encode(values, chunk, rng)
            parts += [q.reshape(values.shape), scales]
    return parts


def decode_model(
    parts: Sequence[np.ndarray], codec: str, chunk: int, dtypes: Sequence[np.dtype[Any]]
) -> Parameters:
    """The model ``parts`` stand for (see :func:`encode_model`), each array in its dtype,
    every part checked first.

    Raises
    ------
    ValueError
        Saying what is wrong: an unknown codec, a part count, dtype or shape the dtypes do
        not imply, an int8 value of -128, a negative or non-finite scale, a non-finite
        float16 value.
    """
    if codec not in MODEL_CODECS:
        raise ValueError(f"unknown model codec {codec!r} (known: {', '.join(MODEL_CODECS)})")
    per_float = 2 if codec == "int8" else 1
    needed = sum(per_float if dtype.kind == "f" else 1 for dtype in dtypes)
    expect_part_count(parts, needed, f"{codec} model parts for {len(dtypes)} arrays")
    out: Parameters = []
    at = 0
    for i, dtype in enumerate(dtypes):
        part = np.asarray(parts[at])
        if dtype.kind != "f":
            if part.dtype != dtype:
                raise ValueError(f"model array {i} is {part.dtype}, expected {dtype}")
            out.append(part)
            at += 1
        elif codec == "float16":
            out.append(checked_float_part(part, np.float16, part.shape, f"model array {i}"))
            at += 1
        else:
            out.append(checked_int8_array(part, np.asarray(parts[at + 1]), part.shape, chunk, i))
            at += 2
        out[-1] = np.asarray(out[-1]).astype(dtype)
    return out


def compressed_model(
    parameters: Sequence[np.ndarray], settings: UpdateCompression, rng: np.random.Generator
) -> tuple[Parameters, Parameters]:
    """``Q(w)`` as it travels and as the client decodes it: the parts, and the arrays the
    client trains from (decoded here exactly as the client decodes them).

    Raises
    ------
    ValueError
        As :func:`encode_model`.
    """
    parts = encode_model(parameters, settings.model, settings.chunk, rng)
    dtypes = [np.asarray(p).dtype for p in parameters]
    return parts, decode_model(parts, settings.model, settings.chunk, dtypes)


def model_codec_config(settings: UpdateCompression, parameters: Sequence[np.ndarray]) -> Config:
    """The round-config entries a client needs to decode the model it receives."""
    return {
        MODEL_CONFIG_PREFIX + "codec": settings.model,
        MODEL_CONFIG_PREFIX + "chunk": settings.chunk,
        MODEL_CONFIG_PREFIX + "dtypes": ",".join(np.asarray(p).dtype.name for p in parameters),
    }


def model_codec_from_config(config: Mapping[str, Any]) -> tuple[str, int, list[np.dtype[Any]]]:
    """The codec, chunk and array dtypes a round config names (see
    :func:`model_codec_config`).

    Raises
    ------
    ProtocolError
        If an entry is missing or malformed.
    """
    codec = config.get(MODEL_CONFIG_PREFIX + "codec")
    chunk = config.get(MODEL_CONFIG_PREFIX + "chunk")
    names = config.get(MODEL_CONFIG_PREFIX + "dtypes")
    if codec not in MODEL_CODECS:
        raise ProtocolError(
            f"the model arrived compressed with codec {codec!r}; this client reads "
            f"{', '.join(MODEL_CODECS)} (config[{MODEL_CONFIG_PREFIX + 'codec'!r}])"
        )
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ProtocolError(f"config[{MODEL_CONFIG_PREFIX + 'chunk'!r}] = {chunk!r} is not >= 1")
    if not isinstance(names, str):
        raise ProtocolError(f"config[{MODEL_CONFIG_PREFIX + 'dtypes'!r}] must name the dtypes")
    dtypes: list[np.dtype[Any]] = []
    for name in names.split(",") if names else []:
        try:
            dtype = np.dtype(name)
        except TypeError:
            dtype = np.dtype(object)
        if dtype.kind not in "fiub" or dtype.name != name:
            raise ProtocolError(f"the compressed model names dtype {name!r}, not a numeric one")
        dtypes.append(dtype)
    return str(codec), chunk, dtypes


def rebase(
    arrays: Sequence[np.ndarray], global_model: Sequence[np.ndarray], received: Parameters
) -> Parameters:
    """A reply trained from ``received`` (``Q(w)``) moved onto the exact model:
    ``w + (m - Q(w))`` for each of the model's floating-point arrays, in the reply's dtype
    (rounded to the nearest where the reply's is an integer one). Other arrays travelled as
    they are (``Q(w) = w`` there); arrays past the model's
    (SCAFFOLD's control-variate change) and arrays of another shape are left as they are
    (the result checks refuse the latter, naming them)."""
    out: Parameters = list(arrays)
    for i, (w, q) in enumerate(zip(global_model, received, strict=True)):
        if i >= len(out) or not _compressible(w):
            continue
        m = np.asarray(out[i])
        if m.shape != np.shape(w):
            continue
        moved = np.asarray(w, np.float64) + (m.astype(np.float64) - np.asarray(q, np.float64))
        out[i] = (np.rint(moved) if m.dtype.kind in "iub" else moved).astype(m.dtype)
    return out


def send_compressed_model(
    settings: UpdateCompression,
    server_round: int,
    seed: int,
    parameters: Parameters,
    phase: str,
    messages: Sequence[FitIns] | Sequence[EvaluateIns],
    decode: bool = True,
) -> Parameters | None:
    """Encode ``parameters`` once for the round and ``phase`` with ``settings.model``, put
    the parts and the codec's config in every message; return what the clients decode
    (``Q(w)``) when ``decode`` (a reply taken against it is re-based on it), else None.

    Raises
    ------
    RoundFailure
        If the model cannot be encoded (a value beyond float16's range, NaN or Inf).
    """
    rng = model_rng(seed, server_round, phase)
    received = None
    try:
        if decode:
            parts, received = compressed_model(parameters, settings, rng)
        else:
            parts = encode_model(parameters, settings.model, settings.chunk, rng)
    except ValueError as exc:
        raise RoundFailure(f"cannot send the model: {exc}") from exc
    entries = model_codec_config(settings, parameters)
    for message in messages:
        message.parameters = parts
        message.config.update(entries)
    return received


def downlink_problem(settings: UpdateCompression, parameters: Sequence[np.ndarray]) -> str | None:
    """Why ``parameters`` cannot travel to the clients as ``settings.model`` says (see
    :func:`model_problem`), or None, also when the model travels as it is: a workflow's
    ``model_problem``, asked before a round's new model is adopted (see
    :class:`~rengo.hfl.workflow.FitWorkflow`)."""
    return model_problem(parameters, settings.model) if settings.compresses_model else None


def send_evaluation_model(
    settings: UpdateCompression,
    server_round: int,
    seed: int,
    parameters: Parameters,
    instructions: Sequence[tuple[str, EvaluateIns]],
) -> None:
    """Put the compressed model in every evaluation instruction (nothing when the model
    travels as it is): the clients evaluate the kind of model they train from; a workflow's
    ``prepare_evaluate``.

    Raises
    ------
    RoundFailure
        As :func:`send_compressed_model`.
    """
    if settings.compresses_model and instructions:
        messages = [ins for _, ins in instructions]
        send_compressed_model(settings, server_round, seed, parameters, "evaluate", messages, False)
