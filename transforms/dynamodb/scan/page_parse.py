"""Scan pages read straight from the wire: ``json.loads`` instead of botocore's shape walk.

botocore turns a Scan response into Python by walking its output model value
by value: for a 1 MB page of typical items that costs ten times what
``json.loads`` of the same bytes does, and it is most of a worker's CPU. Yet
DynamoDB's JSON already *is* the wire format the pipeline passes on
(``{"id": {"S": "w1"}, "n": {"N": "3"}}``); the only values botocore changes
are binaries, which travel as base64 text and come out as ``bytes``.

:func:`install_fast_scan_parser` registers a handler on the client's
``before-parse.dynamodb.Scan`` event. For a successful response it reads the
body once with ``json.loads``, turns ``B`` and ``BS`` payloads into ``bytes``
(the text is searched for binary tags first: most pages need no walk, or one
over the top level of their items), hands the items to botocore as an
already-parsed part of the response, and leaves the
rest of the body (``LastEvaluatedKey``, ``Count``, ``ScannedCount``,
``ConsumedCapacity``) to botocore's own parser. Everything else stays
botocore's: signing, endpoints, credentials, the ``x-amz-crc32`` check and the
retries of throttling, 5xx and connection errors, which run before and after
parsing and never see the difference. Error responses are not touched.

With an item decoder (:mod:`transforms.decode.wire_structs`, installed by
``install_fast_scan_parser(client, item_decoder)``), the body is cut into its
items' JSON texts by msgspec instead, and each item is decoded straight into
a :class:`~transforms.decode.keyed_record.KeyedRecord` (its key and model
instance); an item the decoder steps aside from is parsed as above and
passed on in wire format, for the exact decoder and its dead letters.
``Items`` then holds both kinds, in the page's order.

One page is parsed at a time in a process whose interpreter has a global
lock (:data:`PARSE_TURN`): threads that read at once (the worker threads of
an in-process run, the SDK harness of Dataflow, the read ahead) take turns
rather than cut each other's parse into 5 ms slices, which held the lock
anyway and cost more CPU for the same pages.

Contract: ``client.scan(...)`` returns the same response with or without the
handler (without an item decoder; tests compare both on tables with every
attribute type). The handler steps aside, and botocore parses the page as
usual, for a body that is not a JSON object with a list of items, that holds
a JSON ``null`` value (which botocore drops from structures), or whose
binaries do not decode. The one
known difference is for responses DynamoDB does not send today: a value whose
type tag botocore's model does not know is passed on as sent, where botocore
would replace it by ``{"SDK_UNKNOWN_MEMBER": {"name": tag}}``, and a value with
several tags is passed on where botocore would raise.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import gc
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from transforms.decode.keyed_record import KeyedRecord
from transforms.decode.wire_structs import NotOnFastPath
from transforms.dynamodb.json_parse import loads
from transforms.dynamodb.wire import Item

__all__ = ["PARSE_TURN", "SCAN_PARSE_EVENT", "install_fast_scan_parser", "split_scan_body"]

SCAN_PARSE_EVENT = "before-parse.dynamodb.Scan"
_HANDLER_ID = "transforms.dynamodb.scan.page_parse.fast_scan_parser"

# How binary tags appear in the JSON text, and escaped letters of their names.
_BINARY_TAGS = (b'"B"', b'"BS"')
_ESCAPED_LETTERS = (b"\\u0042", b"\\u0053")
_JSON_NULL = re.compile(rb"[:,\[]\s*null")
_b64decode = base64.b64decode


def _interpreter_lock_held() -> bool:
    """False only on a free-threaded build running without its global lock."""
    gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return gil_enabled is None or gil_enabled()


def _new_parse_turn():
    """A reentrant lock (a model's own code runs inside a turn), or none
    without an interpreter lock."""
    return threading.RLock() if _interpreter_lock_held() else contextlib.nullcontext()


PARSE_TURN = _new_parse_turn()
"""Held while a Scan page is parsed by the client hook: one page at a time per
process. Parsing holds the interpreter lock all the way, so turns lose no
parallelism; without them, threads parsing at once are switched every 5 ms
and each slice starts with a cold cache. Measured (100,000 items, 8 threads
reading 1 MB pages, 6 pairs side by side, medians): the page parse took
1.7–2.0 s of thread CPU instead of 2.2–2.8 s, a bare 8-thread scan loop
0.90x the wall time of the same loop without turns, an 8-thread pipeline
0.96x. A free-threaded build without its lock parses in parallel."""

ItemDecoder = Callable[[bytes], KeyedRecord]
"""An item's JSON text -> its KeyedRecord, or NotOnFastPath (a StructDecoder)."""


def install_fast_scan_parser(client, item_decoder: ItemDecoder | None = None) -> None:
    """Makes ``client.scan`` read its pages with :func:`split_scan_body`.

    ``client`` is a low-level DynamoDB client (``boto3.client("dynamodb")``);
    the handler is registered on that client's own events, once: a second
    call replaces the first one's handler.
    """
    events = client.meta.events
    events.unregister(SCAN_PARSE_EVENT, unique_id=_HANDLER_ID)
    handler = functools.partial(_parse_scan_items, item_decoder=item_decoder)
    events.register(SCAN_PARSE_EVENT, handler, unique_id=_HANDLER_ID)


def _parse_scan_items(
    response_dict: dict,
    customized_response_dict: dict,
    item_decoder: ItemDecoder | None = None,
    **_: Any,
) -> None:
    """botocore's ``before-parse`` hook: items to ``customized_response_dict``,
    the rest of the body left for botocore's parser."""
    if response_dict.get("status_code", 500) >= 300:
        return
    body = response_dict.get("body")
    if not isinstance(body, bytes):
        return
    with PARSE_TURN:
        split = split_scan_body(body, item_decoder)
    if split is None:
        return
    items, rest = split
    customized_response_dict["Items"] = items
    response_dict["body"] = rest


def split_scan_body(
    body: bytes, item_decoder: ItemDecoder | None = None
) -> tuple[list[Item | KeyedRecord], bytes] | None:
    """A Scan response body as ``(items, the body without "Items")``.

    ``items`` are what botocore's parser gives for the body's ``Items``
    (binary payloads as ``bytes``), or with ``item_decoder`` the KeyedRecord
    of each item it decodes. Returns None when the body is one that botocore
    should parse itself (see the module docstring).
    """
    if b"null" in body and _JSON_NULL.search(body):
        return None
    if item_decoder is not None:
        return _decode_scan_body(body, item_decoder)
    try:
        response = _loads(body)
    except ValueError:
        return None
    if not isinstance(response, dict):
        return None
    items = response.pop("Items", None)
    if not isinstance(items, list):
        return None
    try:
        _decode_binaries(items, body)
    except (AttributeError, TypeError, ValueError, binascii.Error):
        return None
    return items, json.dumps(response).encode()


_decode_top = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode
_encode = msgspec.json.encode


def _decode_scan_body(
    body: bytes, item_decoder: ItemDecoder
) -> tuple[list[Item | KeyedRecord], bytes] | None:
    """:func:`split_scan_body` with an item decoder: each item's text is
    decoded by it, or parsed as without it when it steps aside."""
    try:
        top = _decode_top(body)
        texts = _decode_items(top.pop("Items"))
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError):
        return None
    items: list[Item | KeyedRecord] = []
    append = items.append
    _pause_gc()
    try:
        for text in texts:
            try:
                append(item_decoder(text))
            except NotOnFastPath:
                data = bytes(text)
                item = loads(data)
                if not isinstance(item, dict):
                    return None
                _decode_binaries([item], data)
                append(item)
    except (AttributeError, TypeError, ValueError, binascii.Error):
        return None
    finally:
        _resume_gc()
    return items, _encode(top)


def _loads(body: bytes) -> Any:
    """``json.loads`` (computed by orjson where it is installed and agrees, see
    :mod:`transforms.dynamodb.json_parse`) with the cyclic garbage collector paused.

    A page is tens of thousands of new dicts and lists; counted one by one
    they set off the collector's full passes over the whole heap, which cost
    several times the parse itself. Parsed JSON holds no reference cycles, so
    the pause frees nothing late. (The same advice as msgpack's for large
    messages.) See :func:`_pause_gc` for how pauses of several threads share
    the process-wide switch.
    """
    _pause_gc()
    try:
        return loads(body)
    finally:
        _resume_gc()


_GC_LOCK = threading.Lock()
_gc_pauses = 0
_gc_disabled_here = False


def _pause_gc() -> None:
    """Starts one pause: the first of overlapping pauses disables the collector
    if it is enabled, and remembers that it did.

    Pauses are counted under a lock, so threads parsing at once keep the
    collector off until the last of them ends (:func:`_resume_gc`). A
    collector found disabled is left as it is and never enabled here. (The
    ``gc`` switch has no owner: a disable by someone else while a pause is
    running cannot be told apart from the pause's own, and ends with it.)
    """
    global _gc_pauses, _gc_disabled_here
    with _GC_LOCK:
        _gc_pauses += 1
        if _gc_pauses == 1 and gc.isenabled():
            gc.disable()
            _gc_disabled_here = True


def _resume_gc() -> None:
    """Ends one pause; the last one enables the collector only if a pause disabled it."""
    global _gc_pauses, _gc_disabled_here
    with _GC_LOCK:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_disabled_here:
            _gc_disabled_here = False
            gc.enable()


def _after_fork_in_child() -> None:
    """A child forked while one of its parent's threads parsed a page starts
    with no turn taken and no pause counted: that thread is not in the child,
    and would never end either (the child's parses would wait for good, and
    its collector stay off)."""
    global PARSE_TURN, _GC_LOCK, _gc_pauses, _gc_disabled_here
    PARSE_TURN = _new_parse_turn()
    _GC_LOCK = threading.Lock()
    if _gc_disabled_here:
        gc.enable()
    _gc_pauses, _gc_disabled_here = 0, False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _decode_binaries(items: list[Item], body: bytes) -> None:
    """Turns every base64 ``B``/``BS`` payload of ``items`` into ``bytes``, in place.

    Most binaries sit at the top level of an item, and every one of them shows
    in the text as a ``"B"`` or ``"BS"`` key. So the top level of each item is
    converted first; the nested maps and lists are only walked when the text
    holds more such keys than were found there, or spells a tag's letter
    with a ``\\u`` escape.
    """
    if any(escaped in body for escaped in _ESCAPED_LETTERS):
        marked = -1
    else:
        marked = sum(body.count(tag) for tag in _BINARY_TAGS)
        if not marked:
            return
    found = 0
    for item in items:
        for value in item.values():
            if "B" in value:
                value["B"] = _b64decode(value["B"])
                found += 1
            elif "BS" in value:
                value["BS"] = [_b64decode(payload) for payload in value["BS"]]
                found += 1
    if found == marked:
        return
    for item in items:
        for value in item.values():
            if "M" in value:
                _binaries_to_bytes(value["M"].values())
            elif "L" in value:
                _binaries_to_bytes(value["L"])


def _binaries_to_bytes(values: Iterable[dict[str, Any]]) -> None:
    """Decodes, in place, every base64 ``B``/``BS`` payload in ``values``,
    however deep in ``M`` and ``L``; botocore decodes them the same way."""
    for value in values:
        if "B" in value:
            value["B"] = _b64decode(value["B"])
        elif "M" in value:
            _binaries_to_bytes(value["M"].values())
        elif "L" in value:
            _binaries_to_bytes(value["L"])
        elif "BS" in value:
            value["BS"] = [_b64decode(payload) for payload in value["BS"]]
