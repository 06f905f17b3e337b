"""One-vs-rest hetero LR: K binary logistic regressions trained as one, in the same messages.

FATE's hetero LR (1.x ``HeteroLRGuest``, 2.x ``CoordinatedLR``) trains a label of K > 2
classes one-vs-rest: one binary model per class, class k against every other (Rifkin &
Klautau, "In defense of one-vs-all classification", JMLR 5, 2004). Here the K models share
every protocol pass: the K binary problems are one binary problem on K *class rows* per
aligned row, with block-diagonal columns,

    X_ovr[i K + k] = e_k (x) x_i          (the Kronecker product ``kron(X, I_K)``)
    y_ovr[i K + k] = 1[y_i = k],          w_ovr[f K + k] = W[f, k],

so ``X_ovr w_ovr`` holds every row's K partial scores and ``X_ovr^T d`` every class's
gradient. Nobody holds ``X_ovr`` of the whole table (K^2 times the table): each batch's
class rows are expanded from its aligned rows as the batch runs (:func:`batch_columns`),
so a party holds its table once and one batch's ``K |B| x K F`` class rows (Newton-CG,
whose one batch is every row, holds every row's: a feature party refuses that above
:data:`NEWTON_EXPANSION_LIMIT`). Each batch, a
host sends the guest ``Enc(X_k[B] W_k)``: K ciphertexts a row, one
per class (the cost per class is that of a binary run: K times the ciphertexts); the guest
forms the K residuals of each row; a batch keeps a row's K class rows together, so a host's
K F gradient sums still leave ``K (|B| - F)`` dimensions of the residuals open (the same
exposure rule as binary). Hosts learn K (they receive K ciphertexts a row), never a label or
class name; the coordinator decrypts masked gradients only, as in a binary run.

The Taylor loss reported (and watched by early stopping) is the mean over the K binary
losses. Probabilities are normalised across classes as scikit-learn's
``OneVsRestClassifier.predict_proba`` does (``p_k / sum_j p_j``); ``predict`` is the argmax.
"""

from __future__ import annotations

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError

MAX_CLASSES = 256
"""The most classes one-vs-rest takes (every class costs one binary model's ciphertexts)."""

NEWTON_EXPANSION_LIMIT = 4 * 2**30
"""The most bytes (4 GiB) a feature party lets one-vs-rest Newton-CG's expansion of its
table take: ``kron(X, I_K)`` of every row, ``K^2 n F`` float64 values
(:func:`newton_expansion_bytes`); a label party's set-up asking for more is refused
(:func:`require_newton_expansion_fits`) instead of exhausting the party's memory."""


def class_count(labels: np.ndarray, multi_class: str, who: str) -> int:
    """How many one-vs-rest models the labels need: 1 for a binary model (``"auto"`` with
    0/1 labels), else the number of classes K (labels are class codes ``0 .. K-1``).

    Parameters
    ----------
    labels
        The label party's labels of its aligned rows.
    multi_class
        ``"auto"`` (binary for 0/1 labels, one-vs-rest for more classes) or ``"ovr"``
        (one model per class, also for two).
    who
        The label party's name, for the message.

    Returns
    -------
    int
        1 (binary) or K >= 2.

    Raises
    ------
    DataError
        Naming the party, when labels are not class codes ``0 .. K-1`` (with the first bad
        value and its row), a code between has no row, or there are more than
        :data:`MAX_CLASSES` classes.
    """
    try:
        y = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{who}: multi-class labels must be class codes 0..K-1 ({exc}); encode class "
            "names as codes (a job file and the estimator do it for you)"
        ) from exc
    if multi_class == "auto" and bool(np.isin(y, (0.0, 1.0)).all()):
        return 1
    wrong = ~np.isfinite(y) | (y < 0) | (y != np.floor(y))
    if wrong.any():
        row = int(np.argmax(wrong))
        raise DataError(
            f"{who}: one-vs-rest logistic regression needs class codes 0..K-1 as labels, "
            f"found {float(y[row])!r} at aligned row {row}; encode each class as its index"
        )
    classes = int(y.max()) + 1 if len(y) else 0
    present = np.bincount(y.astype(np.int64), minlength=classes)
    missing = np.flatnonzero(present == 0).tolist()
    if classes < 2 or missing:
        raise DataError(
            f"{who}: one-vs-rest logistic regression needs every class code 0..K-1 on some "
            f"aligned row, but codes {missing[:5] or [0, 1]} have none among the "
            f"{len(y)} row(s); renumber the classes present, or check that the parties "
            "write their IDs the same way"
        )
    if classes > MAX_CLASSES:
        raise DataError(
            f"{who}: {classes} classes is more than one-vs-rest trains ({MAX_CLASSES}; "
            "each class costs a binary model's ciphertexts); group rare classes"
        )
    return classes


def class_columns(x: np.ndarray, classes: int) -> np.ndarray:
    """The one-vs-rest table of ``x``: ``kron(x, I_K)``, row ``i K + k`` holding ``x_i`` in
    the columns of class k (``x`` itself when ``classes`` is 1, a binary model)."""
    if classes == 1:
        return x
    expanded: np.ndarray = np.kron(x, np.eye(classes))
    return expanded


def newton_expansion_bytes(rows: int, columns: int, classes: int) -> int:
    """Bytes of :func:`class_columns` of a ``rows`` x ``columns`` float64 table: ``K^2 n F``
    values of 8 bytes (Newton-CG's one batch is every row, expanded at once)."""
    return rows * classes * columns * classes * 8


def require_newton_expansion_fits(
    rows: int, columns: int, classes: int, guest: str, own: bool = False
) -> None:
    """Refuse a set-up asking for one-vs-rest Newton-CG whose expansion of this party's
    table would take more than :data:`NEWTON_EXPANSION_LIMIT` bytes (a feature party asked
    by the label party's set-up, or the label party about its own table, ``own``).

    Parameters
    ----------
    rows, columns
        The party's aligned table's shape.
    classes
        K, the class models the label party's set-up names (1: binary, never refused: the
        table is its own expansion).
    guest
        The label party, for the message.
    own
        Whether this is the label party's own set-up (its configuration error), not one
        it sent (a protocol error at the feature party).

    Raises
    ------
    ProtocolError
        Naming the optimizer, K, the table and the limit, if the expansion is too large.
    ConfigError
        The same, for the label party's own table (``own``).
    """
    needed = newton_expansion_bytes(rows, columns, classes)
    if classes > 1 and needed > NEWTON_EXPANSION_LIMIT:
        refusal = ConfigError if own else ProtocolError
        raise refusal(
            f"{guest}'s set-up asks for optimizer='newton' over {classes} classes: "
            f"expanding this party's {rows} x {columns} table into the class models' rows "
            f"(K^2 x rows x columns values) takes {needed / 2**30:.1f} GiB, more than "
            f"NEWTON_EXPANSION_LIMIT ({NEWTON_EXPANSION_LIMIT / 2**30:.0f} GiB): train "
            "with optimizer='adam' or 'sgd', which expand one batch at a time"
        )


def batch_columns(x: np.ndarray, aligned: np.ndarray, classes: int) -> np.ndarray:
    """The class rows of the aligned rows ``aligned`` of ``x``: ``class_columns(x[aligned])``,
    bit for bit the rows :func:`class_rows` picks from ``class_columns(x)``, without the
    whole table's expansion (``K^2`` times the table) ever being made.

    Parameters
    ----------
    x
        A party's aligned rows (the label party's with its intercept column).
    aligned
        The batch's aligned rows, in order.
    classes
        K (1: a binary model, whose batch is ``x[aligned]``).

    Returns
    -------
    numpy.ndarray
        Shape ``(K |aligned|, K F)``: row ``i K + k`` holds ``x[aligned[i]]`` in class k's
        columns.
    """
    return class_columns(x[aligned], classes)


def class_targets(codes: np.ndarray, classes: int) -> np.ndarray:
    """The 0/1 labels of the class rows: ``1[y_i = k]`` at row ``i K + k``."""
    onehot = np.asarray(codes, dtype=np.int64)[:, None] == np.arange(classes)[None, :]
    targets: np.ndarray = onehot.astype(np.float64).ravel()
    return targets


def class_rows(rows: np.ndarray, classes: int) -> np.ndarray:
    """The class rows of aligned ``rows`` (``i K .. i K + K - 1`` for each ``i``, in order),
    so that a batch keeps a row's K class rows together."""
    if classes == 1:
        return rows
    expanded: np.ndarray = (
        np.asarray(rows, dtype=np.int64)[:, None] * classes + np.arange(classes)
    ).ravel()
    return expanded


def class_matrix(weights: np.ndarray, classes: int) -> np.ndarray:
    """Weights in one-vs-rest layout (``w[f K + k]``) as a matrix of one column per class."""
    matrix: np.ndarray = np.asarray(weights).reshape(-1, classes)
    return matrix


def normalised_probabilities(positive: np.ndarray) -> np.ndarray:
    """Rows of class probabilities from each class model's ``P(y = k)`` (rows x K), each
    row divided by its sum as scikit-learn's ``OneVsRestClassifier.predict_proba`` does.
    """
    total = positive.sum(axis=1, keepdims=True)
    normalised: np.ndarray = positive / np.where(total > 0, total, 1.0)
    return normalised
