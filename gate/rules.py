"""Rules the engine itself raises, about how checks ran rather than what they found."""

from __future__ import annotations

from gate.models.finding import Rule, Severity

REQUIRED_CHECK_SKIPPED = Rule(
    code="GATE-GA001",
    name="required-check-skipped",
    check="gate",
    severity=Severity.HIGH,
    summary="A check that the policy requires at this tier did not run.",
    why="A gate that silently drops a required check passes releases nobody reviewed. "
    "Leaving a check out with --skip or --only, or a check finding nothing to check, "
    "must be a decision the policy records, not an accident of the command line.",
    example="`model-gate check ./release --skip model-signature` under a policy that "
    "requires model-signature at the release's tier.",
    fix="Run the check, or list it under `allow_skip` for this tier in the policy "
    "(reviewed like any other policy change).",
    waivable=False,
)

ENGINE_RULES: tuple[Rule, ...] = (REQUIRED_CHECK_SKIPPED,)
