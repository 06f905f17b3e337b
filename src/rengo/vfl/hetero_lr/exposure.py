"""When a feature party's gradient gives away the label party's residuals.

In the coordinated linear models (:mod:`rengo.vfl.hetero_lr.roles`, and Poisson regression,
:mod:`rengo.vfl.hetero_poisson.roles`) a feature party k learns its own gradient of each
batch B, ``X_k[B]^T d``: one sum per column over the batch's rows of its own features
(which it knows) times the label party's residual of each row (``d = u/4 + 0.5 - y`` for
LR: ``0.5 - y`` in the first epoch, where every weight is 0; ``u - y`` for linear
regression, ``mu - y`` for Poisson). That is F equations, for its F columns, in the |B|
unknowns ``d``: with ``F >= |B|`` (columns in general position) the party solves them for
``d`` exactly and reads the batch's labels. Training cuts whole batches
(:func:`~rengo.vfl.common.batch_order` with ``whole=True``: the remainder joins the last),
so the smallest batch holds ``batch_size`` rows, or every row when there are fewer (and
under Newton-CG, whose one batch is the whole table). A feature party with at least that
many columns is refused before anything is decrypted: by itself at set-up, and by the
coordinator when the party's first gradient arrives (against one that skipped its own
check).

It is refused, not warned about (as transfer learning's encoders are,
:mod:`rengo.ftl.exposure`): here the equations are exact and linear, so the party reads the
labels themselves, not an estimate, and a warning that scrolls by would leave them read.
A wide table has a way out that changes nothing else: a larger ``batch_size``.
"""

from __future__ import annotations

from rengo.core.errors import ConfigError
from rengo.vfl.common import smallest_batch


def residual_exposure(party: str, columns: int, rows: int, batch_size: int) -> str | None:
    """Why ``party`` could solve its gradient of a batch for the label party's residuals,
    or ``None``.

    Parameters
    ----------
    party
        The feature party whose gradient it is.
    columns
        The length of its gradient: its columns (after missing-value handling).
    rows
        The aligned rows every epoch cuts into batches.
    batch_size
        Rows per batch (all of them under Newton-CG).

    Returns
    -------
    str or None
        A message naming the party, its columns, the smallest batch and what to change,
        when ``columns`` is at least the smallest batch's rows.
    """
    n = smallest_batch(rows, batch_size)
    if n == 0 or columns < n:
        return None
    exposed = (
        f"{party} has {columns} columns, at least the smallest batch of {n} rows: from its "
        f"gradient of a batch ({columns} sums over the batch's rows of its columns times the "
        f"label party's residuals) {party} could solve for the residual of every row of the "
        "batch, and so read the label party's labels. "
    )
    if rows > columns:
        return exposed + (
            f"Raise batch_size above {columns} so that every batch holds more rows than "
            f"{party} has columns (the remainder of an epoch joins its last batch), or give "
            f"{party} fewer columns"
        )
    return exposed + (
        f"The table has only {rows} aligned rows, so no batch_size helps: give {party} "
        f"fewer than {rows} columns (select or combine them), or align more rows"
    )


def require_no_residual_exposure(party: str, columns: int, rows: int, batch_size: int) -> None:
    """Refuse a feature party whose gradient of a batch would give away the label party's
    residuals (:func:`residual_exposure`).

    Raises
    ------
    ConfigError
        Naming the party, its columns, the smallest batch and the fix.
    """
    reason = residual_exposure(party, columns, rows, batch_size)
    if reason is not None:
        raise ConfigError(reason)
