"""Decoding and encoding speed: the compiled paths against dataclasses-json.

Builds a list of wire-format items of a realistic catalogue record (a ``Work``
with nested contributors, agents, dates, a Decimal price, a datetime, a set of
tags...), checks that both paths give identical results, then times them side
by side, alternating, for several repetitions:

* decode: boto3 ``TypeDeserializer`` + ``Work.from_dict`` against
  ``transforms.decode.decoder.compile_decoder(Work)`` (generated code), and the
  step loop it unrolls (``transforms.decode.compiler.interpreted_decoder``, the
  decoder of the previous main);
* encode: ``record.to_json()`` against ``transforms.decode.encoder.compile_encoder(Work)``.

Each repetition decodes (or encodes) every item once, as a DoFn would, without
keeping the results. Prints a Markdown table and writes it to
``bench/results/decode.md``, and the medians to ``bench/results/decode.json``.

    python bench/decode.py [--items 20000] [--repetitions 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from boto3.dynamodb.types import TypeDeserializer
from dataclasses_json import LetterCase, config, dataclass_json

from transforms.decode.compiler import interpreted_decoder
from transforms.decode.decoder import compile_decoder
from transforms.decode.encoder import compile_encoder, sets_in_order

RESULTS = Path(__file__).resolve().parent / "results" / "decode.md"


class Role(Enum):
    AUTHOR = "author"
    EDITOR = "editor"
    ILLUSTRATOR = "illustrator"
    TRANSLATOR = "translator"


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class Agent:
    name: str
    born_year: int | None = None
    agent_id: str | None = None


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class Contributor:
    agent: Agent
    role: Role


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class PublicationDate:
    event: str
    year: int


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class Work:
    id: str
    title: str
    contributors: list[Contributor]
    dates: list[PublicationDate]
    subjects: list[str]
    identifiers: dict[str, str]
    price: Decimal
    modified_at: datetime = field(
        metadata=config(encoder=datetime.isoformat, decoder=datetime.fromisoformat)
    )
    available: bool = True
    tags: set[str] = field(default_factory=set)
    subtitle: str | None = None
    page_count: int | None = None


WORDS = "dune spice desert planet empire water worm house sand storm".split()


def make_item(rng: random.Random, index: int) -> dict:
    """One wire-format item, as DynamoDB's low-level API returns it."""

    def text(count: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(count))

    def agent() -> dict:
        attrs = {"name": {"S": text(2).title()}}
        if rng.random() < 0.7:
            attrs["bornYear"] = {"N": str(rng.randint(1800, 2000))}
        if rng.random() < 0.5:
            attrs["agentId"] = {"S": f"viaf:{rng.randint(1, 10**8)}"}
        return {"M": attrs}

    modified = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randint(0, 10**8))
    item = {
        "id": {"S": f"w{index:06d}"},
        "title": {"S": text(rng.randint(1, 6))},
        "contributors": {
            "L": [
                {"M": {"agent": agent(), "role": {"S": rng.choice(list(Role)).value}}}
                for _ in range(rng.randint(1, 4))
            ]
        },
        "dates": {
            "L": [
                {"M": {"event": {"S": event}, "year": {"N": str(rng.randint(1900, 2024))}}}
                for event in rng.sample(["written", "published", "printed"], rng.randint(1, 3))
            ]
        },
        "subjects": {"L": [{"S": rng.choice(WORDS)} for _ in range(rng.randint(0, 5))]},
        "identifiers": {
            "M": {"isbn": {"S": str(rng.randint(10**12, 10**13))}, "oclc": {"S": str(index)}}
        },
        "price": {"N": f"{rng.randint(100, 9999) / 100:.2f}"},
        "modifiedAt": {"S": modified.isoformat()},
        "available": {"BOOL": rng.random() < 0.8},
        "tags": {"SS": rng.sample(WORDS, rng.randint(1, 3))},
    }
    if rng.random() < 0.5:
        item["subtitle"] = {"S": text(3)} if rng.random() < 0.6 else {"NULL": True}
    if rng.random() < 0.7:
        item["pageCount"] = {"N": str(rng.randint(20, 900))}
    return item


def items_per_second(run: Callable[[], None], count: int) -> float:
    gc.collect()
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def measure(paths: dict[str, Callable[[], None]], count: int, repetitions: int) -> dict:
    """Items per second of each path in each repetition. The paths run
    alternately, so that drifts in machine speed affect them alike."""
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repetitions):
        for name, run in paths.items():
            rates[name].append(items_per_second(run, count))
    return rates


def row(label: str, rates: Sequence[float]) -> str:
    median = statistics.median(rates)
    return f"| {label} | {max(rates):,.0f} | {median:,.0f} | {1e6 / median:,.1f} |"


def ratio_row(label: str, fast: Sequence[float], slow: Sequence[float]) -> str:
    best = max(fast) / max(slow)
    median = statistics.median(fast) / statistics.median(slow)
    return f"| **{label}** | **{best:.1f}x** | **{median:.1f}x** | |"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    items = [make_item(rng, index) for index in range(args.items)]
    deserializer = TypeDeserializer()
    decode = compile_decoder(Work)
    step_loop = interpreted_decoder(Work)
    encode = compile_encoder(Work)

    def baseline_decode(item):
        return Work.from_dict({name: deserializer.deserialize(v) for name, v in item.items()})

    records = [decode(item) for item in items]
    if records != [baseline_decode(item) for item in items]:
        raise SystemExit("decoders disagree")
    if records != [step_loop(item) for item in items]:
        raise SystemExit("the generated decoder and the step loop disagree")
    # the encoder writes sets in order (see transforms.decode.encoder), to_json()
    # in the order of their hashes
    ordered = [sets_in_order(record) for record in records]
    if [encode(record) for record in records] != [record.to_json() for record in ordered]:
        raise SystemExit("encoders disagree")

    def run_baseline_decode():
        for item in items:
            baseline_decode(item)

    def run_decode():
        for item in items:
            decode(item)

    def run_step_loop():
        for item in items:
            step_loop(item)

    def run_to_json():
        for record in records:
            record.to_json()

    def run_encode():
        for record in records:
            encode(record)

    decoding = measure(
        {"baseline": run_baseline_decode, "step loop": run_step_loop, "compiled": run_decode},
        len(items),
        args.repetitions,
    )
    encoding = measure(
        {"baseline": run_to_json, "compiled": run_encode}, len(items), args.repetitions
    )

    lines = [
        "# Decode and encode speed",
        "",
        f"{len(items):,} `Work` items (11-13 attributes: nested contributors with agents "
        "and a role enum, nested dates, a map, a set, a Decimal, an ISO datetime), "
        f"{args.repetitions} alternating repetitions; outputs checked identical first. "
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}. Produced by `python bench/decode.py`.",
        "",
        "| path | items/s (best) | items/s (median) | µs/item (median) |",
        "|---|---:|---:|---:|",
        row("decode: TypeDeserializer + from_dict", decoding["baseline"]),
        row("decode: step loop (previous compile_decoder)", decoding["step loop"]),
        row("decode: compile_decoder (generated code)", decoding["compiled"]),
        ratio_row("decode speed-up", decoding["compiled"], decoding["baseline"]),
        ratio_row("generated / step loop", decoding["compiled"], decoding["step loop"]),
        row("encode: to_json()", encoding["baseline"]),
        row("encode: compile_encoder", encoding["compiled"]),
        ratio_row("encode speed-up", encoding["compiled"], encoding["baseline"]),
        "",
    ]
    table = "\n".join(lines)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    medians = {
        f"{kind} {name}": statistics.median(rates)
        for kind, paths in (("decode", decoding), ("encode", encoding))
        for name, rates in paths.items()
    }
    figures = {"items": len(items), "median_items_per_second": medians}
    RESULTS.with_suffix(".json").write_text(
        json.dumps({"figures": figures, "targets": []}, indent=2) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
