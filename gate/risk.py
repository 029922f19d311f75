"""The risk tier: EU AI Act floors first, then an explainable, table-driven score."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources

from pydantic import Field

from gate.models.base import StrictModel
from gate.models.manifest import Deployment, Manifest
from gate.yamlsafe import load_text


class Tier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"
    PROHIBITED = "prohibited"

    @property
    def rank(self) -> int:
        return list(Tier).index(self)


class UserScaleBound(StrictModel):
    max: int
    points: int


class UserScaleTable(StrictModel):
    bounds: tuple[UserScaleBound, ...]
    above: int


class FactorTables(StrictModel):
    exposure: dict[str, int]
    data_sensitivity: dict[str, int]
    autonomy: dict[str, int]
    safety_critical: dict[str, int]
    generative: dict[str, int]
    user_scale: UserScaleTable


class RiskTables(StrictModel):
    version: int
    prohibited_practices: dict[str, str]
    annex_iii: dict[str, str]
    factors: FactorTables
    generative_tasks: tuple[str, ...]
    tiers: dict[Tier, int]


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


@cache
def tables() -> RiskTables:
    text = resources.files("gate").joinpath("data", "risk.yaml").read_text("utf-8")
    return RiskTables.model_validate(load_text(text, "gate/data/risk.yaml").data)


def is_generative(manifest: Manifest) -> bool:
    if manifest.model.generative is not None:
        return manifest.model.generative
    return (manifest.model.task or "").lower() in tables().generative_tasks


def _scale_points(users: int, table: UserScaleTable) -> int:
    for bound in table.bounds:
        if users <= bound.max:
            return bound.points
    return table.above


def score(manifest: Manifest) -> TierResult:
    t = tables()
    d: Deployment = manifest.deployment
    gen = is_generative(manifest)
    f = t.factors
    factors = (
        Factor(name="exposure", value=d.exposure.value, points=f.exposure[d.exposure.value]),
        Factor(
            name="data_sensitivity",
            value=d.data_sensitivity.value,
            points=f.data_sensitivity[d.data_sensitivity.value],
        ),
        Factor(name="autonomy", value=d.autonomy.value, points=f.autonomy[d.autonomy.value]),
        Factor(
            name="safety_critical",
            value=str(d.safety_critical).lower(),
            points=f.safety_critical[str(d.safety_critical).lower()],
        ),
        Factor(name="generative", value=str(gen).lower(), points=f.generative[str(gen).lower()]),
        Factor(
            name="user_scale",
            value=str(d.user_scale),
            points=_scale_points(d.user_scale, f.user_scale),
        ),
    )
    total = sum(x.points for x in factors)
    by_score = max((tier for tier, minimum in t.tiers.items() if total >= minimum), key=lambda x: x.rank)
    rationale = [f"factor score {total} → {by_score.value}"]
    prohibited = tuple(x for x in d.domains if x in t.prohibited_practices)
    annex = tuple(x for x in d.domains if x in t.annex_iii)
    level = by_score
    if annex:
        rationale += [f"EU AI Act {t.annex_iii[a]} → at least high" for a in annex]
        if level.rank < Tier.HIGH.rank:
            level = Tier.HIGH
    if prohibited:
        rationale += [f"EU AI Act {t.prohibited_practices[p]} → prohibited" for p in prohibited]
        level = Tier.PROHIBITED
    # Art. 50 puts transparency duties on generative systems ("limited" risk).
    eu = "prohibited" if prohibited else "high-risk" if annex else "limited" if gen else "minimal"
    return TierResult(
        level=level,
        eu_ai_act=eu,
        score=total,
        factors=factors,
        rationale=tuple(rationale),
        prohibited_practices=prohibited,
        annex_iii=annex,
    )
