"""Benchmark: items/s from a DynamoDB export against a scan of the same items.

The same sample items (``pipeline.local.sample_data``, 1% malformed) are put in a
table of the local DynamoDB server (moto, on loopback) and written as an
export folder in DynamoDB's layout (gzip JSON lines and manifests), which is
also uploaded to the server's S3 API. Then, on the in-process runner
(``FnApiRunner``), one after the other on the same machine:

* source only: ``ReadFromDynamoDB`` / ``ReadFromDynamoDBExport`` and a count;
* the whole reindex (read, decode, index into SQLite, dead letters), as
  ``python -m pipeline reindex --table ...`` / ``--from-export ...`` runs it.

Each figure is items read / wall time of the pipeline run, best of
``--repeats``. Note what each side measures here: the scan is paced by the
local server (moto answers a few hundred to a thousand items/s), the export
by this process's gzip, JSON and decode work. Prints a table and writes it to
``bench/results/export_vs_scan.md``::

    .venv/bin/python bench/export_vs_scan.py --items 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import apache_beam as beam
import boto3
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.local.dynamodb_server import LocalDynamoDB, dummy_credentials
from pipeline.local.sample_data import create_table, generate_items, seed_table
from pipeline.reindex import ReindexConfig, run_reindex
from pipeline.summary import counter_totals
from tests.export_folders import full_records, upload_folder, write_export
from transforms.dynamodb.export.source import ReadFromDynamoDBExport
from transforms.dynamodb.scan.source import ReadFromDynamoDB

RESULTS = Path(__file__).resolve().parent / "results" / "export_vs_scan.md"
REGION = "us-east-1"
RUNNER = ["--runner=FnApiRunner"]


def _count_items(build, args: list[str]) -> tuple[int, float]:
    """Runs the source alone; items are counted by its own ``items`` counter."""
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    _ = build(pipeline) | beam.Map(lambda item: None)
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - started
    totals = counter_totals(result)
    count = totals.get(("dynamodb", "items"), 0) + totals.get(("dynamodb_export", "items"), 0)
    return count, seconds


def _print_row(kind: str, name: str, count: int, seconds: float) -> None:
    print(f"{kind:12} {name:32} {count:>8,} items {seconds:7.2f} s {count / seconds:9,.0f}/s")


def _best(runs):
    return max(runs, key=lambda run: run[0] / run[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.update(dummy_credentials())
    samples = list(generate_items(args.items, malformed_fraction=0.01, seed=1))
    items = [sample.item for sample in samples]
    work = Path(tempfile.mkdtemp(prefix="export-vs-scan-"))
    folder = write_export(work / "export", full_records(items), files=args.files, empty_files=0)
    rows = []
    with LocalDynamoDB() as server:
        client = boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name=REGION)
        create_table(client, "works")
        seed_table(client, "works", items)
        s3 = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION)
        s3.create_bucket(Bucket="exports")
        upload_folder(s3, "exports", work / "export")
        s3_uri = f"s3://exports/{folder.key_prefix()}/"
        s3_args = [
            *RUNNER,
            f"--s3_endpoint_url={server.endpoint_url}",
            f"--s3_region_name={REGION}",
        ]

        def scan(p):
            return p | ReadFromDynamoDB(
                "works",
                total_segments=args.segments,
                endpoint_url=server.endpoint_url,
                region_name=REGION,
            )

        sources = [
            ("source only", "scan (moto, loopback)", scan, RUNNER),
            (
                "source only",
                "export, local folder",
                lambda p: p | ReadFromDynamoDBExport(folder.root),
                RUNNER,
            ),
            (
                "source only",
                "export, s3:// (moto, loopback)",
                lambda p: p | ReadFromDynamoDBExport(s3_uri),
                s3_args,
            ),
        ]
        for kind, name, build, beam_args in sources:
            count, seconds = _best([_count_items(build, beam_args) for _ in range(args.repeats)])
            rows.append((kind, name, count, seconds))
            _print_row(kind, name, count, seconds)

        def reindex(name: str, beam_args: list[str], **source) -> tuple[int, float]:
            out = Path(tempfile.mkdtemp(dir=work))
            config = ReindexConfig(
                model="pipeline.models:Work",
                index=f"sqlite:///{out}/index.db",
                dead_letters=str(out / "dead"),
                region=REGION,
                **source,
            )
            summary = run_reindex(config, beam_args)
            assert summary.accounted_for, summary.render()
            count = getattr(summary, "read", None) or summary.scanned
            return count, summary.elapsed_seconds

        jobs = [
            (
                "scan (moto, loopback)",
                RUNNER,
                dict(
                    table="works",
                    endpoint_url=server.endpoint_url,
                    total_segments=args.segments,
                ),
            ),
            (
                "export, local folder",
                RUNNER,
                dict(table=None, from_export=folder.root, key_attributes=("id",)),
            ),
            (
                "export, s3:// (moto, loopback)",
                s3_args,
                dict(table=None, from_export=s3_uri, key_attributes=("id",)),
            ),
        ]
        for name, beam_args, source in jobs:
            runs = [reindex(name, beam_args, **source) for _ in range(args.repeats)]
            count, seconds = _best(runs)
            rows.append(("reindex", name, count, seconds))
            _print_row("reindex", name, count, seconds)
    table = [
        f"# Export vs scan, {args.items:,} sample items",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Beam {beam.__version__}, FnApiRunner; "
        f"scan with {args.segments} segments, export in {args.files} gzip files; "
        f"best of {args.repeats}.",
        "",
        "| measured | read path | items | seconds | items/s |",
        "|---|---|---:|---:|---:|",
    ]
    table += [
        f"| {kind} | {name} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} |"
        for kind, name, count, seconds in rows
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(table) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
