"""``Work`` under another name whose module turns botocore's logging up to DEBUG.

Beam workers import a model's module when they unpickle the decoder, so a
reindex with ``--model tests.verbose_models:LoudWork`` logs at DEBUG in every
worker process too: the security tests check that nothing secret gets out.
"""

import logging
from dataclasses import dataclass

from dataclasses_json import LetterCase, dataclass_json

from pipeline.models import Work

for _name in ("botocore", "urllib3"):
    logging.getLogger(_name).setLevel(logging.DEBUG)


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class LoudWork(Work):
    """Exactly ``Work``; only its module differs."""
