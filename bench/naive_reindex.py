"""The reindex script a user would write without this project – the baseline.

Threads over parallel-scan segments, boto3's ``scan`` page after page,
``TypeDeserializer`` and ``Work.from_dict`` per item, ``to_json()`` per
record, and ``executemany`` of the upsert into the embedded index's schema
(created by ``SQLiteIndex`` so that both sides write the same tables and
full-text triggers), in transactions of ``--batch-size`` rows. No dead
letters: it expects every item to fit the model.

    python bench/naive_reindex.py --endpoint-url URL --table works \\
        --index /tmp/naive.db --segments 8
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from boto3.dynamodb.types import TypeDeserializer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.models import Work
from transforms.index.sqlite import UPSERT, SQLiteIndex


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--table", required=True)
    parser.add_argument("--index", required=True, help="path of the SQLite file")
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)

    SQLiteIndex(args.index).close()
    connection = sqlite3.connect(args.index, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    write_lock = threading.Lock()
    client = boto3.client("dynamodb", endpoint_url=args.endpoint_url, region_name=args.region)
    deserializer = TypeDeserializer()

    def write(rows):
        with write_lock:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(UPSERT, rows)
            connection.execute("COMMIT")

    def scan_segment(segment: int) -> int:
        request = {"TableName": args.table, "Segment": segment, "TotalSegments": args.segments}
        rows, written = [], 0
        while True:
            page = client.scan(**request)
            for item in page["Items"]:
                plain = {name: deserializer.deserialize(value) for name, value in item.items()}
                work = Work.from_dict(plain)
                rows.append((work.id, work.to_json()))
                if len(rows) >= args.batch_size:
                    write(rows)
                    written += len(rows)
                    rows = []
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if rows:
            write(rows)
            written += len(rows)
        return written

    with ThreadPoolExecutor(max_workers=args.segments) as pool:
        total = sum(pool.map(scan_segment, range(args.segments)))
    connection.close()
    print(f"indexed {total:,} items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
