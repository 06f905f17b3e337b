"""Federated prediction for the target's new rows: the translator is never sent.

The target encodes its rows, ``u = f_B(x)``; the scores ``Phi u`` need the source's
translator. Per chunk of rows:

* homomorphic: A -> B ``[[Phi]]_A`` (once); B computes ``[[Phi u^T]]_A`` with its plaintext
  representations, masks it with a one-time pad and sends it; A decrypts the masked residues
  (uniform noise to it) and returns them; B removes the mask and has the scores;
* plaintext (trusted parties): B -> A ``u``; A -> B ``Phi u^T``.

What each party learns: the target learns the scores of the rows it scored, and with them
``Phi`` itself: it knows its own representations ``u``, and the scores are ``Phi u`` (binary:
the logit of ``P(y = 1)``), so any ``dim`` scored rows with independent representations give
``Phi`` by solving a linear system - no chosen inputs needed. ``Phi`` is not sent, but treat
it as known to the target once it has scored ``dim`` rows. The source learns how many rows
were scored, and in plaintext mode their representations. No feature of either party and no
label leaves it.
"""

from __future__ import annotations

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.masking import decrypt_masked, mask_encrypted, unmask
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.randomness import random_source
from rengo.ftl.config import TransferConfig
from rengo.ftl.math import class_probabilities
from rengo.ftl.roles import Keypair, SourceModel, TargetModel, encoder_module
from rengo.transport.channel import Channel
from rengo.vfl.common import require_trained_columns, standardised

SCOPE = "ftl-predict"
REQUEST = "request"  # B -> A: how many rows, in how many chunks
PHI = "phi"  # A -> B (homomorphic): [[Phi]]_A
ASK = "ask"  # (per chunk) B -> A: masked [[Phi u^T]]_A, or u in plaintext mode
ANSWER = "answer"  # (per chunk) A -> B: the decrypted masked residues, or the scores
CHUNK_ROWS = 2048


def ftl_predict_source(
    channel: Channel,
    model: SourceModel,
    target: str,
    config: TransferConfig,
    keys: Keypair | None = None,
) -> None:
    """The source's side of scoring: it answers the target's requests with its translator.

    Raises
    ------
    ProtocolError
        If the target asks for something malformed.
    """
    scope = channel.scope(SCOPE)
    request = scope.recv(target, REQUEST)
    if not isinstance(request, dict) or set(request) != {"rows", "chunks"}:
        raise ProtocolError(f"{target} sent a malformed scoring request")
    chunks = int(request["chunks"])
    width, dim = model.phi.shape
    if config.homomorphic and keys is None:
        raise ProtocolError("homomorphic scoring needs the source's key pair")
    if keys is not None and config.homomorphic:
        public, private = keys
        pool = ObfuscatorPool(public, private_key=private)
        scope.send(target, PHI, encrypt_array(model.phi, public, precision_bits=32, pool=pool))
    for k in range(chunks):
        chunk = scope.scope(chunk=k)
        asked = chunk.recv(target, ASK)
        if keys is not None and config.homomorphic:
            if not isinstance(asked, EncryptedArray) or asked.public_key != keys[0]:
                raise ProtocolError(f"{target}: masked scores are not under the source's key")
            if asked.ndim != 2 or asked.shape[0] != width:
                raise ProtocolError(f"{target}: masked scores of shape {asked.shape}")
            chunk.send(target, ANSWER, decrypt_masked(asked, keys[1]))
        else:
            if not isinstance(asked, np.ndarray) or asked.ndim != 2 or asked.shape[1] != dim:
                raise ProtocolError(f"{target}: representations must be a (rows, {dim}) array")
            chunk.send(target, ANSWER, np.asarray(asked, dtype=np.float64) @ model.phi.T)


def ftl_predict_target(
    channel: Channel,
    features: np.ndarray,
    model: TargetModel,
    source: str,
    config: TransferConfig,
) -> np.ndarray:
    """The target scores its rows: ``P(y = 1)`` per row (binary) or a row of class
    probabilities (multiclass).

    Raises
    ------
    DataError
        If its table's columns (flattened) differ from training's.
    ProtocolError
        If the source answers with something malformed.
    """
    from rengo.ftl import encoders as enc

    module = encoder_module(model)
    given = np.asarray(features, dtype=np.float64)
    x = given.reshape(len(given), int(np.prod(given.shape[1:])))  # (n, ...) -> (n, columns)
    require_trained_columns(x, model.encoder.in_features, channel.name)
    x = standardised(x, model.inputs)
    u = enc.represent(module, x) if len(x) else np.empty((0, model.encoder.dim))
    starts = list(range(0, len(u), CHUNK_ROWS))
    scope = channel.scope(SCOPE)
    scope.send(source, REQUEST, {"rows": len(u), "chunks": len(starts)})
    binary = model.objective == "binary"
    width = 1 if binary else len(model.classes)
    public: PaillierPublicKey | None = None
    phi: EncryptedArray | None = None
    if config.homomorphic:
        received = scope.recv(source, PHI)
        if not isinstance(received, EncryptedArray) or received.shape != (width, u.shape[1]):
            raise ProtocolError(
                f"{source} sent no encrypted translator of shape {(width, u.shape[1])}"
            )
        phi, public = received, received.public_key
        pool = ObfuscatorPool.for_encryptor(  # one mask per score: width x rows
            public,
            config.obfuscator_scheme,
            processes=config.obfuscator_processes,
            expected_count=width * len(u),
        )
    scores = np.empty((len(u), width))
    for k, start in enumerate(starts):
        chunk = scope.scope(chunk=k)
        part = u[start : start + CHUNK_ROWS]
        if phi is not None and public is not None:
            masked, mask = mask_encrypted(phi.matmul(part.T, 32), random_source(None), pool)
            chunk.send(source, ASK, masked)
            scores[start : start + len(part)] = unmask(chunk.recv(source, ANSWER), mask, public).T
        else:
            chunk.send(source, ASK, part)
            answer = chunk.recv(source, ANSWER)
            if not isinstance(answer, np.ndarray) or answer.shape != (len(part), width):
                raise ProtocolError(f"{source} answered scores of the wrong shape")
            scores[start : start + len(part)] = answer
    return class_probabilities(scores, binary)
