"""Reindex from a DynamoDB export: manifests, data files, the source, deletes, the CLI.

Export folders are written in the layout DynamoDB writes to S3
(``tests/export_folders.py``) and read from a local path and from ``s3://``
on the local server (moto serves S3 on the DynamoDB endpoint), with Beam's S3
filesystem pointed at it by ``--s3_endpoint_url`` alone; credentials come
from boto3's default chain. Every pipeline test checks content.
"""

import base64
import dataclasses
import gzip
import hashlib
import itertools
import json
import os
import pickle
import zlib
from decimal import Decimal

import apache_beam as beam
import boto3
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipeline import cli
from pipeline.local.sample_data import generate_items
from pipeline.plan import compare_read_paths
from pipeline.reindex import ReindexConfig, ReindexError
from pipeline.reindex import run_reindex as run_export_reindex
from tests.export_folders import (
    full_records,
    incremental_record,
    ion_struct,
    ion_value,
    rewrite_manifest_files,
    upload_folder,
    write_export,
)
from tests.reindex_runs import index_rows, index_sink_args
from tests.runners import IN_PROCESS, RUNNERS
from transforms.dead_letters import read_dead_letters
from transforms.dynamodb.export.files import DataFileReader, TruncatedDataFile, filesystem_options
from transforms.dynamodb.export.ion import IonSyntaxError, parse_ion_line
from transforms.dynamodb.export.manifest import (
    ExportManifestError,
    read_export_manifest,
    relative_data_path,
    resolve_in_export,
)
from transforms.dynamodb.export.restriction import (
    DataFileRestriction,
    DataFileTracker,
    EndOfFile,
    ExportRestrictionCoder,
)
from transforms.dynamodb.export.source import (
    DataFileRead,
    ExportIntegrityError,
    ReadFromDynamoDBExport,
    _ExportRestrictionProvider,
)
from transforms.dynamodb.wire import dumps_item
from transforms.index import Document, document_id, open_backend
from transforms.index.delete import DeleteFromIndex, key_document_id

_buckets = itertools.count()


def typed_items(count):
    """Items with every DynamoDB type, binary as bytes."""
    return [
        {
            "id": {"S": f"w{i:04d}"},
            "n": {"N": str(i * 7 - 3)},
            "price": {"N": f"{i}.25"},
            "b": {"B": bytes([i % 256, 0, 255])},
            "ok": {"BOOL": i % 2 == 0},
            "none": {"NULL": True},
            "tags": {"SS": ["a", f"t{i}"]},
            "sizes": {"NS": ["1", "2.5"]},
            "blobs": {"BS": [b"\x00\x01", bytes([i % 256])]},
            "nested": {
                "M": {
                    "list": {"L": [{"S": "x'y\"z\\é"}, {"N": "-0.5"}, {"B": b"\xff"}]},
                    "map": {"M": {"deep": {"S": "\n\t"}}},
                }
            },
        }
        for i in range(count)
    ]


def canonical(item):
    return dumps_item(item)


def read_all(uri_or_read, runner_args, expected_items, **kwargs):
    with beam.Pipeline(options=PipelineOptions(runner_args)) as p:
        read = (
            uri_or_read
            if isinstance(uri_or_read, ReadFromDynamoDBExport)
            else ReadFromDynamoDBExport(uri_or_read, **kwargs)
        )
        items = p | read
        assert_that(items | beam.Map(canonical), equal_to([canonical(i) for i in expected_items]))


@pytest.fixture(scope="module")
def items_120():
    return typed_items(120)


@pytest.fixture(scope="module")
def full_export(tmp_path_factory, items_120):
    return write_export(tmp_path_factory.mktemp("full"), full_records(items_120), files=4)


# --- manifests ---------------------------------------------------------------


def test_manifest_of_the_documented_layout(full_export, items_120):
    manifest = read_export_manifest(full_export.root + "/")
    assert manifest.root == full_export.root
    assert manifest.export_type == "FULL_EXPORT" and not manifest.incremental
    assert manifest.output_format == "DYNAMODB_JSON"
    assert manifest.item_count == len(items_120) == sum(f.item_count for f in manifest.files)
    assert manifest.table_name == "works"
    assert [f.path for f in manifest.files] == [full_export.data_path(i) for i in range(5)]
    assert manifest.files[-1].item_count == 0
    summary_file = os.path.join(full_export.root, "manifest-summary.json")
    assert read_export_manifest(summary_file) == manifest


def test_data_file_keys_are_resolved_against_the_export_folder():
    assert relative_data_path("p/q/AWSDynamoDB/0170-ab/data/x.json.gz") == "data/x.json.gz"
    assert relative_data_path("AWSDynamoDB/0170-ab/manifest-files.json") == "manifest-files.json"
    assert relative_data_path("data/x.json.gz") == "data/x.json.gz"
    assert relative_data_path("elsewhere/x.json.gz") is None
    assert relative_data_path("AWSDynamoDB/0170-ab/../../secret") is None
    # incremental exports share AWSDynamoDB/data/, beside their folders
    assert relative_data_path("AWSDynamoDB/data/x.json.gz") == "../data/x.json.gz"
    assert relative_data_path("p/AWSDynamoDB/data/x.json.gz") == "../data/x.json.gz"
    assert relative_data_path("AWSDynamoDB/data/../x.json.gz") is None
    assert resolve_in_export("s3://b/p/AWSDynamoDB/0170-ab", "../data/x.json.gz") == (
        "s3://b/p/AWSDynamoDB/data/x.json.gz"
    )
    assert resolve_in_export("/e/AWSDynamoDB/0170-ab", "data/x.json.gz") == (
        "/e/AWSDynamoDB/0170-ab/data/x.json.gz"
    )


def test_export_type_defaults_to_full_when_the_summary_has_none(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120[:5]), export_type_field=False)
    assert read_export_manifest(folder.root).export_type == "FULL_EXPORT"


def _edit(path, change):
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(change(content))


def _summary_edit(change):
    def edit(content):
        summary = json.loads(content)
        change(summary)
        return json.dumps(summary).encode()

    return edit


CORRUPT_MANIFESTS = {
    "summary_not_json": (
        "manifest-summary.json",
        lambda c: c[:40],
        r"manifest-summary.json: not JSON",
    ),
    "item_count_missing": (
        "manifest-summary.json",
        _summary_edit(lambda s: s.pop("itemCount")),
        r"manifest-summary.json: 'itemCount' is missing",
    ),
    "unknown_format": (
        "manifest-summary.json",
        _summary_edit(lambda s: s.update(outputFormat="CSV")),
        r"'outputFormat' is 'CSV'; expected one of DYNAMODB_JSON, ION",
    ),
    "total_disagrees": (
        "manifest-summary.json",
        _summary_edit(lambda s: s.update(itemCount=s["itemCount"] + 1)),
        r"lists 120 items in 5 data files, but .*manifest-summary.json says itemCount 121",
    ),
    "files_line_not_json": (
        "manifest-files.json",
        lambda c: c.replace(b"\n", b"\n{oops\n", 1),
        r"manifest-files.json line 2: not JSON",
    ),
    "negative_count": (
        "manifest-files.json",
        lambda c: c.replace(b'"itemCount": 30', b'"itemCount": -30', 1),
        r"manifest-files.json line 1: 'itemCount' must be a whole number >= 0",
    ),
    "key_outside_export": (
        "manifest-files.json",
        lambda c: c.replace(b"exports/AWSDynamoDB/", b"exports/Elsewhere/", 1),
        r"manifest-files.json line 1: dataFileS3Key .* is not inside an AWSDynamoDB/",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_MANIFESTS))
def test_corrupt_manifests_are_clear_errors(tmp_path, items_120, case):
    name, change, message = CORRUPT_MANIFESTS[case]
    folder = write_export(tmp_path, full_records(items_120), files=4)
    path = os.path.join(folder.root, name)
    _edit(path, change)
    os.remove(path.replace(".json", ".checksum"))
    with pytest.raises(ExportManifestError, match=message):
        ReadFromDynamoDBExport(folder.root)


@pytest.mark.parametrize(
    "incremental, checksum", [(False, "checksum"), (True, "md5")], ids=["full", "incremental"]
)
def test_manifest_that_does_not_match_its_checksum(tmp_path, items_120, incremental, checksum):
    """Checksum files as AWS's guide names them (hex MD5) and as exports hold them
    (``manifest-*.md5``, a base64 MD5)."""
    records = (
        [incremental_record({"id": item["id"]}, item) for item in items_120]
        if incremental
        else full_records(items_120)
    )
    folder = write_export(tmp_path, records, files=4, incremental=incremental)
    assert os.path.exists(os.path.join(folder.root, f"manifest-files.{checksum}"))
    read_export_manifest(folder.root)
    _edit(os.path.join(folder.root, "manifest-files.json"), lambda c: c.replace(b"30", b"31", 1))
    with pytest.raises(
        ExportManifestError,
        match=rf"manifest-files.json does not match its checksum file .*\.{checksum} ",
    ):
        read_export_manifest(folder.root)


def test_a_summary_changed_after_the_export_is_read_with_a_warning(tmp_path, items_120, caplog):
    """Its figures are checked against manifest-files.json and the data files anyway
    (exports shared with their account ids masked have such summaries)."""
    folder = write_export(tmp_path, full_records(items_120), files=4)
    summary = os.path.join(folder.root, "manifest-summary.json")
    _edit(summary, lambda c: c.replace(b"123456789012", b"000000000000"))
    assert read_export_manifest(folder.root).item_count == 120
    assert "manifest-summary.json does not match its checksum file" in caplog.text
    assert "changed after the export" in caplog.text


def test_not_an_export_folder(tmp_path):
    with pytest.raises(ExportManifestError, match=r"no manifest-summary.json in .*AWSDynamoDB"):
        read_export_manifest(str(tmp_path))


# --- restriction and tracker -------------------------------------------------


def test_one_element_per_data_file_each_restricted_to_the_whole_file(full_export):
    manifest = read_export_manifest(full_export.root)
    provider = _ExportRestrictionProvider()
    reads = DataFileRead.all_of(manifest)
    restrictions = [provider.initial_restriction(read) for read in reads]
    assert [(r.file_index, r.start_line, r.stop_line) for r in restrictions] == [
        (n, 0, None) for n in range(5)
    ]
    assert [r.remaining_lines for r in restrictions] == [30, 30, 30, 30, 0]
    assert all(
        list(provider.split(rd, r)) == [r] for rd, r in zip(reads, restrictions, strict=True)
    )
    assert {(rd.file_count, rd.root, rd.table_name) for rd in reads} == {
        (5, manifest.root, "works")
    }


def test_checkpoint_after_claimed_lines_resumes_at_the_next_line():
    tracker = DataFileTracker(DataFileRestriction(2, expected_lines=10))
    assert all(tracker.try_claim(line) for line in range(4))
    primary, residual = tracker.try_split(0)
    assert (primary.start_line, primary.stop_line, primary.reaches_end) == (0, 4, False)
    assert (residual.start_line, residual.stop_line, residual.reaches_end) == (4, None, True)
    assert not tracker.try_claim(4)
    tracker.check_done()


def test_checkpoint_unstarted_hands_over_the_whole_file():
    tracker = DataFileTracker(DataFileRestriction(0, start_line=3))
    primary, residual = tracker.try_split(0)
    assert primary.empty and residual == DataFileRestriction(0, start_line=3)


def test_started_file_refuses_fraction_splits():
    tracker = DataFileTracker(DataFileRestriction(0, expected_lines=100))
    tracker.try_claim(0)
    assert tracker.try_split(0.5) is None


def test_lines_are_claimed_in_order():
    tracker = DataFileTracker(DataFileRestriction(0))
    tracker.try_claim(0)
    with pytest.raises(ValueError, match="Lines must be claimed in order"):
        tracker.try_claim(2)


def test_primary_stops_at_its_last_line_and_end_of_file_finishes():
    tracker = DataFileTracker(DataFileRestriction(0, 0, 2))
    assert tracker.try_claim(0) and tracker.try_claim(1)
    assert not tracker.try_claim(2)
    tracker.check_done()
    whole = DataFileTracker(DataFileRestriction(0))
    whole.try_claim(0)
    assert whole.try_claim(EndOfFile(1))
    whole.check_done()


def test_check_done_names_the_unread_line():
    tracker = DataFileTracker(DataFileRestriction(4))
    tracker.try_claim(0)
    with pytest.raises(ValueError, match="Data file 4 was not read to its end: line 1"):
        tracker.check_done()


def test_restriction_coder_round_trip():
    coder = ExportRestrictionCoder()
    for restriction in (
        DataFileRestriction(3, 10, None, expected_lines=50),
        DataFileRestriction(3, 10, 20),
        DataFileRestriction(0, 0, 0, True),
    ):
        assert coder.decode(coder.encode(restriction)) == restriction


# --- data files and Ion ------------------------------------------------------


def test_truncated_gzip_yields_its_complete_lines_then_fails(tmp_path):
    lines = [f'{{"Item":{{"id":{{"S":"w{i}"}}}}}}'.encode() for i in range(2000)]
    content = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "data.json.gz"
    path.write_bytes(content[: len(content) // 2])
    reader = DataFileReader(str(path))
    read = []
    with pytest.raises(TruncatedDataFile, match="is truncated"):
        for _, line in reader.lines():
            read.append(line)
    assert read and read == lines[: len(read)]


def test_several_gzip_members_are_one_file(tmp_path):
    path = tmp_path / "data.json.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\n"))
    assert [line for _, line in DataFileReader(str(path)).lines()] == [b"a", b"b", b"c"]


def test_ion_example_from_the_documentation():
    text = (
        '$ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],'
        'Dimensions:"8.5 x 11.0 x 1.5",ISBN:"333-3333333333",Id:103.,InPublication:false,'
        'PageCount:6d2,Price:2d3,ProductCategory:"Book",Title:"Book 103 Title"}}'
    )
    assert parse_ion_line(text)["Item"]["M"] == {
        "Authors": {"SS": ["Author1", "Author2"]},
        "Dimensions": {"S": "8.5 x 11.0 x 1.5"},
        "ISBN": {"S": "333-3333333333"},
        "Id": {"N": "103"},
        "InPublication": {"BOOL": False},
        "PageCount": {"N": "600"},
        "Price": {"N": "2000"},
        "ProductCategory": {"S": "Book"},
        "Title": {"S": "Book 103 Title"},
    }


def test_ion_numbers_strings_and_blobs():
    text = (
        "$ion_1_0 {Item:{'a b':1.50, c:-0., d:2d-3, e:1_000, f:\"\\u00e9\\x41\\n\", "
        "g:'''lo''' '''ng''', h:{{ aGVs bG8= }}, i:null.string, j:[1, \"x\"], /* c */ k:{}}}"
    )
    assert parse_ion_line(text)["Item"]["M"] == {
        "a b": {"N": "1.5"},
        "c": {"N": "0"},
        "d": {"N": "0.002"},
        "e": {"N": "1000"},
        "f": {"S": "éA\n"},
        "g": {"S": "long"},
        "h": {"B": b"hello"},
        "i": {"NULL": True},
        "j": {"L": [{"N": "1"}, {"S": "x"}]},
        "k": {"M": {}},
    }


@pytest.mark.parametrize(
    "payload", [b"\xff\xff", b"\xff\xf0", b"\xff\xff\xff", b"\xfc\x00", b"\xff" * 1024]
)
def test_ion_blobs_whose_base64_starts_with_slashes(payload):
    """Inside ``{{ }}`` a ``//`` or ``/*`` is base64, not a comment."""
    encoded = base64.b64encode(payload).decode()
    assert encoded.startswith("/")
    for spaced in (encoded, f" {encoded} ", f"\n{encoded}\n"):
        item = parse_ion_line(f"$ion_1_0 {{Item:{{k:{{{{{spaced}}}}}, s:[{{{{{spaced}}}}}]}}}}")
        assert item["Item"]["M"] == {"k": {"B": payload}, "s": {"L": [{"B": payload}]}}


def test_ion_round_trip_of_every_type(items_120):
    for item in items_120[:10]:
        assert parse_ion_line(f"$ion_1_0 {{Item:{ion_struct(item)}}}")["Item"]["M"] == item
    assert ion_value({"N": "6E+2"}) == "6d+2"


@pytest.mark.parametrize(
    "text", ["{Item:{a:}}", "{Item:{a:1", '{Item:{a:"x}}', "{Item:{a:(1 2)}}", "[1]"]
)
def test_ion_syntax_errors(text):
    with pytest.raises(IonSyntaxError):
        parse_ion_line(text)


# --- the source ----------------------------------------------------------------


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_every_item_exactly_once(full_export, items_120, runner):
    read_all(full_export.root, RUNNERS[runner], items_120)


def test_ion_export_gives_the_same_items(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120), output_format="ION")
    assert read_export_manifest(folder.root).output_format == "ION"
    read_all(folder.root, IN_PROCESS, items_120)


@pytest.mark.parametrize("runner", ["in_process", "portable"])
def test_checkpoint_every_few_lines_gives_the_same_items(full_export, items_120, runner):
    read_all(full_export.root, RUNNERS[runner], items_120, checkpoint_every_lines=7)


def test_items_carry_their_data_file(full_export, items_120):
    with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
        items = p | ReadFromDynamoDBExport(full_export.root, with_segments=True)
        assert_that(
            items | beam.Map(lambda s: (s.segment, s.total_segments, s.item["id"]["S"])),
            equal_to([(i % 4, 5, item["id"]["S"]) for i, item in enumerate(items_120)]),
        )


@pytest.fixture(scope="module")
def s3_export(dynamodb_server, tmp_path_factory, items_120):
    base = tmp_path_factory.mktemp("s3")
    folder = write_export(base, full_records(items_120), files=4)
    s3 = boto3.client("s3", endpoint_url=dynamodb_server.endpoint_url, region_name="us-east-1")
    bucket = f"exports-{next(_buckets)}"
    s3.create_bucket(Bucket=bucket)
    assert upload_folder(s3, bucket, base) == 10
    return f"s3://{bucket}/{folder.key_prefix()}/", s3, bucket, folder


def s3_args(server, runner_args):
    return [*runner_args, f"--s3_endpoint_url={server.endpoint_url}", "--s3_region_name=us-east-1"]


@pytest.mark.parametrize("runner", ["in_process", "multi_process"])
def test_export_on_s3_through_the_local_server(dynamodb_server, s3_export, items_120, runner):
    uri = s3_export[0]
    with beam.Pipeline(options=PipelineOptions(s3_args(dynamodb_server, RUNNERS[runner]))) as p:
        read = ReadFromDynamoDBExport(uri)
        assert read.manifest.item_count == len(items_120)
        items = p | read
        assert_that(items | beam.Map(canonical), equal_to([canonical(i) for i in items_120]))


def test_no_credentials_travel_with_the_source(dynamodb_server):
    options = PipelineOptions(
        [*s3_args(dynamodb_server, IN_PROCESS), "--s3_secret_access_key=never-carried"]
    )
    carried = filesystem_options(options)
    assert carried["s3_endpoint_url"] == dynamodb_server.endpoint_url
    assert not {"s3_secret_access_key", "s3_access_key_id", "s3_session_token"} & set(carried)


# --- integrity -------------------------------------------------------------------


_COLLECTED = {}


def _store(values, name):
    _COLLECTED[name] = values


def read_with_outputs(root):
    """Runs the read in this process; returns (items, removed keys, dead letters)."""
    _COLLECTED.clear()
    with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
        read = p | ReadFromDynamoDBExport(root).with_outputs()
        for name, pcoll in zip(("items", "removed", "dead"), read, strict=True):
            _ = (
                pcoll
                | f"List{name}" >> beam.combiners.ToList()
                | f"Store{name}" >> beam.Map(_store, name)
            )
    return _COLLECTED["items"], _COLLECTED["removed"], _COLLECTED["dead"]


def complete_lines_of(path):
    """The complete lines a truncated gzip file still holds."""
    data = zlib.decompressobj(31).decompress(open(path, "rb").read())
    return data.split(b"\n")[:-1]


def test_truncated_file_keeps_every_item_read_and_names_the_file(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120), files=4)
    path = folder.data_path(1)
    _edit(path, lambda c: c[: len(c) * 2 // 3])
    survivors = {json.loads(line)["Item"]["id"]["S"] for line in complete_lines_of(path)}
    assert 0 < len(survivors) < 30
    items, removed, dead = read_with_outputs(folder.root)
    expected = [i for n, i in enumerate(items_120) if n % 4 != 1 or i["id"]["S"] in survivors]
    assert sorted(map(canonical, items)) == sorted(map(canonical, expected))
    assert removed == []
    ((letter,),) = [dead]
    assert letter["stage"] == "export" and letter["error_type"] == "TruncatedDataFile"
    assert path in letter["error"] and f"{len(survivors)} complete items" in letter["error"]
    assert (letter["segment"], letter["total_segments"], letter["table"]) == (1, 5, "works")


def test_truncated_file_fails_a_plain_read(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120), files=4)
    _edit(folder.data_path(2), lambda c: c[: len(c) // 2])
    with pytest.raises(Exception, match=r"TruncatedDataFile: .*0002\w*\.json\.gz is truncated"):
        read_all(folder.root, IN_PROCESS, items_120)


def test_counts_and_checksums_are_checked_per_file(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120), files=4)

    def change(entries):
        entries[1]["itemCount"] += 1
        entries[2]["itemCount"] -= 1
        entries[3]["md5Checksum"] = base64.b64encode(b"0" * 16).decode()

    rewrite_manifest_files(folder, change)
    items, _, dead = read_with_outputs(folder.root)
    assert sorted(map(canonical, items)) == sorted(map(canonical, items_120))
    problems = sorted((dl["segment"], dl["error_type"]) for dl in dead)
    assert problems == [(1, "CountMismatch"), (2, "CountMismatch"), (3, "ChecksumMismatch")]
    by_file = {dl["segment"]: dl["error"] for dl in dead}
    assert "holds 30 items, but manifest-files.json lists 31" in by_file[1]
    assert folder.data_path(3) in by_file[3]


def _replace_lines(folder, replacements: dict[int, bytes]) -> str:
    """Rewrites lines of the first data file (by 0-based number); returns its path."""
    path = folder.data_path(0)
    lines = gzip.decompress(open(path, "rb").read()).split(b"\n")
    for number, line in replacements.items():
        lines[number] = line
    content = gzip.compress(b"\n".join(lines))
    with open(path, "wb") as f:
        f.write(content)
    rewrite_manifest_files(
        folder, lambda entries: entries[0].update(etag=hashlib.md5(content).hexdigest())
    )
    return path


def test_corrupt_line_is_reported_and_the_rest_is_read(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120), files=4, md5_in_manifest=False)
    bad_binary = b'{"Item": {"id": {"S": "w9"}, "bad": {"B": "not base64!"}}}'
    path = _replace_lines(folder, {3: bad_binary})
    items, _, dead = read_with_outputs(folder.root)
    lost = items_120[12]
    assert sorted(map(canonical, items)) == sorted(canonical(i) for i in items_120 if i is not lost)
    ((letter,),) = [dead]
    assert letter["error_type"] == "CorruptLine" and f"{path} line 4:" in letter["error"]


def test_a_lone_surrogate_is_a_corrupt_line_and_a_pair_is_text(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120), files=4, md5_in_manifest=False)
    path = _replace_lines(
        folder,
        {
            3: b'{"Item": {"id": {"S": "w9"}, "t": {"L": [{"S": "a\\udc00"}]}}}',
            5: b'{"Item": {"id": {"S": "w10"}, "t": {"S": "\\ud83d\\ude00 \\\\ud800"}}}',
        },
    )
    items, _, dead = read_with_outputs(folder.root)
    assert {"id": "w10", "t": "\U0001f600 \\ud800"} in [
        {name: value["S"] for name, value in item.items()} for item in items if "w10" in str(item)
    ]
    assert len(items) == 119
    ((letter,),) = [dead]
    assert letter["error_type"] == "CorruptLine" and f"{path} line 4:" in letter["error"]
    assert "lone surrogate" in letter["error"]


def test_missing_data_file(tmp_path, items_120):
    folder = write_export(tmp_path, full_records(items_120), files=4)
    os.remove(folder.data_path(3))
    items, _, dead = read_with_outputs(folder.root)
    assert len(items) == 90
    assert [dl["error_type"] for dl in dead] == ["MissingDataFile"]


# --- incremental exports, deletes and the whole job ------------------------------


def test_plain_read_refuses_an_incremental_export(tmp_path):
    folder = write_export(
        tmp_path, [incremental_record({"id": {"S": "w1"}})], incremental=True, files=1
    )
    with pytest.raises(ExportManifestError, match=r"incremental export.*with_outputs"):
        with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
            _ = p | ReadFromDynamoDBExport(folder.root)


def test_incremental_export_splits_upserts_and_removals(tmp_path):
    new = {"id": {"S": "w2"}, "n": {"N": "2"}}
    records = [
        incremental_record({"id": {"S": "w1"}}, old_image={"id": {"S": "w1"}}),
        incremental_record({"id": {"S": "w2"}}, new, old_image={"id": {"S": "w2"}}),
        incremental_record({"id": {"S": "w3"}}),
    ]
    folder = write_export(tmp_path, records, incremental=True, files=2, output_format="ION")
    items, removed, dead = read_with_outputs(folder.root)
    assert items == [new] and dead == []
    assert sorted(map(canonical, removed)) == [canonical({"id": {"S": f"w{i}"}}) for i in (1, 3)]


def test_delete_from_index_removes_the_documents_written_for_those_keys(tmp_path):
    uri = f"sqlite:///{tmp_path}/index.db"
    with open_backend(uri) as index:
        index.write_batch(
            [
                Document(document_id(["w1"]), "{}"),
                Document(document_id([Decimal("3")]), "{}"),
                Document(document_id([b"\x00\x01"]), "{}"),
                Document(document_id(["keep"]), "{}"),
            ]
        )
    keys = [
        {"id": {"S": "w1"}},
        {"id": {"N": "3.0"}},
        {"id": {"B": b"\x00\x01"}},
        {"id": {"S": "never-indexed"}},
        {"other": {"S": "x"}},
    ]
    with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
        deleted = p | beam.Create(keys) | DeleteFromIndex(uri, key_attributes=("id",), table="t")
        assert_that(
            deleted.deleted, equal_to(["w1", "3", "b64:AAE=", "never-indexed"]), label="Ids"
        )
        assert_that(
            deleted.dead_letters | beam.Map(lambda dl: (dl["stage"], dl["error_type"], dl["key"])),
            equal_to([("index", "InvalidId", {"other": {"S": "x"}})]),
            label="Dead",
        )
    with open_backend(uri) as index:
        assert index.count() == 1
    assert key_document_id({"pk": {"S": "a"}, "sk": {"N": "1"}}, ("pk", "sk")) == '["a",1]'


def export_config(tmp_path, export_root, **overrides):
    return ReindexConfig(
        table=None,
        model="pipeline.models:Work",
        index=f"sqlite:///{tmp_path}/index.db",
        dead_letters=str(tmp_path / "dead"),
        from_export=export_root,
        **overrides,
    )


@pytest.fixture(scope="module")
def works():
    return list(generate_items(240, malformed_fraction=0.05, seed=11))


def test_full_then_incremental_export_gives_the_expected_index(tmp_path, works):
    full = write_export(tmp_path / "full", full_records([s.item for s in works]))
    summary = run_export_reindex(
        export_config(tmp_path, full.root, key_attributes=("id",)), IN_PROCESS
    )
    good = {s.id: s.record.to_json() for s in works if s.defect is None}
    bad = {s.id for s in works if s.defect is not None}
    assert index_rows(tmp_path / "index.db") == good
    assert summary.accounted_for and summary.problem() is None
    assert (summary.manifest_items, summary.read, summary.indexed, summary.dead_lettered) == (
        240,
        240,
        len(good),
        len(bad),
    )
    assert {dl["key"]["id"]["S"] for dl in read_dead_letters(str(tmp_path / "dead"))} == bad

    fresh = list(generate_items(300, malformed_fraction=0.0, seed=12))
    good_ids = sorted(good)
    updated = {sid: fresh[n] for n, sid in enumerate(good_ids[:20])}
    removed = good_ids[20:35]
    inserted = [s for s in fresh[280:290]]
    records = []
    for sid, sample in updated.items():
        image = dict(sample.item, id={"S": sid})
        records.append(incremental_record({"id": {"S": sid}}, image, {"id": {"S": sid}}))
    records += [
        incremental_record({"id": {"S": sid}}, old_image={"id": {"S": sid}}) for sid in removed
    ]
    records += [
        incremental_record({"id": {"S": f"new{n}"}}, dict(s.item, id={"S": f"new{n}"}))
        for n, s in enumerate(inserted)
    ]
    incremental = write_export(tmp_path / "incr", records, incremental=True, files=3)
    summary = run_export_reindex(export_config(tmp_path, incremental.root, upsert=True), IN_PROCESS)

    expected = dict(good)
    for sid, sample in updated.items():
        expected[sid] = dataclasses.replace(sample.record, id=sid).to_json()
    for sid in removed:
        del expected[sid]
    for n, sample in enumerate(inserted):
        expected[f"new{n}"] = dataclasses.replace(sample.record, id=f"new{n}").to_json()
    assert index_rows(tmp_path / "index.db") == expected
    assert summary.accounted_for
    assert (summary.upserts, summary.removals, summary.deleted, summary.deleted_existing) == (
        30,
        15,
        15,
        15,
    )
    assert "check: manifest 45 == read 45 == indexed 30 + deleted 15 + dead-lettered 0: OK" in (
        summary.render()
    )


def test_incremental_exports_must_follow_what_the_index_is_current_to(tmp_path):
    """A full export makes the index current to its exportTime, each incremental
    export applied to its exportToTime: one that starts later (a gap) or ends
    earlier (older states) is refused unless --force; a scan forgets the moment."""
    items = [s.item for s in generate_items(20, malformed_fraction=0.0, seed=3)]
    full = write_export(tmp_path / "full", full_records(items), export_time="2026-11-04T07:00:00Z")
    run_export_reindex(export_config(tmp_path, full.root, key_attributes=("id",)), IN_PROCESS)

    def incremental(name: str, start: str, end: str):
        changed = dict(items[0], title={"S": f"changed in {name}"})
        return write_export(
            tmp_path / name,
            [incremental_record({"id": items[0]["id"]}, changed)],
            incremental=True,
            export_from_time=start,
            export_to_time=end,
        ).root

    def apply(root: str, force: bool = False):
        return run_export_reindex(
            export_config(tmp_path, root, upsert=True, force=force), IN_PROCESS
        )

    first = incremental("first", "2026-11-04T07:00:00Z", "2026-11-04T08:00:00Z")
    gap = incremental("gap", "2026-11-04T09:00:00Z", "2026-11-04T10:00:00Z")
    older = incremental("older", "2026-11-04T06:00:00Z", "2026-11-04T06:30:00Z")
    overlapping = incremental("overlapping", "2026-11-04T07:30:00Z", "2026-11-04T09:00:00Z")
    assert apply(first).accounted_for
    with pytest.raises(
        ReindexError,
        match=r"as of 2026-11-04T08:00:00Z, but this incremental "
        r"export starts at 2026-11-04T09:00:00Z: the changes in between",
    ):
        apply(gap)
    with pytest.raises(
        ReindexError,
        match=r"after this incremental export's end "
        r"2026-11-04T06:30:00Z: it would bring back older states",
    ):
        apply(older)
    assert "changed in first" in index_rows(tmp_path / "index.db")[items[0]["id"]["S"]]
    assert apply(overlapping).accounted_for  # its changes are as of 09:00: newer
    assert apply(gap).accounted_for  # now it follows
    assert apply(older, force=True).accounted_for
    assert "changed in older" in index_rows(tmp_path / "index.db")[items[0]["id"]["S"]]


def test_composite_keys_must_be_named(tmp_path):
    record = incremental_record({"pk": {"S": "a"}, "sk": {"N": "1"}})
    folder = write_export(tmp_path, [record], incremental=True, files=1)
    with pytest.raises(ReindexError, match=r"pk, sk: pass --key-attributes HASH,RANGE"):
        run_export_reindex(export_config(tmp_path, folder.root), IN_PROCESS)


def test_scan_options_are_refused_with_an_export(tmp_path, full_export):
    with pytest.raises(ValueError, match="--total-segments apply to a scan"):
        run_export_reindex(export_config(tmp_path, full_export.root, total_segments=4), IN_PROCESS)


# --- the command line --------------------------------------------------------------


def run_cli(capsys, *args):
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def export_reindex_args(export: str, tmp_path, *, key_attributes: str | None = "id") -> list[str]:
    """``reindex --from-export EXPORT [--key-attributes KEYS]`` into ``tmp_path``."""
    keys = ["--key-attributes", key_attributes] if key_attributes else []
    return ["reindex", "--from-export", export, *keys, *index_sink_args(tmp_path)]


def test_cli_reindex_from_an_export_on_s3(dynamodb_server, tmp_path, capsys, works):
    base = tmp_path / "export"
    folder = write_export(base, full_records([s.item for s in works]), files=3)
    s3 = boto3.client("s3", endpoint_url=dynamodb_server.endpoint_url, region_name="us-east-1")
    bucket = f"exports-{next(_buckets)}"
    s3.create_bucket(Bucket=bucket)
    upload_folder(s3, bucket, base)
    code, out, err = run_cli(
        capsys,
        *export_reindex_args(f"s3://{bucket}/{folder.key_prefix()}/", tmp_path),
        *s3_args(dynamodb_server, IN_PROCESS),
    )
    assert code == 0, err
    good = {s.id: s.record.to_json() for s in works if s.defect is None}
    assert index_rows(tmp_path / "index.db") == good
    assert f"check: manifest 240 == read 240 == indexed {len(good)}" in out


def test_cli_says_a_file_read_whole_but_unlike_its_manifest_is_an_integrity_problem(
    tmp_path, capsys, works
):
    folder = write_export(tmp_path / "export", full_records([s.item for s in works]), files=3)
    rewrite_manifest_files(
        folder, lambda entries: entries[1].update(md5Checksum=base64.b64encode(b"0" * 16).decode())
    )
    code, out, err = run_cli(
        capsys, *export_reindex_args(folder.root, tmp_path), "--upsert", *IN_PROCESS
    )
    assert code == cli.EXIT_MISMATCH, err
    assert "MISMATCH: some data files do not match the manifests (see integrity)" in out
    assert "not read whole" not in out


def test_cli_reports_a_truncated_file_and_keeps_the_rest(tmp_path, capsys, works):
    folder = write_export(tmp_path / "export", full_records([s.item for s in works]), files=3)
    _edit(folder.data_path(0), lambda c: c[: len(c) // 2])
    code, out, err = run_cli(
        capsys,
        *export_reindex_args(folder.root, tmp_path),
        "--upsert",
        *IN_PROCESS,
    )
    assert code == cli.EXIT_MISMATCH
    assert f"error: TruncatedDataFile: {folder.data_path(0)} is truncated" in err
    assert "MISMATCH: the export was not read whole" in out
    survivors = {
        json.loads(line)["Item"]["id"]["S"] for line in complete_lines_of(folder.data_path(0))
    }
    expected = {
        s.id: s.record.to_json()
        for n, s in enumerate(works)
        if s.defect is None and (n % 3 != 0 or s.id in survivors)
    }
    assert index_rows(tmp_path / "index.db") == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (["--table", "t", "--from-export", "x"], "not allowed with argument"),
        ([], "one of the arguments --table --from-export is required"),
    ],
)
def test_cli_table_or_export(tmp_path, capsys, args, message):
    code, _, err = run_cli(
        capsys,
        "reindex",
        *args,
        *index_sink_args(tmp_path),
    )
    assert code == cli.EXIT_USAGE and message in err


def test_cli_corrupt_manifest_is_one_line(tmp_path, capsys, items_120):
    folder = write_export(tmp_path, full_records(items_120))
    _edit(os.path.join(folder.root, "manifest-summary.json"), lambda c: c[:30])
    code, _, err = run_cli(
        capsys,
        *export_reindex_args(folder.root, tmp_path, key_attributes=None),
        *IN_PROCESS,
    )
    assert code == cli.EXIT_FAILED
    assert err.strip().count("\n") == 0 and "manifest-summary.json" in err


# --- plan: scan or export ------------------------------------------------------------


def test_plan_recommends_an_export_for_a_long_scan():
    comparison = compare_read_paths(200 * 1024**3, 500_000_000, 2000)
    assert comparison.recommendation == "export"
    assert comparison.scan_read_units == pytest.approx(200 * 1024**3 / 4096 / 2, rel=0.01)
    assert comparison.scan_seconds == pytest.approx(comparison.scan_read_units / 2000)
    assert comparison.export_cost == pytest.approx(20.0)
    assert "choose: export" in comparison.render()


def test_plan_recommends_a_scan_for_a_short_one():
    comparison = compare_read_paths(1024**3, 2_000_000, 1000, consistent_read=True)
    assert comparison.recommendation == "scan"
    assert comparison.scan_read_units == pytest.approx(1024**3 / 4096, rel=0.01)
    assert "strongly consistent" in comparison.render()
    assert compare_read_paths(1024**3, 2_000_000, None).recommendation == "either"


def test_integrity_error_names_its_kind_and_pickles():
    error = ExportIntegrityError("CountMismatch", "x.json.gz")
    assert str(error) == "CountMismatch: x.json.gz"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_cli_swap_alias_refuses_an_incremental_export(tmp_path, capsys):
    folder = write_export(
        tmp_path, [incremental_record({"id": {"S": "w1"}})], incremental=True, files=1
    )
    code, _, err = run_cli(
        capsys,
        *export_reindex_args(folder.root, tmp_path),
        "--swap-alias",
        *IN_PROCESS,
    )
    assert code == cli.EXIT_USAGE
    assert "--swap-alias needs a full export" in err and err.strip().count("\n") == 0
