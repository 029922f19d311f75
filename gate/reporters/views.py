"""What the HTML report and the Markdown summary both show, read from a report once.

The counts matrix, the attack success rate per category, the tier scorecard and the
monitoring controls live in check details (plain JSON a report read back from a file may
shape in any way): these readers accept only the types they expect and leave the rest out.
Values stay raw text here; each format escapes them for itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.models.finding import Severity
from gate.models.report import Report, Verdict
from gate.models.tier import Tier

SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
VERDICT_TEXT = {
    Verdict.PASS: "passed",
    Verdict.WARN: "passed with warnings",
    Verdict.FAIL: "blocked by policy",
    Verdict.ERROR: "a check could not complete (fail closed)",
}
CONTROL_OK = {"verified", "not-applicable", "not_applicable"}


def details(report: Report, check_id: str) -> dict[str, Any]:
    for c in report.checks:
        if c.id == check_id:
            return c.details
    return {}


def strings(v: Any) -> list[str]:
    """A list of notes from report details; anything else is shown whole, not iterated."""
    if isinstance(v, list | tuple):
        return [str(x) for x in v]
    return [] if v is None else [str(v)]


def num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


# Findings by check and severity -------------------------------------------------------------


@dataclass(frozen=True)
class CountMatrix:
    checks: list[str]  # the run's checks in order, then checks only findings name
    counts: dict[tuple[str, Severity], int]
    blocking: dict[str, int]

    def count(self, check: str, severity: Severity) -> int:
        return self.counts.get((check, severity), 0)

    def total(self, severity: Severity) -> int:
        return sum(self.count(c, severity) for c in self.checks)


def count_matrix(r: Report) -> CountMatrix:
    checks = [c.id for c in r.checks]
    checks += sorted({f.check for f in r.findings} - set(checks))
    counts: dict[tuple[str, Severity], int] = {}
    blocking: dict[str, int] = {}
    for f in r.findings:
        counts[(f.check, f.severity)] = counts.get((f.check, f.severity), 0) + 1
        if f.effective_blocking:
            blocking[f.check] = blocking.get(f.check, 0) + 1
    return CountMatrix(checks, counts, blocking)


# Attack success rate per category -----------------------------------------------------------


@dataclass(frozen=True)
class AsrCategory:
    raw: dict[str, Any]  # the category as the adversarial check recorded it
    asr: float
    low: float | None
    high: float | None
    threshold: float | None
    baseline: float | None
    delta: float | None

    @property
    def over(self) -> bool:
        """Over the limit, or regressed against the baseline: what blocks."""
        return bool(self.raw.get("over_threshold")) or bool(self.raw.get("regression"))

    @property
    def near(self) -> bool:
        """The interval reaches the limit."""
        return self.threshold is not None and self.high is not None and self.high >= self.threshold

    @property
    def state(self) -> str:
        if self.raw.get("over_threshold"):
            return "over"
        return "regressed" if self.over else "ok"


def asr_categories(r: Report) -> list[AsrCategory]:
    cats = details(r, "adversarial").get("categories")
    if not isinstance(cats, list):
        return []
    return [
        AsrCategory(
            raw=c,
            asr=num(c.get("asr")) or 0.0,
            low=num(c.get("ci_low")),
            high=num(c.get("ci_high")),
            threshold=num(c.get("threshold")),
            baseline=num(c.get("baseline_asr")),
            delta=num(c.get("delta")),
        )
        for c in cats
        if isinstance(c, dict)
    ]


# The tier scorecard -------------------------------------------------------------------------


@dataclass(frozen=True)
class TierScorecard:
    minimums: list[tuple[Tier, int]]  # each tier's lowest score, ascending
    by_score: Tier  # the tier the score alone reaches
    floor: Tier | None  # the EU AI Act category's floor, if it has one
    floor_at: int | None  # the lowest score of the floor's tier (high), for a chart mark

    def floor_text(self, eu_ai_act: str) -> str:
        if self.floor:
            return (
                f"EU AI Act: {eu_ai_act}; its floor is {self.floor.value}, so the tier is at least "
                f"{self.floor.value}"
            )
        return f"EU AI Act: {eu_ai_act}; no floor above the score"


def tier_scorecard(r: Report) -> TierScorecard:
    from gate.risk import tables

    t = r.tier
    minimums = sorted(tables().tiers.items(), key=lambda kv: kv[1])
    by_score = max((tier for tier, m in minimums if t.score >= m), key=lambda x: x.rank)
    floor = {"prohibited": Tier.PROHIBITED, "high-risk": Tier.HIGH}.get(t.eu_ai_act)
    floor_at = tables().tiers[Tier.HIGH] if floor is Tier.HIGH else None
    return TierScorecard(minimums, by_score, floor, floor_at)


# Monitoring controls ------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    id: str
    name: Any
    section: Any
    required: bool
    status: str
    notes: list[str]

    @property
    def mark(self) -> str:
        """yes (verified or not applicable), part (declared, not verified) or no."""
        if self.status in CONTROL_OK:
            return "yes"
        return "part" if self.status == "declared" else "no"


def controls(r: Report) -> list[Control]:
    found = details(r, "monitoring").get("controls")
    if not isinstance(found, dict):
        return []
    return [
        Control(
            id=str(cid),
            name=c.get("name"),
            section=c.get("section"),
            required=bool(c.get("required")),
            status=str(c.get("status", "")),
            notes=[n for k in ("reasons", "evidence") for n in strings(c.get(k))],
        )
        for cid, c in found.items()
        if isinstance(c, dict)
    ]


def monitoring_score(r: Report) -> float | None:
    return num(details(r, "monitoring").get("score"))
