"""Beam pipeline options given on the command line, checked before a run.

Beam itself only warns about flags it does not know ("Discarding unparseable
args"), so a typo such as ``--runer`` would silently run on the default
runner. The CLI refuses such flags instead, naming them.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

__all__ = ["BadBeamOption", "check_beam_args"]


class BadBeamOption(ValueError):
    """An option that neither the CLI nor Beam knows, or a bad value."""


class _RaisingParser(_BeamArgumentParser):
    def error(self, message):
        raise BadBeamOption(message)


def _all_option_classes():
    seen = {}
    pending = list(PipelineOptions.__subclasses__())
    while pending:
        cls = pending.pop()
        seen.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
        pending.extend(cls.__subclasses__())
    return seen.values()


CREDENTIAL_OPTIONS = ("--s3_access_key_id", "--s3_secret_access_key", "--s3_session_token")
"""Beam options that would store AWS credentials in the pipeline options, which are
pickled, shipped to workers and shown by runners' UIs: refused."""


def check_beam_args(args: Sequence[str]) -> None:
    """Raises :class:`BadBeamOption` for unknown flags, unparseable values or credentials."""
    secrets = sorted(
        {arg.split("=", 1)[0] for arg in args if arg.split("=", 1)[0] in CREDENTIAL_OPTIONS}
    )
    if secrets:
        raise BadBeamOption(
            f"{', '.join(secrets)}: credentials are never pipeline options (they would be "
            "pickled and shown); use the environment, AWS_PROFILE or a role"
        )
    parser = _RaisingParser(allow_abbrev=False)
    for cls in _all_option_classes():
        try:
            cls._add_argparse_args(parser)
        except Exception:  # an option class whose flags clash is not ours to check
            continue
    _, unknown = parser.parse_known_args(list(args))
    flags = [arg for arg in unknown if arg.startswith("-")]
    if flags or unknown:
        shown = " ".join(flags or unknown)
        raise BadBeamOption(
            f"unknown option(s): {shown} (neither a reindex option nor a Beam pipeline option)"
        )
