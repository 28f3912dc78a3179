"""The struct decoder gives exactly what the exact decoder gives, or steps aside.

For an item's JSON text, ``compile_struct_decoder(model, key_attributes)``
must return the exact decoder's record (same value, same repr, so the same
types) and ``key_of``'s key for the item botocore parses from that text – or
raise NotOnFastPath. Checked on generated models with valid and malformed
items, on models using every dataclasses-json option, on the example model's
sample table, and on JSON only the wire can hold (escapes, duplicate keys,
nulls, bad base64).
"""

import base64
import json
from dataclasses import dataclass

import botocore.parsers
import botocore.session
import msgspec
import pytest
from dataclasses_json import dataclass_json
from hypothesis import given, settings

from pipeline.local.sample_data import generate_items
from pipeline.models import Work as CatalogueWork
from tests.decode.test_decoder import (
    QUEUED_ITEM,
    Agent,
    Contributor,
    Node,
    Queued,
    Work,
    contributor,
    models_with_items,
    work_item,
)
from tests.decode.test_generated_decoder import OPTION_CASES, broken_items
from transforms.decode.decoder import DecodeError, compile_decoder
from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.wire_structs import (
    NotOnFastPath,
    compile_struct_decoder,
    struct_decoder_source,
)
from transforms.dynamodb.wire import item_to_json, key_of


def item_text(item) -> bytes:
    """The item as DynamoDB's JSON writes it (binaries as base64)."""
    return json.dumps(item_to_json(item)).encode()


_SCAN_OUTPUT = botocore.session.get_session().get_service_model("dynamodb").operation_model("Scan")
_PARSER = botocore.parsers.create_parser("json")


def botocore_items(body: bytes) -> list:
    """The items botocore's own parser gives for a Scan response body."""
    response = {"body": body, "headers": {}, "status_code": 200}
    return _PARSER.parse(response, _SCAN_OUTPUT.output_shape).get("Items", [])


def exact(model, text: bytes, key_attributes=()):
    """What the exact path makes of an item's text: botocore's item, then
    compile_decoder; ``None`` when the item does not decode."""
    (item,) = botocore_items(b'{"Items": [' + text + b"]}")
    try:
        record = compile_decoder(model)(item)
    except DecodeError:
        return None
    return KeyedRecord(key_of(item, key_attributes) if key_attributes else None, record)


def assert_same_or_aside(model, text: bytes, key_attributes=()) -> bool:
    """True when the struct decoder decoded the item (the same as the exact path)."""
    decode = compile_struct_decoder(model, key_attributes)
    assert decode is not None
    want = exact(model, text, key_attributes)
    try:
        got = decode(text)
    except NotOnFastPath:
        return False
    assert want is not None, "the struct decoder decoded an item the exact decoder refuses"
    assert got == want
    assert repr(got) == repr(want)
    return True


def keys_of(item) -> tuple[str, ...]:
    return tuple(
        name
        for name, value in item.items()
        if isinstance(value, dict) and set(value) & {"S", "N", "B"}
    )[:2]


@settings(max_examples=200, deadline=None)
@given(models_with_items())
def test_valid_items_of_generated_models_decode_as_the_exact_decoder_decodes(model_and_item):
    model, item = model_and_item
    if not isinstance(item, dict):
        return
    assert_same_or_aside(model, item_text(item), keys_of(item))


@settings(max_examples=300, deadline=None)
@given(broken_items())
def test_malformed_items_are_never_decoded_otherwise(model_and_item):
    model, item = model_and_item
    if not isinstance(item, dict):
        return
    try:
        text = item_text(item)
        botocore_items(b'{"Items": [' + text + b"]}")
    except (TypeError, ValueError, AttributeError, KeyError):
        return  # not an item DynamoDB's JSON (as botocore reads it) can hold
    assert_same_or_aside(model, text, keys_of(item))


@pytest.mark.parametrize(
    "model, item", [case for case in OPTION_CASES if isinstance(case[1], dict)]
)
def test_every_option_decodes_the_same_or_steps_aside(model, item):
    if compile_struct_decoder(model) is None:
        return  # refuses or collects unknown attributes: no struct decoder
    try:
        text = item_text(item)
    except (TypeError, ValueError, AttributeError, KeyError):
        return
    assert_same_or_aside(model, text)


def test_deques_and_ordered_dicts_decode_the_same_or_step_aside():
    assert_same_or_aside(Queued, item_text(QUEUED_ITEM))


def test_the_sample_table_decodes_on_the_fast_path_entirely():
    samples = generate_items(600, malformed_fraction=0.0, seed=11)
    decoded = [
        assert_same_or_aside(CatalogueWork, item_text(sample.item), ("id",)) for sample in samples
    ]
    assert all(decoded)


def test_malformed_sample_items_step_aside():
    samples = generate_items(400, malformed_fraction=0.5, seed=5)
    outcomes = [assert_same_or_aside(CatalogueWork, item_text(s.item), ("id",)) for s in samples]
    assert 0 < outcomes.count(True) < len(outcomes)


def test_usual_shapes_are_on_the_fast_path():
    # nested models, a set given as SS, a NULL optional, a dict field's M
    assert assert_same_or_aside(Agent, item_text({"name": {"S": "A"}, "bornYear": {"NULL": True}}))
    assert assert_same_or_aside(Contributor, item_text(contributor("Ann", born_year="1961")["M"]))
    assert assert_same_or_aside(Work, item_text(work_item()), ("id",))


@dataclass_json
@dataclass
class Maps:
    plain: dict[str, str]
    counted: dict[str, int] | None = None
    by_number: dict[int, Agent] | None = None
    maybe: dict[str, str | None] | None = None


MAPS = [
    # on the fast path
    (rb'{"plain": {"M": {}}}', True),
    (
        rb'{"plain": {"M": {"b": {"S": "2"}, "a": {"S": "1"}}}, '
        rb'"counted": {"M": {"x": {"N": "7"}}}}',
        True,
    ),
    (rb'{"plain": {"M": {}}, "by_number": {"M": {"3": {"M": {"name": {"S": "A"}}}}}}', True),
    (rb'{"plain": {"M": {}}, "maybe": {"M": {"a": {"NULL": true}, "b": {"S": "x"}}}}', True),
    # both tags: the text, as the exact decoder reads it
    (rb'{"plain": {"M": {}}, "maybe": {"M": {"a": {"NULL": true, "S": "x"}}}}', True),
    # a key twice in the map's text: the last value, the first place, as json.loads reads it
    (rb'{"plain": {"M": {"a": {"S": "1"}, "b": {"S": "2"}, "a": {"S": "3"}}}}', True),
    # two keys that decode to one: the exact decoder refuses the item
    (
        rb'{"plain": {"M": {}}, "by_number": {"M": {"1": {"M": {"name": {"S": "A"}}}, '
        rb'"01": {"M": {"name": {"S": "B"}}}}}}',
        False,
    ),
    # not on the fast path: the exact decoder decides
    (rb'{"plain": {"M": {"a": {"N": "1"}}}}', False),
    (rb'{"plain": {"M": {"a": {"NULL": true}}}}', False),
    (rb'{"plain": {"M": {"a": null}}}', False),
    # {"NULL": false} is not a null: the exact decoder refuses it
    (rb'{"plain": {"M": {}}, "maybe": {"M": {"a": {"NULL": false}}}}', False),
    (rb'{"plain": {"M": {}}, "counted": {"NULL": false}}', False),
    (rb'{"plain": {"M": {}}, "counted": {"M": {"x": {"N": "seven"}}}}', False),
    (rb'{"plain": {"M": {}}, "by_number": {"M": {"three": {"M": {"name": {"S": "A"}}}}}}', False),
]


@pytest.mark.parametrize("text, fast", MAPS)
def test_maps_into_dicts_decode_as_the_exact_decoder_decodes(text, fast):
    assert assert_same_or_aside(Maps, text) is fast


WIRE_ONLY = [
    # escaped tag and attribute names are the same names
    rb'{"name": {"\u0053": "A"}}',
    rb'{"n\u0061me": {"S": "A\u00e9\ud83d\ude00"}}',
    # a lone surrogate json.loads keeps
    rb'{"name": {"S": "\ud800"}}',
    # duplicate keys: the last one counts for json.loads
    rb'{"name": {"S": "A"}, "name": {"S": "B"}}',
    rb'{"name": {"S": "A", "S": "B"}}',
    # JSON null where a payload or an attribute goes
    rb'{"name": {"S": null}}',
    rb'{"name": null}',
    rb'{"name": {"S": "A"}, "bornYear": null}',
    # a number where text goes, text where a flag goes
    rb'{"name": {"S": 1}}',
    rb'{"name": {"S": "A"}, "bornYear": {"N": 1900}}',
    # two tags, no tag, an unknown tag
    rb'{"name": {"S": "A", "N": "1"}}',
    rb'{"name": {}}',
    rb'{"name": {"X": "A"}}',
    # the Python name instead of the attribute name
    rb'{"name": {"S": "A"}, "born_year": {"N": "1900"}}',
]


@pytest.mark.parametrize("text", WIRE_ONLY)
def test_json_only_the_wire_can_hold(text):
    want = exact(Agent, text)
    decode = compile_struct_decoder(Agent)
    try:
        got = decode(text)
    except NotOnFastPath:
        return
    assert got == want and repr(got) == repr(want)


@pytest.mark.parametrize(
    "payload",
    ["AAEC", "AAE=", "AA==", "not base64!", "AAE", "A A E C", ""],
)
def test_binary_payloads_decode_as_botocore_decodes_them_or_step_aside(payload):
    model = _binary_model()
    text = json.dumps({"data": {"B": payload}}).encode()
    decode = compile_struct_decoder(model)
    try:
        got = decode(text)
    except NotOnFastPath:
        return
    (item,) = botocore_items(b'{"Items": [' + text + b"]}")
    assert got.record.data == item["data"]["B"] == base64.b64decode(payload)


def _binary_model():
    from dataclasses import dataclass

    from dataclasses_json import dataclass_json

    @dataclass_json
    @dataclass
    class Blob:
        data: bytes

    return Blob


def test_a_model_that_contains_itself_decodes_its_leaves_on_the_fast_path_or_steps_aside():
    item = {"name": {"S": "a"}, "children": {"L": [{"M": {"name": {"S": "b"}}}]}}
    decode = compile_struct_decoder(Node)
    if decode is None:
        return
    assert_same_or_aside(Node, item_text(item))


def test_keys_come_from_attributes_outside_the_model_too():
    text = item_text({"name": {"S": "A"}, "pk": {"N": "7"}, "sk": {"B": b"\x00\x01"}})
    keyed = compile_struct_decoder(Agent, ("pk", "sk"))(text)
    assert keyed.key == {"pk": {"N": "7"}, "sk": {"B": b"\x00\x01"}}
    assert compile_struct_decoder(Agent, ("pk", "sk"))(item_text({"name": {"S": "A"}})).key is None


def test_a_key_attribute_with_an_odd_value_steps_aside():
    decode = compile_struct_decoder(Agent, ("pk",))
    with pytest.raises(NotOnFastPath):
        decode(item_text({"name": {"S": "A"}, "pk": {"BOOL": True}}))
    with pytest.raises(NotOnFastPath):
        decode(b'{"name": {"S": "A"}, "pk": {"S": "a", "N": "1"}}')


def test_models_that_refuse_or_collect_unknown_attributes_have_no_struct_decoder():
    from tests.decode.test_generated_decoder import Closed, Collecting

    assert compile_struct_decoder(Closed) is None
    assert compile_struct_decoder(Collecting) is None
    assert compile_struct_decoder(Agent, forbid_unknown=True) is None


def test_the_generated_code_is_shown_and_holds_no_name_from_the_model():
    source = struct_decoder_source(CatalogueWork)
    assert "def make(" in source and "convert_Work" in source
    code = "\n".join(line for line in source.splitlines() if not line.startswith("#"))
    for name in ("title", "workType", "modifiedAt", "bornYear", '"S"', "'S'"):
        assert name not in code


def test_a_page_of_structs_reads_as_raw_items():
    class Page(msgspec.Struct):
        Items: list[msgspec.Raw]

    samples = list(generate_items(50, malformed_fraction=0.0, seed=2))
    body = json.dumps({"Items": [item_to_json(s.item) for s in samples]}).encode()
    decode = compile_struct_decoder(CatalogueWork, ("id",))
    records = [decode(raw).record for raw in msgspec.json.decode(body, type=Page).Items]
    assert records == [compile_decoder(CatalogueWork)(s.item) for s in samples]
