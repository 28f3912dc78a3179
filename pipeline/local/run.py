"""``python -m pipeline.local.run``: the whole job on a laptop, as run_local.sh does.

Starts a DynamoDB-compatible server (moto) on a free loopback port, creates
and seeds a table with sample works (about 1% malformed by default), runs
``reindex`` on the DirectRunner, prints the summary and a sample search, and
stops the server. The index and the dead letters stay under ``--out``; a
later run into the same folder replaces only them (``pipeline.local.run_folder``),
and a non-empty folder that no run wrote is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pipeline.logs import configure_logging

configure_logging()

from pipeline import cli  # noqa: E402  (logging first: Beam logs on import)
from pipeline.local import seed  # noqa: E402
from pipeline.local.dynamodb_server import LocalDynamoDB, dummy_credentials  # noqa: E402
from pipeline.local.run_folder import RunFolderError, prepare_run_folder  # noqa: E402

TABLE = "works"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_local.sh", description=__doc__)
    parser.add_argument("--items", type=int, default=10_000, help="items to seed (10,000)")
    parser.add_argument("--malformed-fraction", type=float, default=0.01)
    parser.add_argument("--total-segments", type=int, help="default: chosen from the table")
    parser.add_argument("--page-size", type=int)
    parser.add_argument(
        "--out",
        default="local-run",
        help="folder for index and dead letters: new, empty or an earlier run's (local-run)",
    )
    parser.add_argument("--query", default="history", help="the sample search")
    args, beam_args = parser.parse_known_args(argv)
    out = os.path.abspath(args.out)
    try:
        prepare_run_folder(out)
    except RunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return cli.EXIT_USAGE
    except OSError as error:
        print(f"error: cannot prepare --out {out}: {error}", file=sys.stderr)
        return cli.EXIT_FAILED

    # A local server must never see real credentials.
    os.environ.update(dummy_credentials())
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)

    index = f"sqlite:///{out}/index.db"
    with LocalDynamoDB() as server:
        print(f"local DynamoDB (moto) at {server.endpoint_url}", file=sys.stderr)
        seed.main(
            [
                "--table",
                TABLE,
                "--endpoint-url",
                server.endpoint_url,
                "--items",
                str(args.items),
                "--malformed-fraction",
                str(args.malformed_fraction),
            ]
        )
        reindex = [
            "reindex",
            "--table",
            TABLE,
            "--model",
            "pipeline.models:Work",
            "--index",
            index,
            "--dead-letters",
            os.path.join(out, "dead-letters"),
            "--endpoint-url",
            server.endpoint_url,
        ]
        if args.total_segments:
            reindex += ["--total-segments", str(args.total_segments)]
        if args.page_size:
            reindex += ["--page-size", str(args.page_size)]
        status = cli.main(reindex + beam_args)
    if status == cli.EXIT_OK:
        print(f"\nsample search for {args.query!r}:")
        cli.main(["search", "--index", index, "--limit", "5", args.query])
        print(f"\nindex: {out}/index.db   dead letters: {out}/dead-letters/")
    return status


if __name__ == "__main__":
    sys.exit(main())
