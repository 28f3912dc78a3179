"""Faults and observations injected at the wire through botocore's event hooks.

``before-send`` runs inside botocore's retry loop, so an injected error is
retried by botocore exactly as one from the network would be. The configs are
module-level dataclasses so they pickle into in-process pipelines; the
observations they record live in this module and are read by the tests.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time

from botocore.awsrequest import AWSResponse

from transforms.dynamodb.client import DynamoDBClientConfig

THROTTLE_BODY = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
    b'"message":"The level of configured provisioned throughput for the table was exceeded."}'
)
SERVER_ERROR_BODY = b'{"__type":"com.amazon.coral.service#InternalFailure","message":"boom"}'

_LOCK = threading.Lock()
SCAN_RESPONSES: list[tuple[float, float]] = []  # (monotonic time, consumed units)
INJECTED: dict[str, int] = {"throttle": 0, "server_error": 0}


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_kwargs):
        yield self._body


def _response(status: int, body: bytes) -> AWSResponse:
    return AWSResponse(
        "http://fault", status, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body)
    )


@dataclasses.dataclass(frozen=True)
class FaultyClientConfig(DynamoDBClientConfig):
    """Fails a seeded share of Scan calls with a throttle or a 500."""

    fault_rate: float = 0.0
    seed: int = 0

    def create_client(self):
        client = super().create_client()
        rng = random.Random(self.seed)

        def maybe_fail(**_kwargs):
            with _LOCK:
                roll = rng.random()
                if roll >= self.fault_rate:
                    return None
                kind = "throttle" if roll < self.fault_rate / 2 else "server_error"
                INJECTED[kind] += 1
            if kind == "throttle":
                return _response(400, THROTTLE_BODY)
            return _response(500, SERVER_ERROR_BODY)

        client.meta.events.register("before-send.dynamodb.Scan", maybe_fail)
        return client


@dataclasses.dataclass(frozen=True)
class ObservedClientConfig(DynamoDBClientConfig):
    """Records the time and consumed capacity of every Scan response."""

    def create_client(self):
        client = super().create_client()

        def record(parsed, **_kwargs):
            units = float((parsed.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))
            with _LOCK:
                SCAN_RESPONSES.append((time.monotonic(), units))

        client.meta.events.register("after-call.dynamodb.Scan", record)
        return client


def reset() -> None:
    with _LOCK:
        SCAN_RESPONSES.clear()
        INJECTED.update(throttle=0, server_error=0)


def consumed_rate() -> float:
    """Units per second between the first and the last Scan response."""
    with _LOCK:
        times = sorted(SCAN_RESPONSES)
    assert len(times) >= 10, f"too few Scan responses to measure a rate: {len(times)}"
    units = sum(u for _, u in times[1:])
    return units / (times[-1][0] - times[0][0])
