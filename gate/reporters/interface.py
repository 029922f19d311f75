"""One interface for every report format."""

from __future__ import annotations

from abc import ABC, abstractmethod

from gate.models.report import Report


class Reporter(ABC):
    name: str
    suffix: str  # default file suffix, e.g. ".json"

    @abstractmethod
    def render(self, report: Report, *, color: bool = False) -> str: ...
