"""Settings of SplitNN: the one place its options and their defaults live.

Every surface is generated from :class:`SplitNNConfig`: the estimator's keyword arguments,
the ``[vfl]`` keys of a vertical job file (``algorithm = "splitnn"``), the
``rengo vfl coordinator`` flags, and the plan every party receives (so every party builds
the same shapes and runs the same epochs and batches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rengo.core.options import OptionError, check_options, option
from rengo.data.class_weights import CLASS_WEIGHT_HELP, NO_CLASS_WEIGHT, class_weight_text

Task = Literal["binary", "multiclass"]
Defense = Literal["none", "gaussian", "max_norm", "marvell"]
OptimizerName = Literal["adam", "sgd"]

MAX_LEARNING_RATE = 3.4028234663852886e38
"""float32's largest value: the networks train in float32, whose optimizers cannot take a
larger step size (PyTorch refuses it mid-training)."""


@dataclass(frozen=True)
class SplitNNConfig:
    """Hyper-parameters of split learning with one bottom model per party and a top model.

    Every party's bottom model is ``Linear(columns, bottom_hidden) -> ReLU ->
    Linear(bottom_hidden, embedding_dim) -> ReLU`` (no hidden layer when ``bottom_hidden``
    is 0); the label party's top model is ``Linear(sum of embeddings, top_hidden) -> ReLU ->
    Linear(top_hidden, outputs)`` (linear when ``top_hidden`` is 0). ``task="binary"``
    trains one logit with the logistic loss (prediction: ``P(y = 1)``);
    ``"multiclass"`` a softmax over the classes the label party finds in its labels.

    ``defense`` changes the cut-layer gradients the label party returns to feature parties
    against the label-leakage attacks of Li et al. (ICLR 2022), see
    :mod:`rengo.vfl.splitnn.leakage`: ``"gaussian"`` adds isotropic noise of standard
    deviation ``noise_scale * max_i ||g_i|| / sqrt(d)`` per coordinate (``max_i ||g_i||``:
    the batch's largest gradient norm, ``d``: the embedding width), so the noise's expected
    norm is about ``noise_scale`` times the largest gradient; ``"max_norm"`` is Li et al.'s
    heuristic: each row gets noise that lifts its expected squared norm to the batch's
    largest (``noise_scale`` multiplies that variance); ``"marvell"`` is Li et al.'s
    optimised defence (binary tasks only, :mod:`rengo.vfl.splitnn.marvell`): per batch,
    label-dependent Gaussian noise whose covariances minimise the KL bound on any
    attacker's leak AUC within the power budget ``P = noise_scale * ||g_bar_1 -
    g_bar_0||^2`` (the paper's scale ``s``: the expected squared noise norm, averaged over
    the batch's rows, is at most ``noise_scale`` times the squared distance between the
    two classes' mean gradients).

    With ``validation_fraction`` > 0 that share of the aligned rows is held out of training
    (every party derives the same rows from the run's seed, as SecureBoost does) and, after
    each epoch, training stops once the validation loss has not improved by ``tol`` for
    ``n_iter_no_change`` epochs (0: never stop early; without a validation share the
    training loss decides). The model is the last epoch's. ``class_weight`` weighs each
    row's loss by its class's weight at the label party (``"balanced"``, or per class code
    as ``"0:1,1:25"`` or ``{0: 1, 1: 25}``, a class's code being its position in
    ``classes_``: the label itself for 0/1 labels; see :mod:`rengo.data.class_weights`):
    every batch's loss is the mean of its rows' weighted losses, the epoch and validation
    losses too. The balanced weights come from the label party's training rows and never
    leave it.

    Raises
    ------
    OptionError
        Naming the first option whose value is out of range.
    """

    epochs: int = option(10, "Training epochs.", ge=1)
    batch_size: int = option(64, "Rows per mini-batch.", ge=1)
    learning_rate: float = option(
        0.01, "Step size of every party's optimizer.", gt=0, le=MAX_LEARNING_RATE
    )
    optimizer: OptimizerName = option("adam", "Every party's optimizer.")
    task: Task = option("binary", "binary (one logit, P(y=1)) or multiclass (softmax).")
    bottom_hidden: int = option(32, "Hidden width of each bottom model (0: none).", ge=0)
    embedding_dim: int = option(16, "Width of each party's cut-layer embedding.", ge=1)
    top_hidden: int = option(32, "Hidden width of the top model (0: linear).", ge=0)
    defense: Defense = option(
        "none", "Noise on returned gradients: none, gaussian, max_norm, marvell (binary)."
    )
    noise_scale: float = option(
        1.0, "Scale of the defense's noise (marvell: power P = s*||g1-g0||^2).", ge=0
    )
    validation_fraction: float = option(
        0.0, "Share of aligned rows held out for early stopping (0: none).", ge=0, lt=1
    )
    n_iter_no_change: int = option(
        0, "Stop after this many epochs without improvement (0: never).", ge=0
    )
    tol: float = option(1e-7, "Smallest loss improvement that counts for early stopping.", ge=0)
    class_weight: str = option(NO_CLASS_WEIGHT, CLASS_WEIGHT_HELP, convert=class_weight_text)

    def __post_init__(self) -> None:
        check_options(self)
        if self.defense == "marvell" and self.task != "binary":
            raise OptionError(
                "defense",
                f"'marvell' protects binary labels only (task={self.task!r}); use "
                "task='binary', or defense='gaussian' or 'max_norm' for more classes",
            )
