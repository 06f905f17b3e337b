"""The coordinator's SecureBoost training role: the key pair and masked decryptions, if asked.

By default the label party holds the key pair and the coordinator only organises the run:
it hears when each tree is complete (and whether training stopped there), which it reports
as the run's epochs, so that a deployed run's record and the dashboard follow it tree by
tree. It never hears a loss. With ``key_holder = "coordinator"`` it makes the key
pair, hands out the public key and decrypts what the label party sends it, values masked
with one-time pads in Z_n (:mod:`rengo.crypto.masking`): to it, uniform residues.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rengo.core.errors import ConfigError, ProtocolError
from rengo.crypto.encrypted_array import EncryptedArray
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.masking import decrypt_masked
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints
from rengo.vfl.hetero_lr.resume import save_coordinator, start_coordinator
from rengo.vfl.progress import ProgressFn, TrainingReporter
from rengo.vfl.secureboost.boosting import EPOCH_UNIT
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.model import SecureBoostReport
from rengo.vfl.secureboost.protocol import PLAIN, PUBLIC_KEY, REQUEST, SCOPE

Keypair = tuple[PaillierPublicKey, PaillierPrivateKey]


def secureboost_coordinator(
    channel: Channel,
    parties: Sequence[str],
    guest: str,
    config: SecureBoostConfig,
    *,
    keys: Keypair | None = None,
    checkpoints: EpochCheckpoints | None = None,
    progress: ProgressFn | None = None,
) -> SecureBoostReport:
    """The coordinator: hands out the public key and decrypts masked sums when it holds the
    key pair; otherwise it only hears how many trees were grown.

    Parameters
    ----------
    channel
        The coordinator's channel.
    parties
        Every party (label party first).
    guest
        The label party.
    config
        The training settings.
    keys
        Its key pair (only when ``config.key_holder == "coordinator"``).
    checkpoints
        A resumable run's checkpoints: it keeps how many trees were grown and values it
        decrypted after each tree, when the label party says the tree is complete.
    progress
        Told at the start and when each tree is complete (an epoch of unit ``"tree"``,
        without a loss; see :mod:`rengo.vfl.progress`).

    Returns
    -------
    SecureBoostReport
        Trees grown and values it decrypted (uniform residues to it).

    Raises
    ------
    ProtocolError
        If the label party sends something malformed, or tree notices out of order.
    """
    sbt = channel.scope(SCOPE)
    private = None
    if config.key_holder == "coordinator":
        if keys is None:
            raise ConfigError("the coordinator holds the keys of this run but was given none")
        public, private = keys
        for party in parties:
            sbt.send(party, PUBLIC_KEY, public)
    resumed = start_coordinator(checkpoints)
    decrypted, trees_done = resumed.decrypted, resumed.epochs_run
    reporter = TrainingReporter(progress, channel.name, config.n_trees, 1, unit=EPOCH_UNIT)
    reporter.begin(trees_done)
    request = 0
    while True:
        step = sbt.scope(request=request)
        message = step.recv(guest, REQUEST)
        if isinstance(message, dict) and set(message) == {"report"}:
            report = message["report"]
            if not isinstance(report, dict) or not isinstance(report.get("trees"), int):
                raise ProtocolError(f"{guest} sent a malformed report")
            if report["trees"] != trees_done:
                raise ProtocolError(
                    f"{guest} reports {report['trees']} trees, but said {trees_done} were complete"
                )
            return SecureBoostReport(int(report["trees"]), decrypted)
        if isinstance(message, dict) and set(message) == {"checkpoint"}:
            trees, stopped = _expect_tree_notice(message["checkpoint"], guest, trees_done, config)
            save_coordinator(checkpoints, trees, decrypted, stopped)
            reporter.epoch_end(trees - 1, None, stop=stopped)
            trees_done = trees
            request += 1
            continue
        if private is None or not isinstance(message, dict) or set(message) != {"masked"}:
            raise ProtocolError(f"{guest} sent a malformed request")
        masked = message["masked"]
        if not isinstance(masked, EncryptedArray):
            raise ProtocolError(f"{guest} sent values to decrypt that are not ciphertexts")
        private.require_matches(masked.public_key)
        step.send(guest, PLAIN, decrypt_masked(masked, private))
        decrypted += masked.size
        request += 1


def _expect_tree_notice(
    value: Any, guest: str, trees_done: int, config: SecureBoostConfig
) -> tuple[int, bool]:
    """The label party's "tree complete" notice: trees so far (one more than before, at
    most the configured number), whether training stopped."""
    trees = value.get("trees") if isinstance(value, dict) else None
    stopped = value.get("stopped") if isinstance(value, dict) else None
    if (
        not isinstance(trees, int)
        or isinstance(trees, bool)
        or trees < 1
        or not isinstance(stopped, bool)
    ):
        raise ProtocolError(f"{guest} sent a malformed tree notice")
    if trees != trees_done + 1 or trees > config.n_trees:
        raise ProtocolError(
            f"{guest} says tree {trees} is complete after tree {trees_done}, of at most "
            f"{config.n_trees}: trees are grown one at a time"
        )
    return trees, stopped
