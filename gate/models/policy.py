"""Policy files: which checks a tier requires, what blocks, and each check's settings."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import Field

from gate.models.base import StrictModel
from gate.models.finding import Severity
from gate.risk import Tier


class Stricter(Enum):
    """How a check setting composes across `extends:`: the stricter side wins.

    Put it in a field's metadata: `threshold: Annotated[float, Stricter.MIN] = 0.05`.
    Fields without it are simply overridden by the extending policy.
    """

    MIN = "min"  # lower is stricter (thresholds, lifetimes, size limits)
    MAX = "max"  # higher is stricter (required levels, minimum retention)
    ANY_TRUE = "any-true"  # a requirement switched on anywhere stays on
    ALL_TRUE = "all-true"  # a permission must be granted everywhere
    UNION = "union"  # lists of requirements add up
    INTERSECTION = "intersection"  # lists of permissions narrow


class RuleOverride(StrictModel):
    severity: Severity | None = None
    blocking: bool | None = Field(
        None, description="true: always blocks; false: never blocks; unset: by severity."
    )


class TierSection(StrictModel):
    """One tier's settings. Every field is optional: `defaults` and `tiers.X` overlay."""

    required: tuple[str, ...] | None = Field(
        None, description="Checks that must run and complete; an error or a skip blocks."
    )
    optional: tuple[str, ...] | None = Field(
        None, description="Checks that run when they apply; their findings count, a skip does not."
    )
    allow_skip: tuple[str, ...] | None = Field(
        None, description="Required checks that `--skip` may leave out without blocking."
    )
    block_at: Severity | None = Field(
        None, description="Findings at or above this severity block (unless a rule says otherwise)."
    )
    warn_at: Severity | None = Field(
        None, description="Non-blocking findings at or above this severity make the verdict 'warn'."
    )
    rules: dict[str, RuleOverride] | None = Field(
        None, description="Per-rule overrides, by code (GATE-XX000) or name."
    )
    checks: dict[str, dict[str, Any]] | None = Field(
        None, description="Per-check settings, validated by each check's own model."
    )


class PolicyFile(StrictModel):
    version: Literal[1] = 1
    name: str
    description: str | None = None
    extends: tuple[str, ...] = Field(
        (), description="Policies this one builds on: packaged names or paths relative to it."
    )
    defaults: TierSection = Field(default_factory=TierSection)
    tiers: dict[Tier, TierSection] = Field(default_factory=dict)


class TierPolicy(StrictModel):
    """The effective policy for one tier after composition and defaults."""

    tier: Tier
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    allow_skip: tuple[str, ...] = ()
    block_at: Severity = Severity.HIGH
    warn_at: Severity = Severity.LOW
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)
