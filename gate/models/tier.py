"""The risk tier a release is judged at, and the factors and reasons that set it (gate.risk scores it)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from gate.models.base import StrictModel


class Tier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"
    PROHIBITED = "prohibited"

    @property
    def rank(self) -> int:
        return list(Tier).index(self)


class Factor(StrictModel):
    name: str
    value: str
    points: int


class TierResult(StrictModel):
    level: Tier
    eu_ai_act: str = Field(description="prohibited | high-risk | limited | minimal")
    score: int
    factors: tuple[Factor, ...]
    rationale: tuple[str, ...]
    prohibited_practices: tuple[str, ...] = ()
    annex_iii: tuple[str, ...] = ()
