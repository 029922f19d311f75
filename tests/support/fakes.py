"""Fake checks for engine tests, registered into CHECKS by the tests that use them."""

from __future__ import annotations

from typing import Annotated

from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.models.base import StrictModel
from gate.models.finding import Rule, Severity
from gate.models.policy import Stricter

RULE = Rule(
    code="GATE-ZZ001",
    name="fake-problem",
    check="fake-findings",
    severity=Severity.MEDIUM,
    summary="s",
    why="w",
    example="e",
    fix="f",
)


class FakeConfig(StrictModel):
    threshold: Annotated[float, Stricter.MIN] = 0.5
    allowed: Annotated[tuple[str, ...], Stricter.INTERSECTION] = ()
    label: Annotated[str, Stricter.TUNING] = "x"  # presentation only


class RaisingCheck(Check):
    id = "fake-raise"
    title = "Raises"
    description = "Always raises."
    rules = ()

    def run(self, ctx: CheckContext) -> CheckOutcome:
        raise RuntimeError("boom")


class FindingsCheck(Check):
    id = "fake-findings"
    title = "Findings"
    description = "Reports one medium finding per model file."
    rules = (RULE,)
    Config = FakeConfig

    def run(self, ctx: CheckContext) -> CheckOutcome:
        files = ctx.release.inventory.under(ctx.manifest.model.path)
        return CheckOutcome(
            findings=[self.finding("fake-problem", f"problem in {e.path}", path=e.path) for e in files],
            summary=f"threshold {ctx.config.threshold}",
        )


class SkippingCheck(Check):
    id = "fake-skip"
    title = "Skips"
    description = "Never applies."
    rules = ()

    def run(self, ctx: CheckContext) -> CheckOutcome:
        return CheckOutcome(skipped=True, summary="nothing to check")
