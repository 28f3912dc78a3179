"""transforms.decode.decoder after its split by type family: the names it
defined stay importable from it, and are the objects of their new modules."""

import importlib

import pytest

import transforms.decode.decoder as decoder
from transforms.decode import errors


def test_public_names():
    from transforms.decode.decoder import DecodeError, compile_decoder

    assert DecodeError is errors.DecodeError
    assert callable(compile_decoder)
    assert decoder.__all__ == ["DecodeError", "compile_decoder", "decoder_source"]


@pytest.mark.parametrize("name", sorted(decoder._MOVED))
def test_moved_name_is_importable_from_the_decoder(name):
    module, attribute = decoder._MOVED[name]
    home = importlib.import_module(f"transforms.decode.{module}")
    assert getattr(decoder, name) is getattr(home, attribute)
    namespace = {}
    exec(f"from transforms.decode.decoder import {name}", namespace)
    assert namespace[name] is getattr(home, attribute)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        decoder.no_such_name  # noqa: B018
