"""The demo's stories, built on the library and kept out of it.

* The credit-default consortium: a bank, a telecom and a card issuer train one scorecard
  with hetero logistic regression (:func:`run_credit_default`), and value each feature
  party's columns (:func:`credit_party_contribution`).
* Two firms with different customer data: a bank and an online shop, with federated transfer
  learning (:func:`run_transfer_story`, :func:`plot_transfer_story`).
* The tournament's cast: five participants of known skill (:data:`FIVE_PARTICIPANTS`).
* ``rengo demo`` itself (:func:`run_demo`): horizontal FL on digits with contribution and
  payouts, the consortium, transfer learning, and the tournament.

This layer sits beside the CLI: it may import any library layer, and no library layer
imports it.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.showcase.credit_contribution import CreditContribution, credit_party_contribution
    from rengo.showcase.credit_default import (
        CreditConsortium,
        credit_consortium,
        run_credit_default,
    )
    from rengo.showcase.demo import run_demo
    from rengo.showcase.tournament_cast import FIVE_PARTICIPANTS
    from rengo.showcase.transfer_story import TransferStory, plot_transfer_story, run_transfer_story


__all__ = [
    "FIVE_PARTICIPANTS",
    "CreditConsortium",
    "CreditContribution",
    "TransferStory",
    "credit_consortium",
    "credit_party_contribution",
    "plot_transfer_story",
    "run_credit_default",
    "run_demo",
    "run_transfer_story",
]

__getattr__, __dir__ = lazy_exports(__name__)
