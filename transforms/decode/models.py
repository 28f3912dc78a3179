"""Nested dataclasses: attribute names, missing and unknown attributes, construction.

:func:`model_steps` reads a dataclass once: each init field (and ``InitVar``)
becomes a step with its attribute name (dataclasses-json's ``letter_case``
or ``field_name``), its plan, and what to do when the attribute is absent
(the Python-named attribute, the field's default, or ``MissingField``).
:func:`dataclass_reader` runs the steps in order on an attribute map and
constructs the instance; a failure inside an attribute gets that
attribute's name in its path.

Unknown attributes are ignored, refused (``UnknownField``, for
``forbid_unknown`` or ``Undefined.RAISE``), or collected as plain values into
the class's ``CatchAll`` field (``Undefined.INCLUDE``).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

from dataclasses_json import CatchAll, Undefined

from transforms.decode.errors import DecodeError, describe, malformed, short, type_name, within
from transforms.decode.hints import hints, is_optional, unwrap_new_type
from transforms.decode.plain import custom_plan, plain
from transforms.decode.plans import ABSENT, Item, Plan, converter

__all__ = [
    "ModelSteps",
    "attribute_name",
    "catch_all_collector",
    "constructor",
    "dataclass_reader",
    "field_options",
    "field_step",
    "model_steps",
    "not_a_map",
    "on_missing",
    "refused",
    "spelled_twice_check",
    "unknown_attribute",
]


class ModelSteps(NamedTuple):
    """Everything a decoder of one dataclass needs, read once from the class.

    The fields are :func:`dataclass_reader`'s arguments, in its order.
    """

    cls: type
    steps: tuple[tuple, ...]
    known: frozenset
    check_unknown: bool
    catch_all: tuple[dataclasses.Field, str] | None
    undefined: Any


def model_steps(
    cls: type,
    plan: Callable[..., Plan],
    global_decoders: dict[Any, Callable],
    forbid_unknown: bool,
) -> ModelSteps:
    """Reads a dataclass's fields and configuration; ``plan`` gives each
    field type's plan, ``global_decoders`` are dataclasses-json's global ones.

    Raises one ``TypeError`` naming every field whose type cannot be decoded.
    """
    field_hints = hints(cls)
    refused: list[str] = []
    class_config = getattr(cls, "dataclass_json_config", None) or {}
    undefined = class_config.get("undefined")
    steps = []
    known = set()
    catch_all = None
    field_of_attribute: dict[str, str] = {}
    for spec in dataclasses.fields(cls):
        options = field_options(spec, class_config, global_decoders)
        attr = attribute_name(spec.name, options.get("letter_case"))
        known.update((attr, spec.name))
        other = field_of_attribute.setdefault(attr, spec.name)
        if other != spec.name:
            refused.append(
                f"{cls.__qualname__}: fields {other!r} and {spec.name!r} are both the "
                f"attribute {attr!r}; give one of them another name "
                "(field(metadata=config(field_name=...)))"
            )
        if not spec.init:
            continue
        tp = unwrap_new_type(field_hints[spec.name])
        where = f"{cls.__qualname__}.{spec.name}"
        if undefined is Undefined.INCLUDE and tp == CatchAll:
            catch_all = (spec, attr)
            continue
        decoder = options.get("decoder")
        if decoder is not None:
            nullable = is_optional(tp)
            field_plan = custom_plan(decoder, tp, skip_same_type=True, nullable=nullable)
            default = decoded_default(spec, tp, decoder)
        else:
            try:
                field_plan = plan(tp, where, as_field=True)
            except TypeError as error:
                refused.append(str(error))
                continue
            default = converted_default(spec, tp)
        steps.append(field_step(spec, attr, field_plan, type_name(tp), default))
    for spec in cls.__dataclass_fields__.values():
        hint = field_hints.get(spec.name)
        if isinstance(hint, dataclasses.InitVar):
            attr = attribute_name(spec.name, class_config.get("letter_case"))
            known.update((attr, spec.name))
            where = f"{cls.__qualname__}.{spec.name}"
            field_plan = plan(hint.type, where)
            steps.append(field_step(spec, attr, field_plan, type_name(hint.type)))
    if refused:
        raise TypeError("; ".join(dict.fromkeys(refused)))
    if undefined is Undefined.INCLUDE and catch_all is None:
        raise TypeError(f"{cls.__qualname__} uses Undefined.INCLUDE but has no CatchAll field")
    check_unknown = catch_all is None and (forbid_unknown or undefined is Undefined.RAISE)
    return ModelSteps(cls, tuple(steps), frozenset(known), check_unknown, catch_all, undefined)


def field_options(
    spec: dataclasses.Field, class_config: dict, global_decoders: dict[Any, Callable]
) -> dict[str, Any]:
    """A field's dataclasses-json options as the decoder reads them: a global
    decoder of its declared type, then the class's config, then the field's own."""
    options = {}
    try:
        if spec.type in global_decoders:
            options["decoder"] = global_decoders[spec.type]
    except TypeError:  # an unhashable declared type
        pass
    options.update(class_config)
    options.update(spec.metadata.get("dataclasses_json", {}))
    return options


def attribute_name(name: str, letter_case: Callable[[str], str] | None) -> str:
    return name if letter_case is None else letter_case(name)


def field_step(
    spec: dataclasses.Field,
    attr: str,
    plan: Plan,
    type_name: str,
    decoded_default: Callable[[], Any] | None = None,
) -> tuple:
    """One step of a dataclass decoder: ``(attribute, field name, primary tag,
    its payload function, full converter, what to do when absent)``."""
    tag, read = plan.primary()
    missing = on_missing(spec, attr, type_name, decoded_default)
    return (attr, spec.name, tag, read, converter(plan), missing)


def decoded_default(
    spec: dataclasses.Field,
    tp: Any,
    decoder: Callable[[Any], Any],
    *,
    fits: Callable[[Any], bool] | None = None,
    refusal: tuple[str, str] = ("DecoderFailed", "the field's decoder refused its default DEFAULT"),
) -> Callable[[], Any] | None:
    """For a field with a default: the function giving the value of an absent
    attribute as dataclasses-json's ``from_dict`` does, the default passed
    through ``decoder`` unless it is None or ``fits`` (by default: is of
    exactly the field's type). None where the default is used as it is (so
    decoders keep their fast paths), or for a field without a default; a
    ``default_factory`` is called once here to tell. A default ``decoder``
    refuses makes the item's ``refusal`` (error type, message naming it DEFAULT)."""
    fits = fits or (lambda value: type(value) is tp)
    if spec.default is not dataclasses.MISSING:
        default = spec.default

        def make() -> Any:
            return default

    elif spec.default_factory is not dataclasses.MISSING:
        make = spec.default_factory
    else:
        return None
    sample = make()
    if sample is None or fits(sample):
        return None

    def value() -> Any:
        given = make()
        if given is None or fits(given):
            return given
        try:
            return decoder(given)
        except Exception as error:  # the item is refused, as from_dict would be
            raise DecodeError(
                refusal[0],
                f"{refusal[1].replace('DEFAULT', short(repr(given)))}: "
                f"{type(error).__name__}: {short(str(error))}",
            ) from error

    return value


def converted_default(spec: dataclasses.Field, tp: Any) -> Callable[[], Any] | None:
    """For a field without a decoder of its own whose default is not of its type
    (``price: Decimal = 0``, ``ratio: float = 0``, ``tags: set[str] =
    field(default_factory=list)``): the function giving the default converted
    as ``from_dict`` converts it (``Decimal('0')``, ``0.0``, ``set()``), so that
    a record without the attribute is ``from_dict``'s and its JSON has the
    field's type. None where the default is of the field's type already."""
    target = tp
    if is_optional(tp):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        target = members[0] if len(members) == 1 else tp
    kind = typing.get_origin(target) or target

    def fits(value: Any) -> bool:
        return type(value) is kind or (dataclasses.is_dataclass(kind) and isinstance(value, kind))

    return decoded_default(
        spec,
        tp,
        functools.partial(_as_from_dict_converts, tp),
        fits=fits,
        refusal=("InvalidValue", "the field's default DEFAULT does not convert to its type"),
    )


def _as_from_dict_converts(tp: Any, value: Any) -> Any:
    """``value`` converted to ``tp`` by dataclasses-json's own functions, as its
    ``from_dict`` converts a field's value (``_decode_dataclass``)."""
    from dataclasses_json import core

    if dataclasses.is_dataclass(tp):
        return (
            value if dataclasses.is_dataclass(value) else core._decode_dataclass(tp, value, False)
        )
    if core._is_supported_generic(tp) and tp is not str:
        return core._decode_generic(tp, value, False)
    return core._support_extended_types(tp, value)


def attribute_read(attrs: Item, attr: str, name: str) -> str:
    """The attribute a field's value came from: ``attr``, or the field's Python
    ``name`` where the item holds only that (see :func:`on_missing`), so that a
    failure's path names the item's own attribute."""
    return name if attr not in attrs and name in attrs else attr


def on_missing(
    spec: dataclasses.Field,
    attr: str,
    expected: str,
    decoded_default: Callable[[], Any] | None = None,
) -> Callable[[Item], Any]:
    """What to do when ``attr`` is absent: the Python-named attribute if the
    item has it, else ``ABSENT`` (the dataclass default applies, or with
    ``decoded_default``, kept as the function's ``decoded_default``, the value
    it gives) or MissingField."""
    alias = spec.name if spec.name != attr else None
    required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING

    def on_missing(attrs):
        if alias is not None:
            wire = attrs.get(alias)
            if wire is not None:
                return wire
        if required:
            raise DecodeError(
                "MissingField", f"required attribute is missing (expected {expected})"
            )
        return ABSENT

    on_missing.decoded_default = decoded_default
    return on_missing


def constructor(cls: type, undefined: Any) -> Callable[..., Any]:
    """``**kwargs -> instance``. dataclasses-json wraps ``__init__`` for
    Undefined.EXCLUDE/INCLUDE to sort out unknown keyword arguments; the
    decoder passes only known ones, so it calls the dataclass's own init."""
    init = getattr(cls.__init__, "__wrapped__", None)
    if undefined not in (Undefined.EXCLUDE, Undefined.INCLUDE) or init is None:
        return cls
    new = cls.__new__

    def construct(**kwargs):
        instance = new(cls)
        init(instance, **kwargs)
        return instance

    return construct


def not_a_map(attrs: Any) -> DecodeError:
    """The error for an item (or M payload) that is not a map of attributes."""
    return DecodeError("TypeMismatch", f"expected a map of attributes, got {type(attrs).__name__}")


def unknown_attribute(attrs: Item, is_known: Callable[[str], bool], model: str) -> DecodeError:
    """The error for the first attribute of ``attrs`` that ``is_known`` refuses."""
    name = next(name for name in attrs if not is_known(name))
    return DecodeError("UnknownField", f"attribute is not a field of {model}", name)


def spelled_twice_check(steps: tuple[tuple, ...], model: str) -> Callable[[Item], None] | None:
    """For a model that refuses unknown attributes: a check refusing an item that
    gives a field under its attribute name and its Python name too (``displayTitle``
    and ``display_title``), since the Python-named one would be ignored. None when
    no field has two names."""
    attributes = {step[0] for step in steps}
    pairs = tuple(
        (attr, name) for attr, name, *_ in steps if attr != name and name not in attributes
    )
    if not pairs:
        return None

    def check(attrs: Item) -> None:
        for attr, name in pairs:
            if name in attrs and attr in attrs:
                raise DecodeError(
                    "UnknownField",
                    f"attribute is the field's Python name, given besides its attribute "
                    f"{attr!r} of {model}: it would be ignored",
                    name,
                )

    return check


def refused(model: str, error: Exception) -> DecodeError:
    """The error for a constructor (or ``__post_init__``) refusing the values: by any
    exception (an ``assert``, a ``KeyError``, a class of the model's own), which is
    named unless it is the usual ``ValueError`` or ``TypeError``."""
    reason = str(error)
    if type(error) not in (ValueError, TypeError):
        reason = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
    return DecodeError("InvalidValue", f"{model} refused the values: {short(reason)}")


def catch_all_collector(
    catch_all: tuple[dataclasses.Field, str], is_known: Callable[[str], bool]
) -> Callable[[Item, dict], None]:
    """The function ``(attrs, kwargs)`` that puts the plain values of the
    unknown attributes (and of the catch-all attribute itself) into the
    catch-all field's keyword argument."""

    def collect_unknown(attrs, kwargs):
        spec, attr = catch_all
        unknown = {}
        for name, wire in attrs.items():
            if not is_known(name):
                try:
                    unknown[name] = plain(wire)
                except DecodeError as error:
                    within(error, name)
                    raise
        given = attrs.get(attr, attrs.get(spec.name))
        if given is not None:
            try:
                value = plain(given)
            except DecodeError as error:
                within(error, attr)
                raise
            if not isinstance(value, dict):
                raise DecodeError(
                    "TypeMismatch",
                    f"expected M for the catch-all field, got {describe(given)}",
                    attr,
                )
            value.update(unknown)
        elif unknown:
            value = unknown
        elif spec.default is not dataclasses.MISSING:
            value = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            value = spec.default_factory()
        else:
            value = {}
        kwargs[spec.name] = value

    return collect_unknown


def dataclass_reader(
    cls: type,
    plan: tuple[tuple, ...],
    known: frozenset,
    check_unknown: bool,
    catch_all: tuple[dataclasses.Field, str] | None,
    undefined: Any,
) -> Callable[[Item], Any]:
    """The function attribute map -> instance, running the field steps in order."""
    construct = constructor(cls, undefined)
    is_known = known.__contains__
    all_known = known.issuperset
    model = cls.__qualname__
    collect_unknown = None if catch_all is None else catch_all_collector(catch_all, is_known)
    check_spellings = spelled_twice_check(plan, model) if check_unknown else None

    def decode(attrs):
        try:
            get = attrs.get
        except AttributeError:
            raise not_a_map(attrs) from None
        kwargs = {}
        attr = name = None
        try:
            for attr, name, tag, read, convert, on_missing in plan:
                wire = get(attr)
                if wire is None:
                    wire = on_missing(attrs)
                    if wire is ABSENT:
                        if on_missing.decoded_default is not None:
                            kwargs[name] = on_missing.decoded_default()
                        continue
                payload = wire.get(tag)
                if payload is None:
                    kwargs[name] = convert(wire)
                elif read is None:
                    kwargs[name] = payload
                else:
                    kwargs[name] = read(payload)
        except DecodeError as error:
            within(error, attribute_read(attrs, attr, name))
            raise
        except (TypeError, AttributeError) as error:
            attr = attribute_read(attrs, attr, name)
            raise within(malformed(get(attr), error), attr) from error
        if check_unknown and not all_known(attrs):
            raise unknown_attribute(attrs, is_known, model)
        if check_spellings is not None:
            check_spellings(attrs)
        if collect_unknown is not None:
            collect_unknown(attrs, kwargs)
        try:
            return construct(**kwargs)
        except DecodeError:
            raise
        except Exception as error:
            raise refused(model, error) from error

    decode.__qualname__ = f"decode_{model}"
    return decode
