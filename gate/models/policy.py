"""Policy files: which checks a tier requires, what blocks, and each check's settings."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gate.models.base import StrictModel
from gate.models.finding import Severity
from gate.risk import Tier


class TrustFile(Enum):
    """Field metadata for a check setting that names a trust file (key, CA, trust root).

    A path is relative to the policy file that sets it; loading the policy
    replaces it by the file's text (PEM, or JSON), so composition through
    `extends:` keeps the right file and the policy's digest pins its content.
    Text given inline (a PEM block, a JSON object) is kept as it is.
    """

    PEM = "pem"
    JSON = "json"


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


PEM_PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----"


class SigstoreIdentity(StrictModel):
    """A Sigstore keyless signer: the certificate's identity (SAN) and the OIDC issuer."""

    identity: str = Field(min_length=1, max_length=500)
    issuer: str = Field(min_length=1, max_length=500)


class Reviewer(StrictModel):
    """Someone whose signature approves a waiver.

    `keys` are PEM public keys, each given as a path relative to the policy file
    that declares it or inline. Loading the policy replaces paths by the keys'
    text, so the composed policy's digest covers the keys themselves.
    """

    id: str = Field(min_length=1, max_length=200, description="Identity, e.g. an e-mail address.")
    keys: tuple[str, ...] = Field((), description="PEM public keys: paths relative to the policy, or inline.")
    sigstore: SigstoreIdentity | None = Field(None, description="Sigstore keyless identity and issuer.")

    @model_validator(mode="after")
    def _has_a_key(self) -> Reviewer:
        if not self.keys and self.sigstore is None:
            raise ValueError("a reviewer needs `keys` or a `sigstore` identity")
        return self


class WaiverSection(StrictModel):
    """Who may waive what, for how long. Every field is optional; see WaiverPolicy for defaults.

    Across `extends:` the stricter side wins, field by field (the `Stricter` marks).
    """

    enabled: Annotated[bool | None, Stricter.ALL_TRUE] = Field(
        None, description="Whether waivers apply at this tier at all."
    )
    reviewers: Annotated[tuple[Reviewer, ...] | None, Stricter.INTERSECTION] = Field(
        None, description="Trusted reviewers: their signatures approve waivers."
    )
    approvers: Annotated[tuple[str, ...] | None, Stricter.INTERSECTION] = Field(
        None, description="Reviewer ids allowed to approve at this tier; unset: every reviewer."
    )
    approvals: Annotated[int | None, Stricter.MAX] = Field(
        None, ge=1, le=20, description="Distinct approvers a waiver needs (N of the M reviewers)."
    )
    max_days: Annotated[dict[Severity, int] | None, Stricter.MIN] = Field(
        None, description="Longest lifetime (expires - created), in days, per finding severity."
    )
    warn_days: Annotated[int | None, Stricter.MAX] = Field(
        None, ge=0, le=3650, description="Warn when an applied waiver expires within this many days."
    )
    distinct_requester: Annotated[bool | None, Stricter.ANY_TRUE] = Field(
        None, description="The requester's own signature never counts as an approval."
    )
    require_ticket: Annotated[bool | None, Stricter.ANY_TRUE] = Field(
        None, description="A waiver must name a ticket."
    )
    unwaivable_rules: Annotated[tuple[str, ...] | None, Stricter.UNION] = Field(
        None, description="Rules no waiver can override: codes, names, or code prefixes ending in '*'."
    )
    sigstore_trust_root: str | None = Field(
        None,
        description="Sigstore trusted_root.json for keyless reviewers (path relative to the policy); "
        "unset: Sigstore's public-good instance. A policy cannot replace its parent's.",
    )

    @field_validator("max_days")
    @classmethod
    def _positive_days(cls, v: dict[Severity, int] | None) -> dict[Severity, int] | None:
        for sev, days in (v or {}).items():
            if not 0 < days <= 3650:
                raise ValueError(f"{sev.value}: days must be between 1 and 3650")
        return v

    @field_validator("reviewers")
    @classmethod
    def _unique_ids(cls, v: tuple[Reviewer, ...] | None) -> tuple[Reviewer, ...] | None:
        ids = [r.id.casefold() for r in v or ()]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"reviewer ids must be unique: {', '.join(dupes)}")
        return v


DEFAULT_MAX_DAYS: dict[Severity, int] = {
    Severity.INFO: 365,
    Severity.LOW: 180,
    Severity.MEDIUM: 90,
    Severity.HIGH: 30,
    Severity.CRITICAL: 7,
}


class WaiverPolicy(StrictModel):
    """The effective waiver settings of one tier. With no reviewers, nothing can be waived."""

    enabled: bool = True
    reviewers: tuple[Reviewer, ...] = ()
    approvers: tuple[str, ...] | None = None
    approvals: int = 1
    max_days: dict[Severity, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_DAYS))
    warn_days: int = 14
    distinct_requester: bool = True
    require_ticket: bool = False
    unwaivable_rules: tuple[str, ...] = ()
    sigstore_trust_root: str | None = None  # the trusted root's JSON text, embedded at load

    @field_validator("max_days")
    @classmethod
    def _fill(cls, v: dict[Severity, int]) -> dict[Severity, int]:
        # A severity the policy leaves out keeps the built-in ceiling, never "unlimited".
        return {**DEFAULT_MAX_DAYS, **v}

    def approving_reviewers(self) -> tuple[Reviewer, ...]:
        if self.approvers is None:
            return self.reviewers
        allowed = {a.casefold() for a in self.approvers}
        return tuple(r for r in self.reviewers if r.id.casefold() in allowed)

    def unwaivable(self, code: str, name: str) -> str | None:
        """The policy entry that makes a rule unwaivable, or None."""
        for entry in self.unwaivable_rules:
            e = entry.strip()
            if e.endswith("*") and code.upper().startswith(e[:-1].upper()):
                return entry
            if e.upper() == code.upper() or e.lower() == name.lower():
                return entry
        return None


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
    fail_closed: Annotated[tuple[str, ...] | None, Stricter.UNION] = Field(
        None,
        description="Optional checks that fail closed: one that cannot complete blocks (exit 3) "
        "as a required check does, instead of a warning.",
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
    waivers: WaiverSection | None = Field(
        None, description="Who may waive findings at this tier, for how long, and what never."
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
    fail_closed: tuple[str, ...] = ()
    block_at: Severity = Severity.HIGH
    warn_at: Severity = Severity.LOW
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    waivers: WaiverPolicy = Field(default_factory=WaiverPolicy)
