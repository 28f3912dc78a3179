"""Re-reading given keys from a table, as a source of the reindex spine.

::

    source = KeysSource(keys, "works", ("id",), client_config)

Modules: :mod:`.reread` (strongly consistent ``BatchGetItem``),
:mod:`.source` (the keys as a source). The catch-up
(:mod:`transforms.dynamodb.stream`) re-reads the keys a stream says
changed; ``replay --reread`` the keys of dead letters.
"""

from transforms.dynamodb.keys.reread import Reread, RereadIncomplete, reread_keys
from transforms.dynamodb.keys.source import KeysSource, ReReadKeys, ReReadResult

__all__ = ["KeysSource", "ReReadKeys", "ReReadResult", "Reread", "RereadIncomplete", "reread_keys"]
