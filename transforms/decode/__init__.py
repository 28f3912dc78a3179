"""Decoding DynamoDB items into model instances, and records into JSON.

- ``transform``: ``DecodeItems``, the Beam transform with its dead letters.
- ``decoder``: ``compile_decoder``, the strict decoder compiled per model, and
  its contract. It is built by ``compiler`` from one module per type family:
  ``scalars``, ``temporal``, ``containers``, ``enums``, ``unions``, ``plain``
  (``Any`` and custom decoders) and ``models`` (nested dataclasses), on
  ``plans`` (how a type is read) and ``errors`` (``DecodeError`` and its paths);
  ``codegen`` writes each dataclass's decoder as Python source, which
  ``decoder_source(Model)`` shows.
- ``encoder``: ``compile_encoder``, the record-to-JSON encoder.
- ``writable``: ``unwritable_fields``, the fields whose values ``to_json()``
  cannot write, named before a job starts.
- ``model_attributes``: which model fields hold the table's key attributes.
"""

from transforms.decode.decoder import DecodeError, compile_decoder, decoder_source
from transforms.decode.encoder import compile_encoder
from transforms.decode.transform import DecodeItems, DecodeResult
from transforms.decode.writable import check_writable, unwritable_fields

__all__ = [
    "DecodeError",
    "DecodeItems",
    "DecodeResult",
    "check_writable",
    "compile_decoder",
    "compile_encoder",
    "decoder_source",
    "unwritable_fields",
]
