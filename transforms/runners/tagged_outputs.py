"""Multi-output ``ParDo``\\ s that stay correct where a runner does not keep outputs apart.

A DoFn with tagged outputs derives from :class:`TaggedOutputsDoFn` and emits
them with ``self.tagged(tag, value)`` instead of ``pvalue.TaggedOutput``; main
outputs are yielded as usual. :func:`par_do_with_outputs` applies it:

* where the runner keeps tagged outputs apart, as
  ``ParDo(fn).with_outputs(*tags, main=main)``;
* elsewhere (Beam 2.77's Dask runner hands every output to each consumer) as
  one single-output ``ParDo`` whose tagged values travel wrapped beside the
  main ones, followed by one selecting step per output.

Either way the result maps each output name to its PCollection.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.utils.windowed_value import WindowedValue

from transforms.runners.capabilities import runner_capabilities

__all__ = ["TaggedOutputsDoFn", "par_do_with_outputs"]


class _Tagged(NamedTuple):
    """A tagged value travelling on the main output (never a main value itself)."""

    tag: str
    value: Any


class TaggedOutputsDoFn(beam.DoFn):
    """A DoFn whose tagged outputs are emitted with :meth:`tagged`."""

    tags_inline = False

    def tagged(self, tag: str, value: Any) -> Any:
        """The output for ``value`` on output ``tag``; ``value`` may be a ``WindowedValue``."""
        if not self.tags_inline:
            return pvalue.TaggedOutput(tag, value)
        if isinstance(value, WindowedValue):
            return value.with_value(_Tagged(tag, value.value))
        return _Tagged(tag, value)


def _main_values(value: Any) -> Iterator[Any]:
    if not isinstance(value, _Tagged):
        yield value


def _values_of(value: Any, tag: str) -> Iterator[Any]:
    if isinstance(value, _Tagged) and value.tag == tag:
        yield value.value


def par_do_with_outputs(
    pcoll: beam.PCollection,
    label: str,
    fn: TaggedOutputsDoFn,
    main: str,
    *tags: str,
    inline: bool | None = None,
    main_type: Any = None,
) -> dict[str, beam.PCollection]:
    """``{main: ..., tag: ...}``: the outputs of ``fn`` applied to ``pcoll`` as ``label``.

    ``inline`` forces the single-output shape (True) or ``with_outputs``
    (False); by default the runner's capabilities decide. ``main_type``, if
    given, is the element type of the main output where the outputs are
    apart (it chooses that output's coder).
    """
    if inline is None:
        inline = not runner_capabilities(pcoll.pipeline).tagged_outputs
    if not inline:
        par_do = beam.ParDo(fn)
        if main_type is not None:
            par_do = par_do.with_output_types(main_type)
        outputs = pcoll | label >> par_do.with_outputs(*tags, main=main)
        return {main: outputs[main], **{tag: outputs[tag] for tag in tags}}
    inline_fn = copy.copy(fn)
    inline_fn.tags_inline = True
    mixed = pcoll | label >> beam.ParDo(inline_fn)
    selected = {main: mixed | f"{label}.{main}" >> beam.FlatMap(_main_values)}
    for tag in tags:
        selected[tag] = mixed | f"{label}.{tag}" >> beam.FlatMap(_values_of, tag)
    return selected
