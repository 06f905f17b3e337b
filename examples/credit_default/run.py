"""The credit-default consortium: bank, telecom and card issuer train one scorecard, with
hetero logistic regression and with SecureBoost.

    .venv/bin/python examples/credit_default/run.py --small
    .venv/bin/python examples/credit_default/run.py --small --contribution --budget 500.00

``--contribution`` then values the bank's and the telecom's columns: Shapley values on the
new customers' AUC, each coalition retrained (see rengo.showcase.credit_contribution), and a budget
split in proportion to them.

See README.md beside this file for the story, the steps and what each party learns.
"""

from __future__ import annotations

import argparse
import json

from rengo.rewards import DEFAULT_CURRENCY, currency_decimals, to_minor_units
from rengo.showcase import credit_party_contribution, run_credit_default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", action="store_true", help="2,000 of the bundled customers, 512-bit keys"
    )
    parser.add_argument("--key-bits", type=int, default=None, help="Paillier modulus size")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--local-obfuscators",
        action="store_true",
        help="each party makes its own encryption randomness (slower; trusts the coordinator less)",
    )
    parser.add_argument(
        "--contribution",
        action="store_true",
        help="also value each feature party by Shapley over retrained coalitions",
    )
    parser.add_argument(
        "--budget",
        default="1000.00",
        help="reward pool in credits (major units, e.g. 1000.00), split by contribution",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="all 30,000 customers from the shared data folder (else the bundled sample)",
    )
    parser.add_argument(
        "--no-secureboost", action="store_true", help="train hetero logistic regression only"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    budget_minor = to_minor_units(args.budget, currency_decimals(DEFAULT_CURRENCY))
    figures = run_credit_default(
        args.small,
        key_bits=args.key_bits,
        epochs=args.epochs,
        seed=args.seed,
        obfuscators="local" if args.local_obfuscators else "coordinator",
        full=args.full,
        progress=not args.json,
        boosted=not args.no_secureboost,
    )
    if args.contribution:
        print("6. what each feature party's columns are worth (Shapley on new-customer AUC)")
        contribution = credit_party_contribution(
            args.small,
            seed=args.seed,
            key_bits=args.key_bits,
            epochs=args.epochs,
            budget_minor=budget_minor,
            obfuscators="local" if args.local_obfuscators else "coordinator",
            full=args.full,
        )
        figures["contribution"] = contribution.as_dict()
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
