"""The risk tier: EU AI Act floors first, then an explainable, table-driven score."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from gate.errors import ManifestError
from gate.models.base import StrictModel
from gate.models.manifest import Deployment, Manifest, is_placeholder
from gate.models.tier import Factor, TierResult
from gate.models.tier import Tier as Tier  # noqa: PLC0414  (the tier this module scores)
from gate.yamlsafe import YamlDoc, format_path, load_text


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
    other_domains: dict[str, str]
    factors: FactorTables
    generative_tasks: tuple[str, ...]
    other_tasks: tuple[str, ...]
    tiers: dict[Tier, int]

    @property
    def domains(self) -> tuple[str, ...]:
        """Every id deployment.domains may hold."""
        return (*self.prohibited_practices, *self.annex_iii, *self.other_domains)

    @property
    def tasks(self) -> tuple[str, ...]:
        return (*self.generative_tasks, *self.other_tasks)


@cache
def tables() -> RiskTables:
    text = resources.files("gate").joinpath("data", "risk.yaml").read_text("utf-8")
    return RiskTables.model_validate(load_text(text, "gate/data/risk.yaml").data)


@dataclass(frozen=True)
class UnknownId:
    """An id of release.yaml that the tier tables do not know."""

    path: tuple[str | int, ...]  # e.g. ("deployment", "domains", 0)
    kind: str  # "domain" or "task"
    value: str
    suggestions: tuple[str, ...]

    def describe(self, doc: YamlDoc | None = None) -> str:
        line = doc.line_of(self.path) if doc else None
        where = f"{doc.source}:{line}: " if doc and line else f"{doc.source}: " if doc else ""
        text = f"{where}{format_path(self.path)}: unknown {self.kind} {self.value[:80]!r}"
        if self.suggestions:
            text += " (did you mean " + " or ".join(repr(x) for x in self.suggestions) + "?)"
        return text


def _nearest(value: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """The known ids closest to value: by similarity, and any id that contains it or that it contains."""
    norm = value.strip().lower().replace("_", "-").replace(" ", "-")
    close = difflib.get_close_matches(norm, known, n=3, cutoff=0.6)
    within = [k for k in known if len(norm) >= 4 and (norm in k or k in norm)]
    return tuple(dict.fromkeys([*close, *within]))[:3]


def unknown_ids(manifest: Manifest) -> list[UnknownId]:
    """The ids the tier is scored from that the tables do not know (placeholders are left to the
    release-integrity check, which blocks on them)."""
    t = tables()
    out = [
        UnknownId(("deployment", "domains", i), "domain", d, _nearest(d, t.domains))
        for i, d in enumerate(manifest.deployment.domains)
        if d not in t.domains and not is_placeholder(d)
    ]
    task = manifest.model.task
    # The task only counts when `generative` is unset: then an unknown one would silently count
    # as not generative.
    if (
        manifest.model.generative is None
        and task is not None
        and not is_placeholder(task)
        and task not in t.tasks
    ):
        out.append(UnknownId(("model", "task"), "task", task, _nearest(task, t.tasks)))
    return out


def check_ids(manifest: Manifest, doc: YamlDoc | None = None) -> None:
    """Raise ManifestError (exit 2) naming every unknown id, its file and line."""
    unknown = unknown_ids(manifest)
    if not unknown:
        return
    kinds = {u.kind for u in unknown}
    hints = []
    if "domain" in kinds:
        hints.append(
            "deployment.domains takes the ids of gate/data/risk.yaml: "
            "EU AI Act Art. 5 practices, Annex III areas and other domains ('other' when none fits)"
        )
    if "task" in kinds:
        hints.append("use a task id of gate/data/risk.yaml, or say `model.generative: true` or `false`")
    raise ManifestError("; ".join(u.describe(doc) for u in unknown), hint="; ".join(hints) + ".")


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
    # A manifest loaded from a release was checked with its lines already; this catches the rest.
    check_ids(manifest)
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
