"""One interface for every report format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from gate.models.finding import Rule
from gate.models.report import Report


class Reporter(ABC):
    name: str
    suffix: str  # default file suffix, e.g. ".json"
    # Formats that describe rules (SARIF's rule help; the HTML report's and the summary's
    # waiver lines) take the catalogue from the caller; reporters never import the checks.
    uses_rules: ClassVar[bool] = False

    def __init__(self, *, rules: Sequence[Rule] = ()) -> None:
        # Without a catalogue, a format knows only the rules the report's findings name.
        self.rules: tuple[Rule, ...] = tuple(rules)

    def find_rule(self, code: str) -> Rule | None:
        return next((r for r in self.rules if r.code == code), None)

    @abstractmethod
    def render(self, report: Report, *, color: bool = False) -> str: ...
