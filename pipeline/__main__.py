"""``python -m pipeline``: see :mod:`pipeline.cli`."""

import sys

from pipeline.logs import configure_logging

configure_logging()

from pipeline.cli import main  # noqa: E402  (logging first: Beam logs on import)

sys.exit(main())
