"""``python -m pipeline``: see :mod:`pipeline.cli`."""

import signal
import sys


def _interrupted_while_starting(signum: int, frame) -> None:
    """SIGINT or SIGTERM before the command line is read: one line, 128 + signal."""
    print(f"error: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
    sys.exit(128 + signum)


for _signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signum, _interrupted_while_starting)

from pipeline.logs import configure_logging  # noqa: E402  (the handlers first)

configure_logging()

from pipeline.cli import main  # noqa: E402  (logging first: Beam logs on import)

sys.exit(main())
