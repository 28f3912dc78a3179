"""Packaging for the DynamoDB parallel-scan reindex pipeline.

Installs the packages ``pipeline`` (the application) and ``transforms`` (the
reusable Beam parts). The same file serves as Beam's ``--setup_file`` so that
remote workers (Dataflow, Flink) install exactly what the job needs; on a
dask.distributed cluster the workers install the project with the ``dask``
extra (see docs/runners.md).
"""

from setuptools import find_packages, setup

BEAM = ">=2.60,<3"
RUNTIME = [
    f"apache-beam{BEAM}",
    "boto3>=1.34",
    "dataclasses-json>=0.6,<0.7",
    # Parses Scan pages in about three quarters of json.loads's time, with the
    # same result (transforms/dynamodb/json_parse.py); json is used without it.
    "orjson>=3.9",
    # Decodes Scan items straight from their JSON into structs of the wire
    # form, type-checked in C: with the generated conversion, a page becomes
    # model instances in about a third of the CPU of parsing to dicts and
    # decoding those (transforms/decode/wire_structs.py).
    "msgspec>=0.18",
]
# Beam's DaskRunner and dask.distributed, for the client and every worker.
DASK = [f"apache-beam[dask]{BEAM}"]

ELASTICSEARCH = ["elasticsearch>=8.12,<9"]
OPENSEARCH = ["opensearch-py>=2.4,<4"]

EXTRAS = {
    # A DynamoDB-compatible server for local runs: moto's server mode.
    # moto[dynamodb] plus flask is a sixth of moto[server]'s footprint.
    "local": ["moto[dynamodb]>=5.0,<6", "flask>=2", "flask-cors>=4"],
    # Index clients: the official bulk helpers of each search server.
    "elasticsearch": ELASTICSEARCH,
    "opensearch": OPENSEARCH,
    "dask": DASK,
    # Plots of the benchmarks in bench/ (the figures print without it), and
    # awswrangler, the alternative bench/vs_awswrangler.py compares against.
    "bench": ["matplotlib>=3.7", "awswrangler>=3.0"],
    "test": [
        "pytest>=8",
        # Runs the suite in two processes: it mostly waits on servers and
        # subprocesses, so two workers take it from about 11 to 7 minutes on 2 CPUs.
        "pytest-xdist>=3.5",
        "hypothesis>=6.100",
        "ruff>=0.5",
        # moto's S3 API, for export folders on s3:// through Beam's FileSystems.
        "moto[s3]>=5.0,<6",
        # Loopback servers speaking the OpenSearch and Elasticsearch 8 APIs.
        "osmem-server==0.1.6",
        "noida-db==0.2.3",
        *ELASTICSEARCH,
        *OPENSEARCH,
        # A dask.distributed cluster of worker processes for the DaskRunner tests.
        *DASK,
    ],
}
EXTRAS["dev"] = sorted({dep for deps in EXTRAS.values() for dep in deps})

setup(
    name="dynamodb-reindex",
    version="0.1.0",
    description=(
        "Reindex a whole DynamoDB table with Apache Beam: parallel scan, "
        "strict typed decoding, dead letters, search-index sinks."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*"]),
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["dynamodb-reindex=pipeline.cli:main"]},
)
