"""Timed reads of the replay server: the Beam pipeline and a bare threaded loop.

Shared by ``bench/pipeline_overhead.py`` and ``bench/scaling.py``. Both sides
read the same table, from the same server, with the same segments, the same
client (``DynamoDBClientConfig``, fast page parsing) and the same decoding
(``DecodeAtRead(Work)``: items decoded as their page is parsed, as the
reindex scan does, and ``compile_decoder(Work)`` for any left in wire
format), and throw the records away:

* :func:`run_pipeline`: ``ReadFromDynamoDB | DecodeItems(Work) | null sink`` on
  the in-process DirectRunner engine (``FnApiRunner``), in its multi-threaded
  mode with one worker thread per segment by default, so that segments are
  read at once, or with fewer threads (each reads its segments in turn, the
  next page of each while the current one is processed);
* :func:`run_bare_loop`: one thread per segment, each with its own client,
  calling ``scan`` page after page and decoding every item.

and, for scale, :func:`run_beam_floor`: what Beam alone costs to pass the
same number of elements through the same shape of pipeline (a splittable
DoFn, a DoFn, a sink) with no reading or decoding at all.

Each returns a :class:`Run`: items, wall seconds (from start to finish, the
pipeline's construction and start-up included, the loop's clients too), the seconds from the first
record to the last, and the CPU seconds of this process (the server runs in
its own).
"""

from __future__ import annotations

import dataclasses
import threading
import time

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.core import RestrictionProvider

from pipeline.models import Work
from transforms import DecodeItems, ReadFromDynamoDB
from transforms.decode.decoder import compile_decoder
from transforms.decode.gc_thresholds import raise_young_threshold
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.wire_structs import DecodeAtRead
from transforms.dynamodb.client import DynamoDBClientConfig

__all__ = ["Run", "run_bare_loop", "run_beam_floor", "run_pipeline"]

REGION = "us-east-1"
AT_READ = DecodeAtRead(Work)


@dataclasses.dataclass
class Run:
    items: int
    wall_seconds: float
    active_seconds: float
    cpu_seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items / self.wall_seconds

    @property
    def active_items_per_second(self) -> float:
        return self.items / self.active_seconds if self.active_seconds else 0.0


class _Arrivals:
    """Counts records and notes the first and last arrival (one process)."""

    lock = threading.Lock()
    count = 0
    first: float | None = None
    last = 0.0

    @classmethod
    def reset(cls) -> None:
        cls.count, cls.first, cls.last = 0, None, 0.0

    @classmethod
    def note(cls, count: int) -> None:
        now = time.perf_counter()
        with cls.lock:
            if cls.first is None:
                cls.first = now
            cls.count += count
            cls.last = now


class _NullSink(beam.DoFn):
    """Drops records, counting them per bundle."""

    def start_bundle(self):
        self._count = 0

    def process(self, record):
        if not self._count:
            _Arrivals.note(0)
        self._count += 1
        return ()

    def finish_bundle(self):
        _Arrivals.note(self._count)


def _engine_options(workers: int) -> PipelineOptions:
    """The in-process engine, multi-threaded with ``workers`` worker threads."""
    return PipelineOptions(
        [
            "--runner=FnApiRunner",
            "--direct_running_mode=multi_threading",
            f"--direct_num_workers={workers}",
        ]
    )


def run_pipeline(
    endpoint_url: str,
    table: str,
    segments: int,
    page_size: int | None,
    items: int,
    workers: int | None = None,
) -> Run:
    """Read + decode + null sink on the DirectRunner with ``workers`` threads
    (default: one per segment)."""
    options = _engine_options(workers or segments)
    _Arrivals.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    with beam.Pipeline(options=options) as p:
        read = p | ReadFromDynamoDB(
            table_name=table,
            total_segments=segments,
            page_size=page_size,
            endpoint_url=endpoint_url,
            region_name=REGION,
            decode_at_read=AT_READ,
        )
        decoded = read | DecodeItems(Work)
        _ = decoded.records | beam.ParDo(_NullSink())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if _Arrivals.count != items:
        raise RuntimeError(f"the pipeline decoded {_Arrivals.count} records, expected {items}")
    return Run(items, wall, _Arrivals.last - (_Arrivals.first or _Arrivals.last), cpu)


def run_bare_loop(
    endpoint_url: str, table: str, segments: int, page_size: int | None, items: int
) -> Run:
    """One thread per segment: ``client.scan`` page after page, each item decoded."""
    raise_young_threshold()
    decode = compile_decoder(Work)
    config = DynamoDBClientConfig(region_name=REGION, endpoint_url=endpoint_url)
    cpu, wall = time.process_time(), time.perf_counter()  # start-up included, as for the pipeline
    clients = [config.create_client(AT_READ.decoder()) for _ in range(segments)]
    counts = [0] * segments
    errors: list[BaseException] = []
    _Arrivals.reset()

    def read(segment: int) -> None:
        request = {"TableName": table, "ReturnConsumedCapacity": "TOTAL"}
        if segments > 1:
            request.update(Segment=segment, TotalSegments=segments)
        if page_size:
            request["Limit"] = page_size
        try:
            while True:
                response = clients[segment].scan(**request)
                _Arrivals.note(0)
                page = response["Items"]
                for item in page:
                    if type(item) is not KeyedRecord:
                        decode(item)
                counts[segment] += len(page)
                _Arrivals.note(len(page))
                if "LastEvaluatedKey" not in response:
                    return
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except BaseException as error:  # re-raised in the caller
            errors.append(error)

    threads = [threading.Thread(target=read, args=(s,)) for s in range(segments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for client in clients:
        client.close()
    if errors:
        raise errors[0]
    if sum(counts) != items:
        raise RuntimeError(f"the loop decoded {sum(counts)} records, expected {items}")
    return Run(items, wall, _Arrivals.last - (_Arrivals.first or _Arrivals.last), cpu)


class _WholeRange(RestrictionProvider):
    """One restriction per element: a single claim covers all its outputs."""

    def initial_restriction(self, count: int) -> OffsetRange:
        return OffsetRange(0, 1)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, count: int, restriction: OffsetRange) -> int:
        return restriction.size()


class _EmitReady(beam.DoFn):
    """A splittable DoFn that emits ``count`` ready objects after one claim."""

    def __init__(self, ready: list):
        self._ready = ready

    def process(self, count: int, tracker=beam.DoFn.RestrictionParam(_WholeRange())):
        if tracker.try_claim(0):
            yield from self._ready[:count]


class _PassOn(beam.DoFn):
    def process(self, element):
        yield element


def run_beam_floor(items: int, segments: int, workers: int) -> Run:
    """Beam's own cost for ``items`` elements in ``segments`` restrictions:
    splittable DoFn -> pass-through DoFn -> null sink, nothing read or decoded."""
    per_segment = -(-items // segments)
    ready = [object()] * per_segment
    counts = [min(per_segment, items - s * per_segment) for s in range(segments)]
    _Arrivals.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    with beam.Pipeline(options=_engine_options(workers)) as p:
        _ = (
            p
            | beam.Create([count for count in counts if count > 0])
            | beam.ParDo(_EmitReady(ready))
            | beam.ParDo(_PassOn())
            | beam.ParDo(_NullSink())
        )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if _Arrivals.count != items:
        raise RuntimeError(f"the pipeline passed {_Arrivals.count} elements, expected {items}")
    return Run(items, wall, _Arrivals.last - (_Arrivals.first or _Arrivals.last), cpu)
