"""Decoding DynamoDB items into model instances, and records into JSON.

- ``transform``: ``DecodeItems``, the Beam transform with its dead letters.
- ``decoder``: ``compile_decoder``, the strict decoder compiled per model.
- ``encoder``: ``compile_encoder``, the record-to-JSON encoder.
- ``model_attributes``: which model fields hold the table's key attributes.
"""

from transforms.decode.decoder import DecodeError, compile_decoder
from transforms.decode.encoder import compile_encoder
from transforms.decode.transform import DecodeItems, DecodeResult

__all__ = ["DecodeError", "DecodeItems", "DecodeResult", "compile_decoder", "compile_encoder"]
