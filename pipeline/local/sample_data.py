"""Sample catalogue items for the ``works`` table, and seeding a table with them.

:func:`generate_items` yields realistic :class:`~pipeline.models.Work` items in
DynamoDB's wire format (exactly what the low-level client's ``Scan`` returns,
binary values as ``bytes``), with a deterministic share of malformed ones. Each
malformed item carries one defect, named in :data:`DEFECT_KINDS`, and the path
of the attribute that is wrong (``contributors[1].agent.bornYear``), so tests
can check that the pipeline dead-letters exactly those items with exactly
that field::

    client = boto3.client("dynamodb", endpoint_url=server.endpoint_url)
    samples = list(generate_items(2_000, malformed_fraction=0.02, seed=7))
    create_table(client, "works")
    seed_table(client, "works", (s.item for s in samples))
    expected = expected_records(samples)        # id -> Work, good items only

Everything is a pure function of ``(seed, index)``: the same arguments give
the same items in any process, and item ``i`` does not depend on ``count``.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from pipeline.models import (
    Agent,
    Contributor,
    Identifier,
    Period,
    ProductionEvent,
    Work,
    WorkType,
    format_datetime,
)

__all__ = [
    "DEFECT_KINDS",
    "HASH_KEY",
    "MAX_PAYLOAD_BYTES",
    "SampleItem",
    "create_table",
    "expected_records",
    "generate_items",
    "item_size",
    "seed_table",
    "work_to_item",
]

Item = dict[str, dict[str, Any]]

HASH_KEY = "id"
"""The hash key attribute of the sample table (type ``S``)."""

MAX_PAYLOAD_BYTES = 400_000
"""Largest ``payload_bytes`` accepted: below DynamoDB's 400 KB (409,600 bytes)."""

MAX_BATCH_SIZE = 25
"""DynamoDB's limit on requests in one ``BatchWriteItem``."""


@dataclass(frozen=True)
class SampleItem:
    """One generated item.

    ``item`` is the wire-format item. ``defect`` is ``None`` for a good item,
    otherwise one of :data:`DEFECT_KINDS`; ``defect_field`` is then the path of
    the wrong attribute in the item's own names (dots between attributes,
    ``[i]`` for list positions). ``record`` is the :class:`Work` a correct
    decoder must produce from a good item, and ``None`` for a malformed one.
    """

    item: Item
    defect: str | None = None
    defect_field: str | None = None
    record: Work | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """The item's hash key value."""
        return self.item[HASH_KEY]["S"]


# ---------------------------------------------------------------- vocabulary


def _phrases(text: str) -> tuple[str, ...]:
    """The phrases of a ``;``-separated block of text, whitespace trimmed."""
    return tuple(phrase.strip() for phrase in text.split(";") if phrase.strip())


_TITLE_ADJECTIVES = _phrases(
    """
    Silent; Northern; Forgotten; Illustrated; Complete; Lost; Early; Collected; Hidden;
    Modern; Ancient; Brief; Natural; Secret; Golden; Unfinished; Practical; Curious;
    Measured; Wandering
    """
)
_TITLE_NOUNS = _phrases(
    """
    Atlas; Garden; Letters; Voyage; Chronicle; Harbour; Herbal; Sermons; Machines;
    Rivers; Observations; Songs; Account; Essays; Cartographies; Lighthouse; Memoirs;
    Grammar; Tides; Inventory; Kingdom; Orchard; Correspondence; Survey; Almanac
    """
)
_TITLE_TOPICS = _phrases(
    """
    the Baltic Coast; Provence; the Danube; Iceland; Lisbon; Kraków; the Low Countries;
    Bohemia; Sicily; the Highlands; Andalucía; Zürich; Trondheim; the Levant; Nagasaki;
    Montréal; São Paulo
    """
)
_SUBTITLES = _phrases(
    """
    a history; with notes and illustrations; selected writings, 1890-1914;
    an introduction; a new translation; sketches from the field;
    edited from the manuscripts; in three volumes; a catalogue raisonné
    """
)
_FORENAMES = _phrases(
    """
    Ada; Bertrand; Chloé; Dmitri; Elif; František; Greta; Hiroshi; Ingrid; José;
    Katarzyna; Lars; Mei; Nuno; Olwen; Pieter; Quentin; Renée; Søren; Tomasz; Ulla;
    Vítor; Wilhelmina; Yusuf
    """
)
_SURNAMES = _phrases(
    """
    Abernethy; Bąk; Castellanos; Dupré; Eriksson; Fitzgerald; Gómez; Halvorsen; Ishikawa;
    Janssen; Kowalczyk; Lindqvist; Müller; Nakamura; O'Brien; Petrović; Quiroga;
    Rasmussen; Szabó; Thorne; Urquhart; Van der Berg; Wójcik; Zeller
    """
)
_ORGANISATIONS = _phrases(
    """
    Royal Geographical Society; Hakluyt Society; Ordnance Survey; Imprimerie nationale;
    Smithsonian Institution; Folkways Records
    """
)
_ROLES = _phrases(
    """
    author; editor; translator; illustrator; cartographer; composer; performer;
    photographer; scribe; compiler
    """
)
_PLACES = _phrases(
    """
    London; Paris; Leipzig; Amsterdam; Venice; Edinburgh; Boston; Uppsala; Kraków;
    Lisboa; Wien; Antwerpen; New York; Kyoto; Philadelphia; Genève; Dublin; Bologna
    """
)
_FUNCTIONS = ("publication", "printing", "manufacture", "distribution", "recording")
_SUBJECTS = _phrases(
    """
    Cartography; Botany; Natural history; Navigation; Travel; Folk music; Architecture;
    Astronomy; Coastal surveying; Printing; Bookbinding; Medicine -- History;
    Exploration; Linguistics; Women authors; Ethnography; Photography; Maritime law;
    Geology; Lighthouses; Manuscripts, Latin; Music -- 19th century
    """
)
_LANGUAGES = _phrases(
    """
    eng; fre; ger; spa; ita; lat; dut; por; swe; dan; pol; jpn; chi; ara; rus; gre; heb;
    wel
    """
)
_JOURNALS = ("jhg", "imago", "notes", "bsm", "arch", "jmh", "terrae")
_NOTES = (
    "Bound in half calf, marbled boards.",
    "Includes bibliographical references and index.",
    "Gift of the Lindqvist family, 1954.",
    "Imperfect: lacks plates 3 and 7.",
    "Ownership inscription on front free endpaper.",
    "Digitised from the copy held in Special Collections.",
    "Hand-coloured in outline.",
    "Recorded in the field; some surface noise.",
    "Text in Latin with parallel English translation.",
)
_FILLER_WORDS = _phrases(
    """
    provenance; binding; folio; quire; watermark; vellum; recto; verso; colophon;
    catchword; rubric; gathering; plate; engraving; margin; annotation; leaf; spine;
    label; stamp; inscription; edition; issue; state; impression; collation; signature
    """
)
_WORK_TYPES = (
    WorkType.BOOK,
    WorkType.ARTICLE,
    WorkType.MAP,
    WorkType.RECORDING,
    WorkType.MANUSCRIPT,
    WorkType.PHOTOGRAPH,
    WorkType.SCORE,
)
_WORK_TYPE_WEIGHTS = (50, 20, 8, 7, 7, 5, 3)
_WORK_TYPE_YEARS = {
    WorkType.BOOK: (1480, 2023),
    WorkType.ARTICLE: (1700, 2023),
    WorkType.MAP: (1500, 2023),
    WorkType.RECORDING: (1890, 2023),
    WorkType.MANUSCRIPT: (1100, 1900),
    WorkType.PHOTOGRAPH: (1840, 2023),
    WorkType.SCORE: (1600, 2023),
}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EPOCH = datetime(2015, 1, 1, tzinfo=timezone.utc)
_SPAN_SECONDS = 10 * 365 * 24 * 3600


# ------------------------------------------------------------- identifiers


def _isbn13(rng: random.Random) -> str:
    digits = [9, 7, 8] + [rng.randrange(10) for _ in range(9)]
    total = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    digits.append((10 - total % 10) % 10)
    return "".join(map(str, digits))


def _orcid(rng: random.Random) -> str:
    digits = [0, 0, 0, 0, 0, 0, 0, rng.choice((1, 2, 3))]
    digits += [rng.randrange(10) for _ in range(7)]
    total = 0
    for d in digits:
        total = (total + d) * 2
    check = (12 - total % 11) % 11
    text = "".join(map(str, digits)) + ("X" if check == 10 else str(check))
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _work_identifiers(rng: random.Random, work_type: WorkType, year: int) -> list[Identifier]:
    identifiers = []
    if work_type is WorkType.BOOK and rng.random() < 0.8:
        identifiers.append(Identifier("isbn", _isbn13(rng)))
    if work_type is WorkType.ARTICLE and rng.random() < 0.9:
        prefix, journal = rng.randint(1000, 9999), rng.choice(_JOURNALS)
        doi = f"10.{prefix}/{journal}.{year}.{rng.randint(1, 999):03d}"
        identifiers.append(Identifier("doi", doi))
    if work_type is WorkType.MANUSCRIPT:
        identifiers.append(Identifier("shelfmark", f"MS Add. {rng.randint(100, 99999)}"))
    if rng.random() < 0.5:
        identifiers.append(Identifier("oclc", str(rng.randint(10**6, 10**10))))
    return identifiers


# ------------------------------------------------------------------ records


def _agent(rng: random.Random, year: int) -> Agent:
    if rng.random() < 0.1:
        return Agent(label=rng.choice(_ORGANISATIONS))
    label = f"{rng.choice(_SURNAMES)}, {rng.choice(_FORENAMES)}"
    born_year = year - rng.randint(18, 80) if rng.random() < 0.7 else None
    identifiers = []
    if rng.random() < 0.5:
        identifiers.append(Identifier("viaf", str(rng.randint(10**6, 10**9))))
    if born_year is not None and born_year > 1940 and rng.random() < 0.5:
        identifiers.append(Identifier("orcid", _orcid(rng)))
    return Agent(label=label, born_year=born_year, identifiers=identifiers)


def _production(rng: random.Random, year: int) -> list[ProductionEvent]:
    events = []
    for _ in range(rng.choice((0, 1, 1, 1, 2))):
        dates = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            when = min(year + rng.randint(0, 3), 2023)
            label = rng.choice((str(when), f"c. {when}", f"[{when}?]", f"{when}-{when + 1}"))
            dates.append(Period(label=label, year=when))
        events.append(
            ProductionEvent(
                place=_maybe(rng, 0.85, _PLACES),
                dates=dates,
                function=_maybe(rng, 0.6, _FUNCTIONS),
            )
        )
    return events


def _title(rng: random.Random) -> str:
    pattern = rng.randrange(4)
    adjective, noun = rng.choice(_TITLE_ADJECTIVES), rng.choice(_TITLE_NOUNS)
    if pattern == 0:
        return f"The {adjective} {noun}"
    if pattern == 1:
        return f"{noun} of {rng.choice(_TITLE_TOPICS)}"
    if pattern == 2:
        return f"The {adjective} {noun} of {rng.choice(_TITLE_TOPICS)}"
    first, second = rng.sample(_TITLE_NOUNS, 2)
    return f"{adjective} {noun}: {first.lower()} and {second.lower()}"


def _maybe(rng: random.Random, probability: float, choices: Sequence[str]) -> str | None:
    return rng.choice(choices) if rng.random() < probability else None


def _thumbnail(rng: random.Random) -> bytes:
    return _PNG_MAGIC + rng.randbytes(rng.randint(24, 2_048))


def _random_work(rng: random.Random, index: int) -> Work:
    (work_type,) = rng.choices(_WORK_TYPES, _WORK_TYPE_WEIGHTS)
    year = rng.randint(*_WORK_TYPE_YEARS[work_type])
    modified_at = _EPOCH + timedelta(seconds=rng.randrange(_SPAN_SECONDS))
    if rng.random() < 0.1:
        modified_at = modified_at.replace(microsecond=rng.randrange(1, 10**6))
    contributors = [
        Contributor(agent=_agent(rng, year), role=_maybe(rng, 0.8, _ROLES))
        for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3, 4)))
    ]
    has_pages = work_type in (WorkType.BOOK, WorkType.ARTICLE, WorkType.MANUSCRIPT, WorkType.SCORE)
    return Work(
        id=f"w{index:08d}",
        title=_title(rng),
        work_type=work_type,
        modified_at=modified_at,
        subtitle=_maybe(rng, 0.3, _SUBTITLES),
        contributors=contributors,
        production=_production(rng, year),
        subjects=rng.sample(_SUBJECTS, rng.choice((0, 1, 2, 2, 3, 4, 6))),
        identifiers=_work_identifiers(rng, work_type, year),
        languages=set(rng.sample(_LANGUAGES, rng.choice((0, 1, 1, 1, 2, 3)))),
        price=Decimal(rng.randint(100, 25_000)) / 100 if rng.random() < 0.4 else None,
        page_count=rng.randint(1, 1_200) if has_pages and rng.random() < 0.8 else None,
        available=rng.random() < 0.9,
        thumbnail=_thumbnail(rng) if rng.random() < 0.25 else None,
        notes=rng.sample(_NOTES, rng.choice((0, 0, 1, 1, 2))),
    )


# -------------------------------------------------------------- wire format


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: Any) -> dict[str, str]:
    """A number in canonical form, as DynamoDB returns it (no trailing zeros).

    All of DynamoDB's 38 significant digits are kept (``normalize`` rounds to
    the context's precision, 28 by default).
    """
    if isinstance(value, Decimal):
        return {"N": format(value.normalize(Context(prec=38)), "f")}
    return {"N": str(int(value))}


def _identifier_item(identifier: Identifier) -> dict[str, Any]:
    return {"M": {"scheme": _s(identifier.scheme), "value": _s(identifier.value)}}


def _agent_item(agent: Agent) -> dict[str, Any]:
    attributes: Item = {"label": _s(agent.label)}
    if agent.born_year is not None:
        attributes["bornYear"] = _n(agent.born_year)
    attributes["identifiers"] = {"L": [_identifier_item(i) for i in agent.identifiers]}
    return {"M": attributes}


def _contributor_item(contributor: Contributor) -> dict[str, Any]:
    attributes: Item = {"agent": _agent_item(contributor.agent)}
    if contributor.role is not None:
        attributes["role"] = _s(contributor.role)
    return {"M": attributes}


def _event_item(event: ProductionEvent) -> dict[str, Any]:
    attributes: Item = {}
    if event.place is not None:
        attributes["place"] = _s(event.place)
    attributes["dates"] = {
        "L": [{"M": {"label": _s(p.label), "year": _n(p.year)}} for p in event.dates]
    }
    if event.function is not None:
        attributes["function"] = _s(event.function)
    return {"M": attributes}


def work_to_item(work: Work) -> Item:
    """The wire-format item of ``work``, in the table's camelCase names.

    ``None`` fields and an empty ``languages`` set are left out (DynamoDB has
    no empty sets); lists are always written, empty ones as ``{"L": []}``.
    Numbers are in canonical form, binary values are ``bytes``.
    """
    item: Item = {
        "id": _s(work.id),
        "title": _s(work.title),
        "workType": _s(work.work_type.value),
        "modifiedAt": _s(format_datetime(work.modified_at)),
    }
    if work.subtitle is not None:
        item["subtitle"] = _s(work.subtitle)
    item["contributors"] = {"L": [_contributor_item(c) for c in work.contributors]}
    item["production"] = {"L": [_event_item(e) for e in work.production]}
    item["subjects"] = {"L": [_s(s) for s in work.subjects]}
    item["identifiers"] = {"L": [_identifier_item(i) for i in work.identifiers]}
    if work.languages:
        item["languages"] = {"SS": sorted(work.languages)}
    if work.price is not None:
        item["price"] = _n(work.price)
    if work.page_count is not None:
        item["pageCount"] = _n(work.page_count)
    item["available"] = {"BOOL": work.available}
    if work.thumbnail is not None:
        item["thumbnail"] = {"B": bytes(work.thumbnail)}
    item["notes"] = {"L": [_s(n) for n in work.notes]}
    return item


_OMITTABLE_LISTS = ("contributors", "production", "subjects", "identifiers", "notes")


def _sparsify(item: Item, rng: random.Random) -> None:
    """Varies how defaults are stored, as real tables do: absent or explicit."""
    for name in _OMITTABLE_LISTS:
        if item[name] == {"L": []} and rng.random() < 0.5:
            del item[name]
    if item["available"] == {"BOOL": True} and rng.random() < 0.3:
        del item["available"]
    if "subtitle" not in item and rng.random() < 0.1:
        item["subtitle"] = {"NULL": True}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _value_size(value: Mapping[str, Any]) -> int:
    ((tag, payload),) = value.items()
    if tag == "S":
        return len(payload.encode("utf-8"))
    if tag == "N":
        return _number_size(payload)
    if tag == "B":
        return len(payload)
    if tag == "SS":
        return sum(len(v.encode("utf-8")) for v in payload)
    if tag == "NS":
        return sum(_number_size(v) for v in payload)
    if tag == "BS":
        return sum(len(v) for v in payload)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "L":
        return 3 + sum(1 + _value_size(v) for v in payload)
    if tag == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in payload.items())
    raise ValueError(f"unknown DynamoDB type tag {tag!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The item's size by DynamoDB's published rules, in bytes.

    Attribute names and strings count their UTF-8 length, binaries their
    length, numbers about one byte per two significant digits plus one, lists
    and maps three bytes plus one per element. The 400 KB item limit applies
    to this size.
    """
    return sum(len(name.encode("utf-8")) + _value_size(v) for name, v in item.items())


# ------------------------------------------------------------------ defects


def _add_contributor(item: Item, rng: random.Random) -> list[dict[str, Any]]:
    contributors = item.setdefault("contributors", {"L": []})["L"]
    if not contributors:
        agent = _agent(rng, rng.randint(1500, 2023))
        contributors.append(_contributor_item(Contributor(agent=agent, role="author")))
    return contributors


def _title_not_string(item: Item, rng: random.Random) -> str:
    item["title"] = {"N": str(rng.randint(1000, 2020))}
    return "title"


def _title_missing(item: Item, rng: random.Random) -> str:
    del item["title"]
    return "title"


def _title_null(item: Item, rng: random.Random) -> str:
    item["title"] = {"NULL": True}
    return "title"


def _modified_at_missing(item: Item, rng: random.Random) -> str:
    del item["modifiedAt"]
    return "modifiedAt"


def _modified_at_invalid(item: Item, rng: random.Random) -> str:
    item["modifiedAt"] = _s(
        rng.choice(("2021-13-45", "yesterday", "2021-02-30T10:00:00Z", "04/03/2021 10:00"))
    )
    return "modifiedAt"


def _work_type_unknown(item: Item, rng: random.Random) -> str:
    item["workType"] = _s(rng.choice(("painting", "sculpture", "video game")))
    return "workType"


def _born_year_not_number(item: Item, rng: random.Random) -> str:
    contributors = _add_contributor(item, rng)
    position = rng.randrange(len(contributors))
    agent = contributors[position]["M"]["agent"]["M"]
    agent["bornYear"] = _s(rng.choice(("abc", "unknown", "fl. 1850")))
    return f"contributors[{position}].agent.bornYear"


def _page_count_not_integer(item: Item, rng: random.Random) -> str:
    item["pageCount"] = {"N": rng.choice(("3.5", "212.75", "0.5"))}
    return "pageCount"


def _year_not_number(item: Item, rng: random.Random) -> str:
    events = item.setdefault("production", {"L": []})["L"]
    if not events:
        events.append(_event_item(ProductionEvent(place=rng.choice(_PLACES))))
    event_position = rng.randrange(len(events))
    dates = events[event_position]["M"].setdefault("dates", {"L": []})["L"]
    dates.append({"M": {"label": _s("19th century"), "year": _s("19th century")}})
    date_position = rng.randrange(len(dates))
    dates[date_position], dates[-1] = dates[-1], dates[date_position]
    return f"production[{event_position}].dates[{date_position}].year"


def _subject_not_string(item: Item, rng: random.Random) -> str:
    subjects = item.setdefault("subjects", {"L": []})["L"]
    position = rng.randint(0, len(subjects))
    subjects.insert(position, {"N": str(rng.randint(1, 99))})
    return f"subjects[{position}]"


def _price_not_number(item: Item, rng: random.Random) -> str:
    item["price"] = _s(rng.choice(("12,50", "€12.50", "free")))
    return "price"


def _identifier_missing_value(item: Item, rng: random.Random) -> str:
    identifiers = item.setdefault("identifiers", {"L": []})["L"]
    if not identifiers:
        identifiers.append(_identifier_item(Identifier("oclc", str(rng.randint(10**6, 10**9)))))
    position = rng.randrange(len(identifiers))
    del identifiers[position]["M"]["value"]
    return f"identifiers[{position}].value"


def _available_not_boolean(item: Item, rng: random.Random) -> str:
    item["available"] = rng.choice((_s("yes"), {"N": "1"}))
    return "available"


_DEFECTS: dict[str, Callable[[Item, random.Random], str]] = {
    "title_not_string": _title_not_string,
    "title_missing": _title_missing,
    "title_null": _title_null,
    "modified_at_missing": _modified_at_missing,
    "modified_at_invalid": _modified_at_invalid,
    "work_type_unknown": _work_type_unknown,
    "born_year_not_number": _born_year_not_number,
    "page_count_not_integer": _page_count_not_integer,
    "year_not_number": _year_not_number,
    "subject_not_string": _subject_not_string,
    "price_not_number": _price_not_number,
    "identifier_missing_value": _identifier_missing_value,
    "available_not_boolean": _available_not_boolean,
}

DEFECT_KINDS: tuple[str, ...] = tuple(_DEFECTS)
"""Every kind of defect :func:`generate_items` produces, in rotation order.

Each malformed item has exactly one, at ``defect_field``:

- wrong type: ``title_not_string`` (``title`` as ``N``),
  ``born_year_not_number`` (``contributors[i].agent.bornYear`` as ``S``),
  ``page_count_not_integer`` (``pageCount`` is ``N`` ``"3.5"``),
  ``year_not_number`` (``production[i].dates[j].year`` as ``S``),
  ``price_not_number`` (``price`` as ``S`` ``"12,50"``),
  ``available_not_boolean`` (``available`` as ``S`` or ``N``),
  ``subject_not_string`` (an ``N`` element at ``subjects[i]``);
- missing required field: ``title_missing``, ``modified_at_missing``,
  ``identifier_missing_value`` (``identifiers[i].value``);
- null in a required field: ``title_null``;
- bad date: ``modified_at_invalid`` (``"2021-13-45"``, ``"yesterday"``...);
- bad enum value: ``work_type_unknown`` (``"painting"``).
"""


# ---------------------------------------------------------------- padding

_FILLER_CHARS = 1 << 16


def _filler_corpus() -> str:
    rng = random.Random("filler")
    words = []
    length = 0
    while length < _FILLER_CHARS:
        word = rng.choice(_FILLER_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


_FILLER = _filler_corpus()


def _filler_text(length: int, rng: random.Random) -> str:
    start = rng.randrange(len(_FILLER))
    repeats = (start + length) // len(_FILLER) + 1
    return (_FILLER * repeats)[start : start + length]


def _pad(item: Item, payload_bytes: int, rng: random.Random) -> str | None:
    """Appends a note so that ``item_size(item) == payload_bytes``; returns it.

    Nothing is added (``None``) when the item is already that large.
    """
    if item_size(item) >= payload_bytes:
        return None
    notes = item.setdefault("notes", {"L": []})["L"]
    notes.append(_s(""))
    deficit = payload_bytes - item_size(item)
    text = "Condition report: " + _filler_text(max(deficit - 18, 0), rng)
    text = text[: max(deficit, 0)]
    notes[-1] = _s(text)
    return text


# ---------------------------------------------------------------- generator


def _is_malformed(index: int, fraction: float, phase: float) -> tuple[bool, int]:
    """Spreads defects evenly: item ``index`` is the n-th malformed one or not."""
    before = int(index * fraction + phase)
    after = int((index + 1) * fraction + phase)
    return after > before, before


def generate_items(
    count: int,
    *,
    malformed_fraction: float = 0.01,
    seed: int = 0,
    payload_bytes: int = 0,
) -> Iterator[SampleItem]:
    """``count`` sample items, lazily, with ids ``w00000000``, ``w00000001``...

    Deterministic for ``seed``: item ``i`` is a function of ``(seed, i)`` only.
    Malformed items are spread evenly, so every prefix of ``n`` items holds
    ``round(n * malformed_fraction)`` of them give or take one; their kinds
    follow :data:`DEFECT_KINDS` in rotation, so all kinds appear once there are
    ``len(DEFECT_KINDS)`` malformed items. With ``payload_bytes > 0``, a filler
    note makes each item exactly that large by :func:`item_size` (items that
    are larger already stay as they are); at most :data:`MAX_PAYLOAD_BYTES`.
    Bad arguments raise ``ValueError`` at the call, not at the first item.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0.0 <= malformed_fraction <= 1.0:
        raise ValueError(f"malformed_fraction must be in [0, 1], got {malformed_fraction}")
    if not 0 <= payload_bytes <= MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload_bytes must be in [0, {MAX_PAYLOAD_BYTES}], got {payload_bytes}")
    if count >= 10**8:
        raise ValueError(f"count must be below 100,000,000 (8-digit ids), got {count}")
    return _generate(count, malformed_fraction, seed, payload_bytes)


def _generate(
    count: int, malformed_fraction: float, seed: int, payload_bytes: int
) -> Iterator[SampleItem]:
    setup = random.Random(f"sample-data:{seed}")
    phase = setup.random()
    kind_offset = setup.randrange(len(DEFECT_KINDS))
    for index in range(count):
        rng = random.Random(f"sample-data:{seed}:{index}")
        work = _random_work(rng, index)
        item = work_to_item(work)
        _sparsify(item, rng)
        malformed, ordinal = _is_malformed(index, malformed_fraction, phase)
        defect = defect_field = None
        if malformed:
            defect = DEFECT_KINDS[(ordinal + kind_offset) % len(DEFECT_KINDS)]
            defect_field = _DEFECTS[defect](item, rng)
        if payload_bytes:
            note = _pad(item, payload_bytes, rng)
            if note is not None:
                work.notes.append(note)
        yield SampleItem(
            item=item,
            defect=defect,
            defect_field=defect_field,
            record=None if malformed else work,
        )


def expected_records(samples: Iterable[SampleItem]) -> dict[str, Work]:
    """Id to :class:`Work` for the good samples, decoded the ordinary way.

    Each good item goes through boto3's ``TypeDeserializer`` and
    ``Work.from_dict``; malformed samples are left out.
    """
    deserializer = TypeDeserializer()
    records = {}
    for sample in samples:
        if sample.defect is None:
            plain = {k: deserializer.deserialize(v) for k, v in sample.item.items()}
            records[sample.id] = Work.from_dict(plain)
    return records


# ------------------------------------------------------------------ seeding


def create_table(client: Any, table_name: str, *, wait: bool = True) -> None:
    """Creates ``table_name`` with hash key ``id`` (S), on-demand billing.

    With ``wait``, returns once the table is ``ACTIVE``. DynamoDB's errors
    (e.g. ``ResourceInUseException`` for an existing table) propagate.
    """
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": HASH_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": HASH_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if wait:
        client.get_waiter("table_exists").wait(
            TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _write_batch(
    client: Any,
    table_name: str,
    batch: Sequence[Item],
    max_attempts: int,
    base_delay: float,
) -> int:
    """Writes one batch, resending ``UnprocessedItems`` with capped backoff."""
    requests = [{"PutRequest": {"Item": item}} for item in batch]
    for attempt in range(max_attempts):
        response = client.batch_write_item(RequestItems={table_name: requests})
        requests = response.get("UnprocessedItems", {}).get(table_name, [])
        if not requests:
            return len(batch)
        time.sleep(min(base_delay * 2**attempt, 5.0) * random.uniform(0.5, 1.0))
    raise RuntimeError(
        f"{len(requests)} of {len(batch)} items still unprocessed in table "
        f"{table_name!r} after {max_attempts} BatchWriteItem attempts"
    )


def seed_table(
    client: Any,
    table_name: str,
    items: Iterable[Item],
    *,
    batch_size: int = MAX_BATCH_SIZE,
    workers: int = 4,
    max_attempts: int = 10,
    base_delay: float = 0.05,
) -> int:
    """Writes wire-format ``items`` to ``table_name``; returns how many.

    Items go out in ``BatchWriteItem`` requests of ``batch_size`` (at most 25),
    from ``workers`` threads sharing the client (boto3 clients are thread
    safe). ``UnprocessedItems`` are resent with capped exponential backoff;
    a batch still unprocessed after ``max_attempts`` requests raises
    ``RuntimeError``. ``items`` is consumed lazily, at most a few batches per
    worker ahead. An existing item with the same id is replaced.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be in [1, {MAX_BATCH_SIZE}], got {batch_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    batches = _chunks(items, batch_size)
    if workers == 1:
        return sum(_write_batch(client, table_name, b, max_attempts, base_delay) for b in batches)
    written = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
        pending = set()
        for batch in batches:
            if len(pending) >= 2 * workers:
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                written += sum(f.result() for f in done)
            pending.add(
                executor.submit(_write_batch, client, table_name, batch, max_attempts, base_delay)
            )
        written += sum(f.result() for f in concurrent.futures.as_completed(pending))
    return written
