"""``python -m pipeline catch-up``: apply a table's stream to its index.

- ``job``: one catch-up on the reindex spine, from a start time or a bookmark.
- ``command``: the command line's configuration, ``--follow`` and SIGINT.
- ``args``: the command's options (kept light: the CLI imports it on start).
"""
