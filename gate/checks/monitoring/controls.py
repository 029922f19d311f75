"""The monitoring controls checklist (data in gate/data/monitoring-controls.yaml) and its score.

Each control ends in one status:
- verified (1 point): the configuration files show it;
- declared (half a point): monitoring.yaml claims it, but the release ships nothing that could
  show it (no rule files, no serving manifests, ...), like a manual test in the ML Test Score;
- broken (0): the claim is contradicted by the files (alert missing, disabled, commented out,
  routed nowhere, ...);
- missing (0): not there at all;
- not-applicable: does not apply to this model (not counted).
A section's score is its points over its applicable controls; the overall score is the lowest
section score, as the ML Test Score takes the minimum over its sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import Field, model_validator

from gate.models.base import StrictModel
from gate.risk import Tier
from gate.yamlsafe import load_text

CONTROLS_DATA = "monitoring-controls.yaml"


class Control(StrictModel):
    id: str = Field(pattern=r"^MC-\d{2}$")
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    section: str
    title: str
    required_from: Tier
    applies: Literal["all", "generative"] = "all"
    verified_by: str


class ControlsFile(StrictModel):
    version: Literal[1]
    sections: dict[str, str]
    controls: tuple[Control, ...]

    @model_validator(mode="after")
    def _consistent(self) -> ControlsFile:
        ids = [c.id for c in self.controls]
        names = [c.name for c in self.controls]
        if len(set(ids)) != len(ids) or len(set(names)) != len(names):
            raise ValueError("control ids and names must be unique")
        for c in self.controls:
            if c.section not in self.sections:
                raise ValueError(f"{c.id}: unknown section '{c.section}'")
        return self

    def find(self, key: str) -> Control | None:
        return next((c for c in self.controls if key in (c.id, c.name)), None)


@cache
def checklist() -> ControlsFile:
    text = resources.files("gate").joinpath("data", CONTROLS_DATA).read_text("utf-8")
    return ControlsFile.model_validate(load_text(text, f"gate/data/{CONTROLS_DATA}").data)


class Status(StrEnum):
    VERIFIED = "verified"
    DECLARED = "declared"
    BROKEN = "broken"
    MISSING = "missing"
    NOT_APPLICABLE = "not-applicable"

    @property
    def points(self) -> float:
        return {Status.VERIFIED: 1.0, Status.DECLARED: 0.5}.get(self, 0.0)


@dataclass
class ControlResult:
    control: Control
    status: Status
    reasons: list[str] = field(default_factory=list)
    path: str | None = None
    line: int | None = None
    required: bool = False
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SectionScore:
    name: str
    score: float
    points: float
    possible: int


def score(results: list[ControlResult]) -> tuple[float | None, list[SectionScore]]:
    sections: list[SectionScore] = []
    for name in checklist().sections:
        mine = [r for r in results if r.control.section == name and r.status is not Status.NOT_APPLICABLE]
        if not mine:
            continue
        pts = sum(r.status.points for r in mine)
        sections.append(SectionScore(name, round(pts / len(mine), 3), pts, len(mine)))
    overall = min((s.score for s in sections), default=None)
    return overall, sections


def required_at(control: Control, tier: Tier, extra: tuple[str, ...]) -> bool:
    return control.required_from.rank <= tier.rank or control.id in extra or control.name in extra


def controls_table() -> str:
    """The checklist as a Markdown table (docs/monitoring-and-deployment.md embeds it, tested)."""
    data = checklist()
    rows = [
        "| Id | Name | Control | Section | Required from | Applies to | Verified by |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in data.controls:
        applies = "generative models" if c.applies == "generative" else "all models"
        rows.append(
            f"| {c.id} | `{c.name}` | {c.title} | {c.section} | {c.required_from.value} | {applies} | "
            f"{c.verified_by} |"
        )
    return "\n".join(rows)
