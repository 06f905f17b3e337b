"""Two firms, different customer data: a bank and an online shop, with federated transfer
learning. See README.md beside this file.

    .venv/bin/python examples/transfer/run.py --small     # seconds-to-a-minute (CI)
    .venv/bin/python examples/transfer/run.py             # 30,000 customers, 2048-bit keys
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rengo.showcase import plot_transfer_story, run_transfer_story


def main() -> None:
    parser = argparse.ArgumentParser(description="A bank and an online shop: secure FTL.")
    parser.add_argument("--small", action="store_true", help="900 customers, 512-bit keys")
    parser.add_argument("--rows", type=int, default=30000, help="customers drawn")
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--plaintext", action="store_true", help="trusted parties: no HE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, default=Path("transfer.png"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rows, key_bits, epochs = args.rows, args.key_bits, args.epochs
    if args.small:
        rows, key_bits, epochs = 900, 512, 2
    story = run_transfer_story(
        rows=rows,
        security="plaintext" if args.plaintext else "homomorphic",
        key_bits=key_bits,
        epochs=epochs,
        # small encoders: the encrypted gradient costs batch x dim x parameters products
        options={"dim": 4, "source_hidden": "8", "target_hidden": "8", "batch_size": 100},
        seed=args.seed,
    )
    print(f"plot: {plot_transfer_story(story, args.plot)}")
    if args.json:
        print(json.dumps(asdict(story), indent=2))


if __name__ == "__main__":
    main()
