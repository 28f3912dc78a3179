"""Fast JSON text of dataclasses-json records, byte-identical to ``to_json()``
with the record's sets in order.

dataclasses-json's ``to_json()`` rebuilds each class's configuration and deep
copies every value on every call. :func:`compile_encoder` reads a class's
configuration once and keeps, per dataclass, a plan of field steps::

    encode = compile_encoder(Work)     # once, e.g. in DoFn.setup()
    text = encode(work)                # == sets_in_order(work).to_json()

Contract
--------
``encode(record) == sets_in_order(record).to_json()`` for every record
``to_json()`` accepts, and the same exception type where it refuses one (e.g.
a ``date`` value, which dataclasses-json cannot encode without a custom
encoder). ``sets_in_order`` only puts each set's elements :func:`in_order`
(sorted): ``to_json()`` writes a set in the order it iterates in, and that
order, for strings and bytes, changes with the process. A record without
sets is written exactly as ``to_json()`` writes it.

How
---
A field step builds the tree ``to_dict(encode_json=False)`` builds, without
its deep copies: a nested dataclass becomes a dict of its own (letter-cased)
keys, mappings become dicts, sets become lists in order, other collections
except ``str``/``bytes``/Enum members become lists; ``config(exclude=...)``
sees that converted value and a custom ``config(encoder=...)`` the raw one,
as in dataclasses-json. Leaves that dataclasses-json's JSON encoder
converts are converted in the tree already (``Decimal`` and ``UUID`` to
strings, ``datetime`` to its ``timestamp()``, ``bytes`` to a list of ints,
plain Enum members to their values), except where the unconverted value
can be observed: what an ``exclude`` predicate sees, and map keys, which
JSON never converts. The standard library's C encoder writes the tree, with
a ``default`` mirroring dataclasses-json's for anything left.

The tree is not built where its text can be written directly: a
:class:`_TextWriter` writes the JSON text of strings, numbers, ``None``,
lists, maps with string keys and the usual dataclasses (generated code, one
join per record) exactly as the C encoder writes them, and hands any other
value to the tree and the C encoder, whose text of a value is the same
whether it stands alone or inside a container. That halves the cost of a
record.

Encoding follows the runtime type of each value, as ``to_json()`` does, so a
value that does not match its annotation is written the same way too.
Undefined.INCLUDE classes write their catch-all entries after their fields.
Encoders registered in dataclasses-json's global config are read when a type
is first seen.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import operator
import threading
from collections.abc import Callable, Collection, Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from enum import Enum
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, get_type_hints
from uuid import UUID

from dataclasses_json import CatchAll, Undefined
from dataclasses_json import cfg as dataclasses_json_cfg

from transforms.decode.codegen import compile_function

__all__ = [
    "compile_encoder",
    "failing_field",
    "fields_with_encoders",
    "in_order",
    "sets_in_order",
]

_SERIAL = itertools.count(1)
_AS_IS = frozenset({str, int, float, bool, type(None)})
_UNSEEN = object()
_SKIP = object()


def _json_default(value: Any) -> Any:
    """The JSON form of a value the C encoder does not know, in the order
    dataclasses-json's encoder tries them."""
    if isinstance(value, Collection):
        return dict(value) if isinstance(value, Mapping) else list(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _enum_value(member: Enum) -> Any:
    value = member.value
    return value if type(value) in _AS_IS else member


_JSON_LEAVES: dict[type, Callable[[Any], Any]] = {
    Decimal: str,
    datetime: datetime.timestamp,
    UUID: str,
    bytes: list,
}


class _TreeBuilder:
    """Turns values into the tree ``to_dict(encode_json=False)`` would give,
    choosing a conversion once per runtime type.

    A ``json_ready`` builder also turns the leaves that ``_json_default``
    would convert (Decimal, datetime, UUID, bytes, Enum members) into their
    JSON form up front; its dataclass steps use the ``faithful`` builder
    where dataclasses-json's own tree is observable: values given to an
    ``exclude`` predicate, and map keys (which JSON never converts).
    """

    def __init__(self, faithful: _TreeBuilder | None = None) -> None:
        self.faithful = faithful or self
        self.by_type: dict[type, Callable[[Any], Any] | None] = dict.fromkeys(_AS_IS)
        self.lock = threading.RLock()
        self.tree = self._make_tree()

    def _make_tree(self) -> Callable[[Any], Any]:
        by_type = self.by_type
        learn = self.learn

        def tree(value):
            convert = by_type.get(type(value), _UNSEEN)
            if convert is _UNSEEN:
                convert = learn(type(value))
            return value if convert is None else convert(value)

        return tree

    def learn(self, cls: type) -> Callable[[Any], Any] | None:
        """The conversion for values of ``cls``; None keeps the value as is."""
        with self.lock:
            if cls in self.by_type:
                return self.by_type[cls]
            if dataclasses.is_dataclass(cls):
                convert = self.dataclass_tree(cls)
            elif issubclass(cls, Mapping):
                convert = self.mapping_tree()
            elif issubclass(cls, AbstractSet):
                convert = self.set_tree()
            elif issubclass(cls, Collection) and not issubclass(cls, (str, bytes, Enum)):
                convert = self.list_tree()
            else:
                convert = dataclasses_json_cfg.global_config.encoders.get(cls)
                if convert is None and self.faithful is not self:
                    convert = self.json_leaf(cls)
            self.by_type[cls] = convert
            return convert

    @staticmethod
    def json_leaf(cls: type) -> Callable[[Any], Any] | None:
        """What ``_json_default`` would make of a leaf of exactly this type."""
        if cls in _JSON_LEAVES:
            return _JSON_LEAVES[cls]
        if issubclass(cls, Enum) and not issubclass(cls, (str, int, float, Collection)):
            return _enum_value
        return None

    def list_tree(self) -> Callable[[Any], list]:
        tree = self.tree

        def list_tree(values):
            return [value if type(value) in _AS_IS else tree(value) for value in values]

        return list_tree

    def set_tree(self) -> Callable[[Any], list]:
        list_tree = self.list_tree()
        return lambda values: list_tree(in_order(values))

    def mapping_tree(self) -> Callable[[Any], dict]:
        tree, key_tree = self.tree, self.faithful.tree

        def mapping_tree(mapping):
            return {
                key if type(key) in _AS_IS else key_tree(key): value
                if type(value) in _AS_IS
                else tree(value)
                for key, value in mapping.items()
            }

        return mapping_tree

    def dataclass_tree(self, cls: type) -> Callable[[Any], dict]:
        steps = _field_steps(cls)
        if _is_plain(cls, steps):
            return _plain_dataclass_tree(steps, self, self.faithful)
        return _general_dataclass_tree(steps, _catch_all_name(cls), self.faithful.tree)


def _field_steps(cls: type) -> list[tuple[str, str, Any, Any]]:
    """``(field name, JSON key, exclude, encoder)`` per field, with options
    merged as dataclasses-json does: global encoders, then the class's
    config, then the field's own metadata."""
    class_config = getattr(cls, "dataclass_json_config", None) or {}
    global_encoders = dataclasses_json_cfg.global_config.encoders
    steps = []
    for spec in dataclasses.fields(cls):
        options = {}
        try:
            if spec.type in global_encoders:
                options["encoder"] = global_encoders[spec.type]
        except TypeError:
            pass
        options.update(class_config)
        options.update(spec.metadata.get("dataclasses_json", {}))
        letter_case = options.get("letter_case")
        key = spec.name if letter_case is None else letter_case(spec.name)
        steps.append((spec.name, key, options.get("exclude"), options.get("encoder")))
    return steps


def failing_field(record: Any) -> str | None:
    """Where writing ``record`` fails: the path of the first value that cannot
    be written on its own (JSON keys, dots between them, ``[i]`` for list
    positions, as dead letters name fields), or None when none is found.

    For the dead letter of a record the encoder refused; each value is tried
    alone (a field's own encoder on the field's value), so it costs what a
    failure may cost."""
    return _failing_in(record, None)


def _failing_in(value: Any, path: str | None) -> str | None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for name, key, exclude, encoder in _field_steps(type(value)):
            inner = getattr(value, name, None)
            where = key if path is None else f"{path}.{key}"
            try:
                if exclude is not None and exclude(inner):
                    continue
                if encoder is not None:
                    _C_ENCODE(encoder(inner))
                    continue
            except Exception:
                return where
            found = _failing_in(inner, where)
            if found is not None:
                return found
        return None
    if isinstance(value, Mapping):
        for key, inner in value.items():
            found = _failing_in(inner, f"{path}.{key}" if path is not None else str(key))
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple, AbstractSet)):
        for index, inner in enumerate(value):
            found = _failing_in(inner, f"{path}[{index}]" if path is not None else f"[{index}]")
            if found is not None:
                return found
        return None
    try:
        global_encoder = dataclasses_json_cfg.global_config.encoders.get(type(value))
        _C_ENCODE(global_encoder(value) if global_encoder is not None else value)
    except Exception:
        return path
    return None


def fields_with_encoders(cls: type) -> set[str]:
    """The fields of ``cls`` written by an encoder of the user's (the field's,
    the class's or a global one for the field's declared type)."""
    return {name for name, _, _, encoder in _field_steps(cls) if encoder is not None}


def _is_plain(cls: type, steps: list) -> bool:
    """True when every field of ``cls`` has a JSON key of its own and none is a catch-all."""
    keys = [key for _, key, _, _ in steps]
    return _catch_all_name(cls) is None and len(set(keys)) == len(keys)


def _catch_all_name(cls: type) -> str | None:
    class_config = getattr(cls, "dataclass_json_config", None) or {}
    if class_config.get("undefined") is not Undefined.INCLUDE:
        return None
    hints = get_type_hints(cls)
    names = [spec.name for spec in dataclasses.fields(cls) if hints.get(spec.name) == CatchAll]
    if len(names) != 1:
        raise TypeError(
            f"{cls.__qualname__} uses Undefined.INCLUDE but has no single CatchAll field"
        )
    return names[0]


def _plain_dataclass_tree(
    steps: list, builder: _TreeBuilder, faithful: _TreeBuilder
) -> Callable[[Any], dict]:
    """The usual case: every field has its own key, no catch-all.

    Generated code: one ``attrgetter`` call reads every field, each value's
    conversion is looked up by its runtime type inline (what ``tree`` does,
    without a call), and the dict is built in one display where no field has
    an ``exclude``. Field names and keys are bound constants, never source text.
    """
    if not steps:
        return lambda record: {}
    constants: dict[str, Any] = {
        "AS_IS": _AS_IS,
        "UNSEEN": _UNSEEN,
        "fields_of": operator.attrgetter(*(name for name, _, _, _ in steps)),
        "convert_of": builder.by_type.get,
        "learn": builder.learn,
        "faithful_convert_of": faithful.by_type.get,
        "faithful_learn": faithful.learn,
    }
    names = [f"v{index}" for index in range(len(steps))]
    body = [f"{', '.join(names)} = fields_of(record)"]  # one name: attrgetter gives the value
    entries: list[tuple[int, str | None]] = []
    for index, (_, key, exclude, encoder) in enumerate(steps):
        value = f"v{index}"
        constants[f"key_{index}"] = key
        if exclude is not None:
            constants[f"exclude_{index}"] = exclude
        if encoder is None:
            prefix = "" if exclude is None else "faithful_"
            body += [
                f"if (kind := type({value})) not in AS_IS:",
                f"    convert = {prefix}convert_of(kind, UNSEEN)",
                "    if convert is UNSEEN:",
                f"        convert = {prefix}learn(kind)",
                "    if convert is not None:",
                f"        {value} = convert({value})",
            ]
            entries.append((index, None if exclude is None else f"exclude_{index}({value})"))
        else:
            constants[f"encoder_{index}"] = encoder
            if exclude is None:
                body.append(f"{value} = encoder_{index}({value})")
                entries.append((index, None))
            else:
                body += [
                    f"if exclude_{index}({value}):",
                    f"    {value} = SKIP",
                    "else:",
                    f"    {value} = encoder_{index}({value})",
                ]
                constants["SKIP"] = _SKIP
                entries.append((index, f"{value} is SKIP"))
    if all(condition is None for _, condition in entries):
        body.append("return {" + ", ".join(f"key_{i}: v{i}" for i, _ in entries) + "}")
    else:
        body.append("out = {}")
        for index, condition in entries:
            if condition is None:
                body.append(f"out[key_{index}] = v{index}")
            else:
                body += [f"if not ({condition}):", f"    out[key_{index}] = v{index}"]
        body.append("return out")
    return _compile_record_function("dataclass_tree", body, constants, "encoder tree")


def _compile_record_function(
    name: str, body: list[str], constants: dict[str, Any], label: str
) -> Callable[[Any], Any]:
    """The generated function ``name(record)`` running ``body``, with ``constants`` bound."""
    source = "\n".join(
        [
            "def make(" + ", ".join(constants) + "):",
            f"    def {name}(record):",
            *("        " + line for line in body),
            f"    return {name}",
            "",
        ]
    )
    return compile_function(source, f"<generated {label} {next(_SERIAL)}>", constants)


def _general_dataclass_tree(
    steps: list, catch_all: str | None, tree: Callable[[Any], Any]
) -> Callable[[Any], dict]:
    """Undefined.INCLUDE classes and classes whose fields share a JSON key:
    the catch-all entries follow the fields, and a shared key is an error
    unless all but one of its fields are excluded."""
    by_name = {name: (key, exclude, encoder) for name, key, exclude, encoder in steps}

    def dataclass_tree(record):
        values = {}
        for name, _, _, encoder in steps:
            value = getattr(record, name)
            values[name] = value if encoder is not None else tree(value)
        if catch_all is not None:
            extra = values.pop(catch_all)
            if isinstance(extra, dict):
                values.update(extra)
        out = {}
        for name, value in values.items():
            step = by_name.get(name)
            if step is None:
                out[name] = value
                continue
            key, exclude, encoder = step
            if exclude is not None and exclude(value):
                continue
            if key in out:
                raise ValueError(
                    f"Multiple fields map to the same JSON key after letter case encoding: {key}"
                )
            out[key] = value if encoder is None else encoder(value)
        return out

    return dataclass_tree


_BUILDER = _TreeBuilder(faithful=_TreeBuilder())
_ENCODERS: dict[type, Callable[[Any], str]] = {}
_C_ENCODE = json.JSONEncoder(default=_json_default).encode


def _float_text(value: float) -> str:
    """The C encoder's text of a float (``allow_nan``: NaN and the infinities as JavaScript)."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _raw_text(value: Any) -> str:
    """``_C_ENCODE(value)``: a custom encoder's output, written as it is (not as a tree)."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if value is None:
        return "null"
    if kind is list and all(type(item) is str for item in value):
        return "[" + ", ".join([_quote(item) for item in value]) + "]"
    return _C_ENCODE(value)


class _TextWriter:
    """The JSON text ``_C_ENCODE`` gives of the tree ``builder`` makes of a value,
    written directly for the usual types and through the tree for the rest;
    one writer per runtime type, chosen once."""

    def __init__(self, builder: _TreeBuilder) -> None:
        self.builder = builder
        self.by_type: dict[type, Callable[[Any], str]] = {
            str: _quote,
            int: int.__repr__,
            float: _float_text,
            bool: lambda value: "true" if value else "false",
            type(None): lambda value: "null",
        }
        self.lock = threading.RLock()
        self.write = self._make_write()
        self.tree_text = self._make_tree_text()

    def _make_write(self) -> Callable[[Any], str]:
        by_type = self.by_type
        learn = self.learn

        def write(value):
            writer = by_type.get(type(value))
            if writer is None:
                writer = learn(type(value))
            return writer(value)

        return write

    def learn(self, cls: type) -> Callable[[Any], str]:
        """The writer of values of ``cls``, in the order ``_TreeBuilder.learn`` decides."""
        with self.lock:
            if cls in self.by_type:
                return self.by_type[cls]
            writer = None
            if dataclasses.is_dataclass(cls):
                writer = self.dataclass_text(cls)
            elif issubclass(cls, Mapping):
                writer = self.mapping_text()
            elif issubclass(cls, AbstractSet):
                writer = self.set_text()
            elif issubclass(cls, Collection) and not issubclass(cls, (str, bytes, Enum)):
                writer = self.list_text()
            elif cls not in dataclasses_json_cfg.global_config.encoders:
                writer = self.leaf_text(cls)
            if writer is None:
                writer = self.tree_text
            self.by_type[cls] = writer
            return writer

    def leaf_text(self, cls: type) -> Callable[[Any], str] | None:
        """The text of the leaves ``_TreeBuilder.json_leaf`` converts to a string,
        a float or a plain value; None (through the tree) for the others."""
        leaf = _TreeBuilder.json_leaf(cls)
        if leaf is str:  # Decimal, UUID
            return lambda value: _quote(str(value))
        if leaf is datetime.timestamp:
            return lambda value: _float_text(value.timestamp())
        if leaf is _enum_value:
            write, tree_text = self.write, self.tree_text

            def enum_text(member):
                value = member.value
                return write(value) if type(value) in _AS_IS else tree_text(member)

            return enum_text
        return None

    def _make_tree_text(self) -> Callable[[Any], str]:
        """The text of a value through the tree and the C encoder."""
        tree = self.builder.tree

        def tree_text(value):
            return _C_ENCODE(tree(value))

        return tree_text

    def list_text(self) -> Callable[[Any], str]:
        write = self.write

        def list_text(values):
            texts = [_quote(value) if type(value) is str else write(value) for value in values]
            return "[" + ", ".join(texts) + "]"

        return list_text

    def set_text(self) -> Callable[[Any], str]:
        list_text = self.list_text()
        return lambda values: list_text(in_order(values))

    def mapping_text(self) -> Callable[[Any], str]:
        write, tree_text = self.write, self.tree_text

        def mapping_text(mapping):
            entries = []
            for key, value in mapping.items():
                if type(key) is not str:  # other keys: the C encoder's rules, or its error
                    return tree_text(mapping)
                entries.append(_quote(key) + ": " + write(value))
            return "{" + ", ".join(entries) + "}"

        return mapping_text

    def dataclass_text(self, cls: type) -> Callable[[Any], str] | None:
        """Generated for a dataclass whose fields have keys of their own, no
        ``exclude`` and no catch-all; None (through the tree) for the others."""
        steps = _field_steps(cls)
        if not _is_plain(cls, steps) or any(exclude is not None for _, _, exclude, _ in steps):
            return None
        if not steps:
            return lambda record: "{}"
        constants: dict[str, Any] = {
            "fields_of": operator.attrgetter(*(name for name, _, _, _ in steps)),
            "quote": _quote,
            "int_text": int.__repr__,
            "write": self.write,
            "list_text": self.learn(list),
            "raw_text": _raw_text,
        }
        names = [f"v{index}" for index in range(len(steps))]
        body = [f"{', '.join(names)} = fields_of(record)"]
        parts = []
        for index, (_, key, _, encoder) in enumerate(steps):
            value = f"v{index}"
            constants[f"key_{index}"] = ("{" if index == 0 else ", ") + _quote(key) + ": "
            if encoder is None:
                body += [
                    f"if (kind := type({value})) is str:",
                    f"    {value} = quote({value})",
                    f"elif {value} is None:",
                    f"    {value} = 'null'",
                    "elif kind is int:",
                    f"    {value} = int_text({value})",
                    "elif kind is list:",
                    f"    {value} = list_text({value})",
                    "else:",
                    f"    {value} = write({value})",
                ]
            else:  # the custom encoder's output goes to the C encoder as it is
                constants[f"encoder_{index}"] = encoder
                body.append(f"{value} = raw_text(encoder_{index}({value}))")
            parts += [f"key_{index}", value]
        body.append("return ''.join((" + ", ".join(parts) + ", '}'))")
        return _compile_record_function("dataclass_text", body, constants, "encoder text")


_WRITER = _TextWriter(_BUILDER)

_NUMBERS = frozenset({int, float, bool, Decimal})


def in_order(values: AbstractSet) -> list:
    """The elements of a set in the order they are written: sorted.

    A set's own order follows its elements' hashes, and the hash of a string
    or of bytes changes with every process, so ``to_json()`` writes the same
    set differently on two workers. Strings, bytes and numbers are sorted by
    value (NaNs last); other elements (Enum members, tuples, dataclasses,
    mixed types) by their ``repr``.
    """
    kinds = {type(value) for value in values}
    try:
        if kinds <= _NUMBERS:
            return sorted(values, key=_number_key)
        if kinds == {str} or kinds == {bytes}:
            return sorted(values)
    except ArithmeticError:  # a signalling Decimal NaN refuses even ==
        pass
    return sorted(values, key=repr)


def _number_key(value: Any) -> tuple[bool, Any]:
    return (True, 0) if value != value else (False, value)


def sets_in_order(value: Any) -> Any:
    """``value`` with each set in it replaced by the list of its elements
    :func:`in_order`, so that ``sets_in_order(record).to_json() == encode(record)``
    in any process.

    Sets are replaced in dataclass fields, lists, tuples and maps; the value of
    a field with a custom ``encoder`` is left as it is, since the encoder gets
    the raw value. Containers without a set are returned as they are; a
    dataclass with one is copied, never changed in place.
    """
    if isinstance(value, (str, bytes, Enum)) or type(value) in _AS_IS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changed = {}
        for name, _, _, encoder in _field_steps(type(value)):
            if encoder is None:
                old = getattr(value, name)
                new = sets_in_order(old)
                if new is not old:
                    changed[name] = new
        if not changed:
            return value
        ordered = copy.copy(value)
        for name, new in changed.items():
            object.__setattr__(ordered, name, new)  # frozen dataclasses too
        return ordered
    if isinstance(value, Mapping):
        entries = {key: sets_in_order(item) for key, item in value.items()}
        return value if all(entries[key] is item for key, item in value.items()) else entries
    if isinstance(value, AbstractSet):
        return [sets_in_order(item) for item in in_order(value)]
    if isinstance(value, Collection):
        items = [sets_in_order(item) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value


def compile_encoder(model: type) -> Callable[[Any], str]:
    """Builds, once per model, the function ``record -> record.to_json()``
    (with its sets in order, see the module's contract).

    The returned function encodes any dataclass value the same way, following
    its runtime type; ``model`` only decides what is prepared up front.
    """
    encoder = _ENCODERS.get(model)
    if encoder is not None:
        return encoder
    if not (isinstance(model, type) and dataclasses.is_dataclass(model)):
        raise TypeError(f"compile_encoder needs a dataclass, got {model!r}")
    if _AS_IS & set(dataclasses_json_cfg.global_config.encoders):
        # a global encoder of str, int, float, bool or None applies to every such
        # value, which the writer passes on as it is: dataclasses-json's own way

        def encode_record(record: Any) -> str:
            return sets_in_order(record).to_json()

        encode_record.__qualname__ = f"encode_{model.__qualname__}"
        return _ENCODERS.setdefault(model, encode_record)
    write = _WRITER.write
    _WRITER.learn(model)

    def encode_record(record: Any) -> str:
        return write(record)

    encode_record.__qualname__ = f"encode_{model.__qualname__}"
    return _ENCODERS.setdefault(model, encode_record)
