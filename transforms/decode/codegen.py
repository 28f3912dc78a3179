"""Dataclass decoders generated as Python source, one function per class.

:func:`generated_reader` writes, for the steps of one dataclass
(:class:`~transforms.decode.models.ModelSteps`), the source of a function that
does what :func:`~transforms.decode.models.dataclass_reader` does with its loop
over the steps, unrolled: one block per field, with the field's primary wire
tag, payload function, converter and rule for an absent attribute bound as
constants (for a list, the element loop of
:func:`~transforms.decode.containers.read_list` is written out in the block).
The source is compiled with ``compile()`` and run once to bind the constants.

Nothing from the model is written into the source text: attribute and field
names, tags, messages and functions enter only as the values of parameters
named ``attr_3``, ``name_3``... of the function ``make`` that the source
defines, so any attribute name (quotes, newlines, Unicode) is safe and the
source of a class depends only on the shape of its fields. The source is kept
for debugging (:func:`~transforms.decode.decoder.decoder_source` shows it with
the constants listed), and tracebacks through a generated decoder show its lines.

Contract: for every item, the generated function returns an equal instance or
raises the same :class:`~transforms.decode.errors.DecodeError` (kind, path,
message) as ``dataclass_reader`` with the same steps; tests compare the two
on generated models and malformed items.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import linecache
import types
from collections.abc import Callable, Sequence
from typing import Any

from transforms.decode.containers import RETRY, each
from transforms.decode.errors import DecodeError, malformed, within
from transforms.decode.models import (
    ModelSteps,
    attribute_read,
    catch_all_collector,
    constructor,
    not_a_map,
    refused,
    spelled_twice_check,
    unknown_attribute,
)
from transforms.decode.plans import Item

__all__ = ["GeneratedDecoder", "compile_function", "generated_reader", "listing"]

_SERIAL = itertools.count(1)


class GeneratedDecoder:
    """A generated decoder: the function, its source and the constants bound to it."""

    __slots__ = ("constants", "decode", "model", "source")

    def __init__(
        self,
        decode: Callable[[Item], Any],
        source: str,
        constants: dict[str, Any],
        model: ModelSteps | None = None,
    ):
        self.decode = decode
        self.source = source
        self.constants = constants
        self.model = model

    def listing(self) -> str:
        """The source preceded by comment lines naming the class and giving
        the ``repr`` of each constant, for reading (not compiled)."""
        return listing(self.decode.__qualname__, self.constants, self.source)


def listing(title: str, constants: dict[str, Any], source: str) -> str:
    """Generated ``source`` preceded by comment lines: ``title``, then each
    constant bound to it and its ``repr`` (for reading, not compiled)."""
    lines = [f"# {title}"]
    lines += [f"#   {name} = {_shown(value)}" for name, value in constants.items()]
    return "\n".join(lines) + "\n" + source


def compile_function(source: str, filename: str, constants: dict[str, Any]) -> Callable:
    """``make(**constants)`` of generated ``source`` (a ``def make(...)``),
    with its lines registered under ``filename`` so tracebacks show them."""
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace["make"](**constants)


def _shown(value: Any) -> str:
    if isinstance(value, (str, int, bool, tuple)) or value is None:
        text = repr(value)
    else:
        text = getattr(value, "__qualname__", None) or type(value).__qualname__
    return text if len(text) <= 100 else text[:97] + "..."


def is_required(spec: dataclasses.Field) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def generated_reader(model: ModelSteps) -> GeneratedDecoder:
    """The generated decoder of one dataclass, equivalent to
    ``dataclass_reader(*model)``."""
    cls, steps, known, check_unknown, catch_all, undefined = model
    specs = cls.__dataclass_fields__
    qualname = cls.__qualname__
    is_known = known.__contains__
    constants: dict[str, Any] = {
        "DecodeError": DecodeError,
        "within": within,
        "malformed": malformed,
        "not_a_map": not_a_map,
        "attributes": tuple(step[0] for step in steps),
        "names": tuple(step[1] for step in steps),
        "attribute_read": attribute_read,
        "construct": constructor(cls, undefined),
        "refused": refused,
        "model": qualname,
    }
    arguments = positional_arguments(model)
    body: list[str] = []
    for index, (attr, name, tag, read, convert, on_missing) in enumerate(steps):
        constants.update(
            {
                f"attr_{index}": attr,
                f"name_{index}": name,
                f"tag_{index}": tag,
                f"convert_{index}": convert,
            }
        )
        target = f"kwargs[name_{index}]" if arguments is None else f"value_{index}"
        if index:
            body.append(f"at = {index}")
        spec = specs[name]
        if arguments is not None and not is_required(spec):
            constants[f"default_{index}"] = arguments[name]
            body.append(f"value_{index} = default_{index}")
        body.append(f"wire = get(attr_{index})")
        if is_required(spec):
            constants[f"missing_{index}"] = on_missing
            body += ["if wire is None:", f"    wire = missing_{index}(attrs)"]
            indent = ""
        else:
            if spec.name != attr:
                body += ["if wire is None:", f"    wire = get(name_{index})"]
            body.append("if wire is not None:")
            indent = "    "
        body += [
            f"{indent}payload = wire.get(tag_{index})",
            f"{indent}if payload is None:",
            f"{indent}    {target} = convert_{index}(wire)",
            f"{indent}else:",
            *(indent + "    " + line for line in _payload_lines(index, read, target, constants)),
        ]
        if indent and on_missing.decoded_default is not None:  # only with kwargs
            constants[f"decoded_default_{index}"] = on_missing.decoded_default
            body += ["else:", f"    {target} = decoded_default_{index}()"]
    tail: list[str] = []
    if check_unknown:
        constants.update(
            {
                "all_known": known.issuperset,
                "is_known": is_known,
                "unknown_attribute": unknown_attribute,
            }
        )
        tail += [
            "if not all_known(attrs):",
            "    raise unknown_attribute(attrs, is_known, model)",
        ]
        check_spellings = spelled_twice_check(steps, qualname)
        if check_spellings is not None:
            constants["check_spellings"] = check_spellings
            tail.append("check_spellings(attrs)")
    if catch_all is not None:
        constants["collect_unknown"] = catch_all_collector(catch_all, is_known)
        tail.append("collect_unknown(attrs, kwargs)")
    if arguments is None:
        call = "construct(**kwargs)"
    else:
        call = positional_call(steps, arguments, constants)
    source = _function_source(list(constants), body, tail, call)
    filename = f"<generated decoder {next(_SERIAL)}: {cls.__module__}.{qualname}>"
    decode = compile_function(source, filename, constants)
    decode.__qualname__ = f"decode_{qualname}"
    return GeneratedDecoder(decode, source, constants, model)


def positional_arguments(model: ModelSteps) -> dict[str, Any] | None:
    """``{parameter: its default}`` of the class's ``__init__`` in order, when
    calling it with every argument by position (defaults passed explicitly
    for absent attributes) binds exactly what the step loop's
    ``cls(**kwargs)`` binds; otherwise None, and the generated code builds
    ``kwargs`` too.

    That holds for a plain Python ``__init__`` with positional-or-keyword
    parameters only, one per field step, where every parameter that the item
    may leave unset has a default that is used as it is (not one that a
    field's own decoder turns into the value, see
    :func:`~transforms.decode.models.decoded_default`), called through ``type.__call__`` and
    ``object.__new__``, as for an ordinary dataclass. (The default of a field
    with a ``default_factory`` is dataclasses' own marker, which the
    ``__init__`` replaces by a fresh value, as when the argument is omitted.)
    """
    cls, steps, _, _, catch_all, undefined = model
    init = cls.__init__
    if (
        catch_all is not None
        or any(step[5].decoded_default is not None for step in steps)
        or constructor(cls, undefined) is not cls
        or type(cls).__call__ is not type.__call__
        or cls.__new__ is not object.__new__
        or not isinstance(init, types.FunctionType)
    ):
        return None
    parameters = list(inspect.signature(init, follow_wrapped=False).parameters.values())[1:]
    if any(parameter.kind is not parameter.POSITIONAL_OR_KEYWORD for parameter in parameters):
        return None
    specs = cls.__dataclass_fields__
    read = {step[1]: is_required(specs[step[1]]) for step in steps}
    if set(read) - {parameter.name for parameter in parameters}:
        return None
    for parameter in parameters:
        if parameter.default is parameter.empty and not read.get(parameter.name, False):
            return None
    return {parameter.name: parameter.default for parameter in parameters}


def positional_call(steps: Sequence[tuple], arguments: dict[str, Any], constants: dict) -> str:
    """The source of ``construct(...)`` with every ``__init__`` parameter by
    position: ``value_N`` for the field step ``N`` reads, the parameter's
    own default (bound in ``constants`` as ``unread_N``) for the others."""
    index_of = {step[1]: index for index, step in enumerate(steps)}
    values = []
    for position, (name, default) in enumerate(arguments.items()):
        if name in index_of:
            values.append(f"value_{index_of[name]}")
        else:
            constants[f"unread_{position}"] = default
            values.append(f"unread_{position}")
    return f"construct({', '.join(values)})"


def _payload_lines(
    index: int, read: Callable | None, target: str, constants: dict[str, Any]
) -> list[str]:
    """The lines that set ``target`` from a present ``payload`` of the
    primary tag: the payload itself, ``read(payload)``, or for a list the
    loop of :func:`~transforms.decode.containers.read_list` inlined."""
    if read is None:
        return [f"{target} = payload"]
    element = getattr(read, "element", None)
    if element is None:
        constants[f"read_{index}"] = read
        return [f"{target} = read_{index}(payload)"]
    tag, element_read, element_convert, build = element
    constants.update(
        {
            "RETRY": RETRY,
            "each": each,
            f"item_tag_{index}": tag,
            f"item_convert_{index}": element_convert,
        }
    )
    if element_read is None:
        values = f"[item[item_tag_{index}] for item in payload]"
    else:
        constants[f"item_read_{index}"] = element_read
        values = f"[item_read_{index}(item[item_tag_{index}]) for item in payload]"
    if build is list:
        result = "values"
    else:
        constants[f"build_{index}"] = build
        result = f"build_{index}(values)"
    return [
        "try:",
        f"    values = {values}",
        "except RETRY:",
        f"    values = each(payload, item_convert_{index})",
        f"{target} = {result}",
    ]


def _function_source(parameters: list[str], body: list[str], tail: list[str], call: str) -> str:
    """The text of ``make(parameters) -> decode``; ``body`` reads the fields
    (inside the try block naming the attribute at fault), ``tail`` runs
    after them, and ``call`` constructs the instance."""
    pad = " " * 12
    lines = [
        "def make(" + ", ".join(parameters) + "):",
        "    def decode(attrs):",
        "        try:",
        "            get = attrs.get",
        "        except AttributeError:",
        "            raise not_a_map(attrs) from None",
        "        kwargs = {}",
    ]
    if body:
        lines += [
            "        at = 0",
            "        try:",
            *(pad + line for line in body),
            "        except DecodeError as error:",
            "            within(error, attribute_read(attrs, attributes[at], names[at]))",
            "            raise",
            "        except (TypeError, AttributeError) as error:",
            "            attr = attribute_read(attrs, attributes[at], names[at])",
            "            raise within(malformed(get(attr), error), attr) from error",
        ]
    lines += [" " * 8 + line for line in tail]
    lines += [
        "        try:",
        f"            return {call}",
        "        except DecodeError:",
        "            raise",
        "        except Exception as error:",
        "            raise refused(model, error) from error",
        "    return decode",
        "",
    ]
    return "\n".join(lines)
