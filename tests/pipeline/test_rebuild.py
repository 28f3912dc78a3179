"""``reindex`` rebuilds by default: the index equals the table, on SQLite and both servers.

Each test runs the real command line against the local DynamoDB server and
an index on SQLite, Elasticsearch (noida-db) or OpenSearch (osmem-server),
then reads back what the live name serves. Tables are small (moto is slow)
and every run has the default timeout of ``tests.reindex_runs.cli``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from pipeline.local.sample_data import create_table, generate_items, seed_table
from pipeline.reindex import ReindexError, RunHooks, run_reindex
from tests.index_contents import BACKENDS, SERVERS, IndexUnderTest, expected_documents, rest
from tests.index_servers import elasticsearch_url, opensearch_url, unique_index  # noqa: F401
from tests.reindex_runs import cli, index_rows, last_error_line, reindex_args, reindex_config
from tests.runners import IN_PROCESS
from tests.tables import seeded_table, unique_name
from transforms.index import Document, open_backend
from transforms.index.alias import live_index, rollback
from transforms.journal import SWAPPED, VERIFIED, RunJournal

ITEMS = 120
CHANGED = 15
SCAN = ("--total-segments", "2")


@pytest.fixture(params=BACKENDS)
def index(request, tmp_path) -> IndexUnderTest:
    """A fresh index on each backend."""
    if request.param == "sqlite":
        db = tmp_path / "index.db"
        return IndexUnderTest("sqlite", f"sqlite:///{db}", db_path=db)
    scheme, fixture = SERVERS[request.param]
    url = request.getfixturevalue(fixture)
    uri = f"{scheme}://{url.split('://', 1)[1]}/{unique_index('rebuild')}"
    return IndexUnderTest(request.param, uri, url=url)


def new_table(client, items: int = ITEMS, *, malformed: float = 0.0, seed: int = 41):
    """A seeded table: ``(name, {id: record JSON} of its good items)``."""
    samples = list(generate_items(items, malformed_fraction=malformed, seed=seed))
    name = unique_name("rebuild")
    create_table(client, name)
    seed_table(client, name, [s.item for s in samples])
    return name, {s.record.id: s.record.to_json() for s in samples if s.defect is None}


def reindex(server, table, index: IndexUnderTest, tmp_path, *extra, dead="dead"):
    return cli(
        *reindex_args(server.endpoint_url, table, tmp_path, index=index.uri, dead_letters=dead),
        *SCAN,
        *IN_PROCESS,
        *extra,
    )


def change_table(client, table: str, good: dict[str, str]) -> dict[str, str]:
    """Deletes, modifies and adds ``CHANGED`` items each; returns the table's records now."""
    ids = sorted(good)
    deleted, modified = ids[:CHANGED], ids[CHANGED : 2 * CHANGED]
    for doc_id in deleted:
        client.delete_item(TableName=table, Key={"id": {"S": doc_id}})
    fresh = list(generate_items(len(good) + CHANGED, malformed_fraction=0.0, seed=99))
    expected = {k: v for k, v in good.items() if k not in deleted}
    changed = []
    for doc_id, sample in zip(modified, fresh, strict=False):
        changed.append(dict(sample.item, id={"S": doc_id}))
        expected[doc_id] = dataclasses.replace(sample.record, id=doc_id).to_json()
    for sample in fresh[len(good) :]:
        changed.append(sample.item)
        expected[sample.record.id] = sample.record.to_json()
    seed_table(client, table, changed)
    assert all(expected[doc_id] != good[doc_id] for doc_id in modified)
    return expected


def test_a_second_reindex_leaves_the_index_equal_to_the_table_and_rollback_restores_the_first(
    dynamodb_server, dynamodb_client, index, tmp_path
):
    table, good = new_table(dynamodb_client)
    first = reindex(dynamodb_server, table, index, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert index.documents() == expected_documents(good)
    (first_build,) = index.live_targets()

    expected = change_table(dynamodb_client, table, good)
    second = reindex(dynamodb_server, table, index, tmp_path)

    assert second.returncode == 0, second.stderr[-3000:]
    (second_build,) = index.live_targets()
    assert index.documents() == expected_documents(expected)
    assert len(expected) == ITEMS
    if not index.is_server:
        assert index_rows(index.db_path) == expected  # byte-identical bodies
    assert "verify: the run's checks above hold: OK" in second.stdout
    assert f"holds {len(expected):,} documents == indexed {len(expected):,}: OK" in second.stdout
    assert "verify: 100 of 100 sampled documents equal the records' JSON: OK" in second.stdout
    assert f"kept           {first_build} (for rollback)" in second.stdout

    back = cli("rollback", "--index", index.uri)
    assert back.returncode == 0, back.stderr[-3000:]
    assert f"{first_build} is live again; {second_build}, which it replaced, is no" in back.stdout
    assert index.documents() == expected_documents(good)
    assert index.live_targets() == [first_build]


def test_an_upsert_removes_the_documents_of_items_that_no_longer_decode(
    dynamodb_server, dynamodb_client, tmp_path
):
    """In place, a document whose item went bad would otherwise stay, stale."""
    index = IndexUnderTest(
        "sqlite", f"sqlite:///{tmp_path}/index.db", db_path=tmp_path / "index.db"
    )
    table, good = new_table(dynamodb_client, 30)
    first = reindex(dynamodb_server, table, index, tmp_path, "--upsert")
    assert first.returncode == 0, first.stderr[-3000:]
    spoiled = sorted(good)[:4]
    for doc_id in spoiled:
        dynamodb_client.update_item(
            TableName=table,
            Key={"id": {"S": doc_id}},
            UpdateExpression="SET pageCount = :bad",
            ExpressionAttributeValues={":bad": {"S": "many"}},
        )
    second = reindex(dynamodb_server, table, index, tmp_path, "--upsert", dead="dead2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert index_rows(index.db_path) == {k: v for k, v in good.items() if k not in spoiled}
    assert "the 4 that no longer decode have no document now" in second.stdout


def test_failed_verification_leaves_the_old_index_serving(
    dynamodb_server, dynamodb_client, index, tmp_path
):
    table, good = new_table(dynamodb_client, 80)
    first = reindex(dynamodb_server, table, index, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    live = index.live_targets()
    bad = [
        dict(s.item, id={"S": f"bad{n}"})
        for n, s in enumerate(generate_items(40, malformed_fraction=1.0, seed=5))
    ][:10]
    seed_table(dynamodb_client, table, bad)

    refused = reindex(dynamodb_server, table, index, tmp_path, "--max-dead-letter-fraction", "0.05")

    assert refused.returncode == 4, refused.stderr[-3000:]
    line = last_error_line(refused.stderr)
    assert line.startswith("error: not swapped, the alias ")
    assert "10 of 90 items (11.1%) did not decode, more than --max-dead-letter-fraction 5.0%" in (
        line
    )
    assert "the live index is unchanged" in line
    assert "NOT MOVED" in refused.stdout
    assert index.live_targets() == live
    assert index.documents() == expected_documents(good)


def test_a_wrong_model_does_not_empty_the_live_index_unless_forced(
    dynamodb_server, dynamodb_client, tmp_path
):
    """Every item dead-lettered: the empty build is not swapped in over a live index."""
    table, good = new_table(dynamodb_client, 30, seed=8)
    db = tmp_path / "index.db"
    index = IndexUnderTest("sqlite", f"sqlite:///{db}", db_path=db)
    assert reindex(dynamodb_server, table, index, tmp_path).returncode == 0
    wrong = ("--model", "tests.unusable_models:NeedsIsbn")

    refused = reindex(dynamodb_server, table, index, tmp_path, *wrong)
    assert refused.returncode == 5, refused.stderr[-3000:]
    assert (
        "every one of the 30 items read was dead-lettered, so the new index is empty while "
        "the live one holds 30 documents: fix the model (the dead letters say what is "
        "wrong), or pass --force to swap in the empty index"
    ) in last_error_line(refused.stderr)
    assert index.documents() == expected_documents(good)

    forced = reindex(dynamodb_server, table, index, tmp_path, *wrong, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "swapped anyway (--force): OK" in forced.stdout
    assert index.documents() == {}

    fresh_db = tmp_path / "fresh.db"
    fresh = IndexUnderTest("sqlite", f"sqlite:///{fresh_db}", db_path=fresh_db)
    nothing_to_lose = reindex(dynamodb_server, table, fresh, tmp_path, *wrong, dead="dead2")
    assert nothing_to_lose.returncode == 0, nothing_to_lose.stderr[-3000:]
    assert fresh.documents() == {}


def test_a_resumed_wrong_model_run_does_not_empty_the_live_index_either(
    dynamodb_server, dynamodb_client, tmp_path
):
    """A resume that reads nothing counts the items every attempt read."""
    table, good = new_table(dynamodb_client, 20, seed=14)
    config = reindex_config(dynamodb_server.endpoint_url, table, tmp_path, total_segments=2)
    run_reindex(config, list(IN_PROCESS))
    wrong = dataclasses.replace(config, model="tests.unusable_models:NeedsIsbn")

    class StopBeforeSwap(RunHooks):
        def before_swap(self, rebuild, summary):
            raise KeyboardInterrupt  # reached only with --force: the run is stopped there

    with pytest.raises(KeyboardInterrupt):
        run_reindex(dataclasses.replace(wrong, force=True), list(IN_PROCESS), StopBeforeSwap())
    resumed = run_reindex(dataclasses.replace(wrong, resume=True), list(IN_PROCESS))
    assert resumed.scanned == 0 and not resumed.alias_swap.swapped
    assert "every one of the 20 items read was dead-lettered" in resumed.verification.reason
    assert index_rows(tmp_path / "index.db") == good


def test_another_table_is_refused_unless_forced(dynamodb_server, dynamodb_client, index, tmp_path):
    table, good = new_table(dynamodb_client, 40, seed=3)
    other, other_good = new_table(dynamodb_client, 30, seed=4)
    assert reindex(dynamodb_server, table, index, tmp_path).returncode == 0
    held = index.metadata()
    assert held["table"] == table and held["key_attributes"] == ["id"]
    assert held["model"] == "pipeline.models:Work"
    assert held["table_arn"].endswith(f":table/{table}")

    for extra in ((), ("--upsert",)):
        refused = reindex(dynamodb_server, other, index, tmp_path, *extra)
        assert refused.returncode == 3, refused.stderr[-3000:]
        assert refused.stderr.strip().splitlines() == [
            f"error: the index {index.uri} holds table {table!r} ({held['table_arn']}), not "
            f"table {other!r} ({held['table_arn'].replace(table, other)}): check --index and "
            f"--table, or pass --force to {'write into it anyway' if extra else 'replace it'}"
        ]
    assert index.documents() == expected_documents(good)

    forced = reindex(dynamodb_server, other, index, tmp_path, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert index.documents() == expected_documents(other_good)
    assert index.metadata()["table"] == other


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_settings_and_mappings_are_carried_over_and_index_config_applies(
    dynamodb_server, dynamodb_client, tmp_path, request, server
):
    scheme, fixture = SERVERS[server]
    url = request.getfixturevalue(fixture)
    alias = unique_index("configured")
    index = IndexUnderTest(server, f"{scheme}://{url.split('://', 1)[1]}/{alias}", url=url)
    config = {
        "settings": {
            "number_of_shards": 2,
            "number_of_replicas": 0,
            "analysis": {
                "analyzer": {
                    "folded": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding"],
                    }
                }
            },
        },
        "mappings": {
            "_meta": {"owner": "catalogue team"},
            "properties": {
                "title": {"type": "text", "analyzer": "folded"},
                "modifiedAt": {"type": "date"},
                "price": {"type": "keyword"},
            },
        },
    }
    (tmp_path / "index.json").write_text(json.dumps(config))
    table, good = new_table(dynamodb_client, 30, seed=8)

    first = reindex(
        dynamodb_server, table, index, tmp_path, "--index-config", str(tmp_path / "index.json")
    )
    assert first.returncode == 0, first.stderr[-3000:]
    second = reindex(dynamodb_server, table, index, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    (live,) = index.live_targets()
    assert live.startswith(f"{alias}-")

    for name in (live, f"{alias}-retired"):
        settings = rest(url, f"{name}/_settings")
        ((concrete, reported),) = settings.items()
        assert concrete.startswith(f"{alias}-")
        own = reported["settings"]["index"]
        assert own["number_of_shards"] == "2" and own["number_of_replicas"] == "0"
        assert own["analysis"]["analyzer"]["folded"]["filter"] == ["lowercase", "asciifolding"]
        assert own["provided_name"] == concrete
        mapping = rest(url, f"{name}/_mapping")[concrete]["mappings"]
        assert mapping["properties"]["title"] == {"type": "text", "analyzer": "folded"}
        assert mapping["properties"]["modifiedAt"]["type"] == "date"
        assert mapping["properties"]["price"]["type"] == "keyword"
        assert mapping["_meta"]["owner"] == "catalogue team"
        assert mapping["_meta"]["dynamodb_reindex"]["table"] == table
    assert index.documents() == expected_documents(good)


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_an_index_config_the_server_refuses_is_named_in_one_line(
    dynamodb_server, dynamodb_client, tmp_path, request, server
):
    scheme, fixture = SERVERS[server]
    url = request.getfixturevalue(fixture)
    index = IndexUnderTest(server, f"{scheme}://{url.split('://', 1)[1]}/{unique_index()}", url=url)
    config = {"mappings": {"properties": {"title": {"type": "no_such_type"}}}}
    (tmp_path / "index.json").write_text(json.dumps(config))
    table, _ = new_table(dynamodb_client, 5, seed=9)
    done = reindex(
        dynamodb_server, table, index, tmp_path, "--index-config", str(tmp_path / "index.json")
    )
    assert done.returncode == 3, done.stderr[-3000:]
    line = last_error_line(done.stderr)
    assert (
        "refused to create index" in line
        and "with the settings and mappings of --index-config" in line
    )
    assert index.live_targets() == []  # no alias was made


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_an_index_where_the_alias_should_be_is_explained_and_upsert_writes_into_it(
    dynamodb_server, dynamodb_client, tmp_path, request, server
):
    scheme, fixture = SERVERS[server]
    url = request.getfixturevalue(fixture)
    name = unique_index("concrete")
    index = IndexUnderTest(server, f"{scheme}://{url.split('://', 1)[1]}/{name}", url=url)
    rest(url, f"{name}/_doc/kept", {"title": "written by hand"}, method="PUT")
    table, good = new_table(dynamodb_client, 20, seed=9)

    refused = reindex(dynamodb_server, table, index, tmp_path)

    assert refused.returncode == 3, refused.stderr[-3000:]
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: {name!r} is an index, not an alias, and a rebuild swaps an")
    assert "in place with --upsert" in line
    assert f"PUT /{name}/_block/write; POST /{name}/_clone/{name}-" in line
    assert f'{{"remove_index": {{"index": "{name}"}}}}' in line
    assert set(index.documents()) == {"kept"}

    upsert = reindex(dynamodb_server, table, index, tmp_path, "--upsert")
    assert upsert.returncode == 0, upsert.stderr[-3000:]
    assert set(index.documents()) == {"kept", *good}


def test_rollback_with_nothing_to_roll_back_is_one_line(tmp_path):
    with open_backend(f"sqlite:///{tmp_path}/index.db"):
        pass
    done = cli("rollback", "--index", f"sqlite:///{tmp_path}/index.db")
    assert done.returncode == 3
    assert done.stderr.strip() == f"error: {tmp_path}/index.db has no retired index to roll back to"


def test_rollback_of_a_missing_index_file_creates_none(tmp_path):
    done = cli("rollback", "--index", f"sqlite:///{tmp_path}/typo.db")
    assert done.returncode == 3
    assert done.stderr.strip() == (
        f"error: there is no index file {tmp_path}/typo.db: check --index"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--upsert", "--keep", "2"), "--keep applies to a rebuild; --upsert writes in place"),
        (("--upsert", "--swap-alias"), "--swap-alias applies to a rebuild"),
        (("--upsert", "--verify-sample", "5"), "--verify-sample applies to a rebuild"),
    ],
)
def test_rebuild_options_with_upsert_are_refused(tmp_path, extra, message):
    done = cli(*reindex_args("http://127.0.0.1:9", "t", tmp_path), *extra)
    assert done.returncode == 2 and message in done.stderr


def test_index_config_for_sqlite_is_refused(dynamodb_server, dynamodb_client, tmp_path):
    table, _ = new_table(dynamodb_client, 5, seed=2)
    (tmp_path / "index.json").write_text('{"settings": {"number_of_shards": 1}}')
    index = IndexUnderTest("sqlite", f"sqlite:///{tmp_path}/index.db", db_path=None)
    done = reindex(
        dynamodb_server, table, index, tmp_path, "--index-config", str(tmp_path / "index.json")
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert last_error_line(done.stderr) == (
        "error: --index-config applies to Elasticsearch and OpenSearch indexes; a SQLite index "
        "has a fixed schema"
    )


def test_hooks_run_around_the_swap_and_a_catch_up_can_write_into_the_build(
    dynamodb_server, dynamodb_client, tmp_path
):
    table, good = new_table(dynamodb_client, 30, seed=12)
    uri = f"sqlite:///{tmp_path}/index.db"
    with open_backend(uri) as live:
        live.write_batch([Document("old", '{"id": "old"}')])
    events = []

    def live_ids() -> set[str]:
        return set(index_rows(tmp_path / "index.db"))

    class Recorder(RunHooks):
        def prepared(self, rebuild):
            with open_backend(rebuild.build_uri) as build:
                events.append(("prepared", build.count(), live_ids()))

        def before_swap(self, rebuild, summary):
            events.append(("before_swap", summary.verification.holds, live_ids()))
            with open_backend(rebuild.build_uri) as build:
                build.write_batch([Document("caught-up", '{"id": "caught-up"}')])

        def after_swap(self, rebuild, summary):
            events.append(("after_swap", summary.alias_swap.swapped, live_ids()))

    summary = run_reindex(
        reindex_config(dynamodb_server.endpoint_url, table, tmp_path, total_segments=2),
        list(IN_PROCESS),
        hooks=Recorder(),
    )

    assert events == [
        ("prepared", 0, {"old"}),
        ("before_swap", True, {"old"}),
        ("after_swap", True, {*good, "caught-up"}),
    ]
    assert summary.alias_swap.found == len(good) + 1


def test_a_run_stopped_between_its_scan_and_its_swap_resumes_without_reading(
    dynamodb_server, dynamodb_client, tmp_path
):
    """The journal stays until the swap: a stop during the verification or the
    first catch-up leaves a build that ``--resume`` verifies and swaps in."""
    table, good = new_table(dynamodb_client, 30, seed=13)
    config = reindex_config(dynamodb_server.endpoint_url, table, tmp_path, total_segments=2)

    class StopBeforeSwap(RunHooks):
        def before_swap(self, rebuild, summary):
            raise KeyboardInterrupt  # as a signal arriving there does

    with pytest.raises(KeyboardInterrupt):
        run_reindex(config, list(IN_PROCESS), hooks=StopBeforeSwap())
    assert index_rows(tmp_path / "index.db") == {}
    assert (tmp_path / "dead" / "journal").is_dir()

    resumed = run_reindex(dataclasses.replace(config, resume=True), list(IN_PROCESS))
    assert resumed.scanned == 0 and resumed.alias_swap.swapped
    assert index_rows(tmp_path / "index.db") == good
    assert not (tmp_path / "dead" / "journal").exists()


def test_a_run_stopped_in_its_catch_up_resumes_and_catches_up_again(
    dynamodb_server, dynamodb_client, tmp_path
):
    """Stopped after its catch-up changed the verified build: ``--resume`` does
    not count the build's documents again, catches up again and swaps."""
    table, good = new_table(dynamodb_client, 30, seed=15)
    config = reindex_config(dynamodb_server.endpoint_url, table, tmp_path, total_segments=2)
    events = []

    class StopInCatchUp(RunHooks):
        def before_swap(self, rebuild, summary):
            with open_backend(rebuild.build_uri) as build:
                build.write_batch([Document("half", '{"id": "half"}')])
            raise KeyboardInterrupt

    class Recorder(RunHooks):
        def before_swap(self, rebuild, summary):
            events.append(("before_swap", summary.verification.holds))

        def after_swap(self, rebuild, summary):
            events.append(("after_swap", rebuild is not None))

    with pytest.raises(KeyboardInterrupt):
        run_reindex(config, list(IN_PROCESS), hooks=StopInCatchUp())
    resumed = run_reindex(dataclasses.replace(config, resume=True), list(IN_PROCESS), Recorder())
    assert events == [("before_swap", True), ("after_swap", True)]
    assert resumed.scanned == 0 and resumed.alias_swap.swapped
    assert "was verified by the run this one resumes: OK" in resumed.render()
    assert set(index_rows(tmp_path / "index.db")) == {*good, "half"}
    assert not (tmp_path / "dead" / "journal").exists()


@pytest.mark.parametrize("recorded", [SWAPPED, VERIFIED], ids=["recorded", "not_yet_recorded"])
def test_a_run_stopped_after_its_swap_resumes_with_what_came_after_it(
    dynamodb_server, dynamodb_client, tmp_path, recorded
):
    """The journal stays until the hooks after the swap are done: ``--resume``
    runs them (with no build: it is live already), and swaps nothing; also when
    the stop came before the swap was recorded."""
    table, good = new_table(dynamodb_client, 30, seed=16)
    config = reindex_config(dynamodb_server.endpoint_url, table, tmp_path, total_segments=2)
    events = []

    class StopAfterSwap(RunHooks):
        def after_swap(self, rebuild, summary):
            raise KeyboardInterrupt

    class Recorder(RunHooks):
        def before_swap(self, rebuild, summary):
            events.append("before_swap")

        def after_swap(self, rebuild, summary):
            events.append(("after_swap", rebuild, set(index_rows(tmp_path / "index.db"))))

    with pytest.raises(KeyboardInterrupt):
        run_reindex(config, list(IN_PROCESS), hooks=StopAfterSwap())
    assert index_rows(tmp_path / "index.db") == good
    journal = RunJournal(str(tmp_path / "dead" / "journal"))
    journal.mark_stage(journal.read_header(), recorded)
    resumed = run_reindex(dataclasses.replace(config, resume=True), list(IN_PROCESS), Recorder())
    assert events == [("after_swap", None, set(good))]
    assert resumed.scanned == 0 and resumed.alias_swap is None and resumed.accounted_for
    assert "verified and swapped in by the run this one resumes: OK" in resumed.render()
    assert not (tmp_path / "dead" / "journal").exists()


def test_a_resume_refuses_to_catch_up_a_build_rolled_back_since_its_swap(
    dynamodb_server, dynamodb_client, tmp_path
):
    table, _ = new_table(dynamodb_client, 30, seed=17)
    config = reindex_config(dynamodb_server.endpoint_url, table, tmp_path, total_segments=2)
    run_reindex(config, list(IN_PROCESS))

    class StopAfterSwap(RunHooks):
        def after_swap(self, rebuild, summary):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_reindex(config, list(IN_PROCESS), hooks=StopAfterSwap())
    rolled = rollback(config.index)
    with pytest.raises(
        ReindexError, match=r"which is no longer live \(documents__\d+ is; a rollback"
    ):
        run_reindex(dataclasses.replace(config, resume=True), list(IN_PROCESS))
    assert live_index(config.index) == rolled.restored


def test_sets_verify_when_the_sample_is_written_in_another_worker_process(
    dynamodb_server, dynamodb_client, tmp_path
):
    """A set of strings or bytes iterates in an order that changes with the
    process; the sample's records reach another worker process than the one
    that wrote their documents, and must still equal them, and every document
    holds its sets sorted."""
    items = [
        {
            "id": {"S": f"t{n:03d}"},
            "tags": {"SS": [f"tag {n} {k}" for k in range(8)]},
            "blobs": {"BS": [bytes([k, n % 7]) for k in range(4)]},
            "sizes": {"NS": [str((n + 1) * k - 5) for k in range(3)]},
        }
        for n in range(150)
    ]
    table = seeded_table(dynamodb_client, "tagged", items)
    done = cli(
        *reindex_args(
            dynamodb_server.endpoint_url, table, tmp_path, model="tests.tagged_models:Tagged"
        ),
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "verify: 100 of 100 sampled documents equal the records' JSON: OK" in done.stdout
    expected = {
        item["id"]["S"]: json.dumps(
            {
                "id": item["id"]["S"],
                "tags": sorted(item["tags"]["SS"]),
                "blobs": [list(blob) for blob in sorted(item["blobs"]["BS"])],
                "sizes": sorted({int(size) for size in item["sizes"]["NS"]}),
            }
        )
        for item in items
    }
    assert index_rows(tmp_path / "index.db") == expected


def test_a_build_that_cannot_be_dropped_is_logged_and_the_jobs_error_stands(caplog):
    """A server that went down fails the job, then the drop of its build: the
    job's error is the one raised, and the build left behind is named."""
    from pipeline.reindex import _abandon

    class Unreachable:
        build_name = "works-20261201030000"

        def abandon(self):
            raise ConnectionError("Connection refused")

    with pytest.raises(RuntimeError, match="the job's own error"):
        try:
            raise RuntimeError("the job's own error")
        except RuntimeError:
            _abandon(Unreachable())
            raise
    assert "could not remove the new index works-20261201030000 (ConnectionError" in caplog.text
