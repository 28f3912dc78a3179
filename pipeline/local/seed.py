"""``python -m pipeline.local.seed``: create a table and fill it with sample works.

Used by ``run_local.sh``; the items come from :mod:`pipeline.local.sample_data`,
with a share of malformed ones as a real table accumulates.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import boto3

from pipeline.local.sample_data import create_table, generate_items, seed_table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local.seed", description=__doc__)
    parser.add_argument("--table", required=True)
    parser.add_argument("--endpoint-url")
    parser.add_argument("--region")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--malformed-fraction", type=float, default=0.01)
    parser.add_argument("--payload-bytes", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    client = boto3.client("dynamodb", endpoint_url=args.endpoint_url, region_name=args.region)
    started = time.monotonic()
    create_table(client, args.table)
    samples = generate_items(
        args.items,
        malformed_fraction=args.malformed_fraction,
        seed=args.seed,
        payload_bytes=args.payload_bytes,
    )
    malformed = 0

    def items():
        nonlocal malformed
        for sample in samples:
            malformed += sample.defect is not None
            yield sample.item

    written = seed_table(client, args.table, items())
    print(
        f"seeded table {args.table!r}: {written:,} items ({malformed:,} malformed) "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
