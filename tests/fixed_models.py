"""A "fixed" model for replay tests: ``Work`` whose title may be null."""

from dataclasses import dataclass

from dataclasses_json import LetterCase, dataclass_json

from pipeline.models import Work


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclass
class WorkWithOptionalTitle(Work):
    title: str | None
