"""Policy files: which checks a tier requires, what blocks, and each check's settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gate.models.base import StrictModel
from gate.models.finding import Severity
from gate.models.tier import Tier


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
    """How a policy setting composes across `extends:`. Every setting carries one (a test walks them).

    Put it in a field's metadata: `threshold: Annotated[float, Stricter.MIN] = 0.05`. The parent's
    side is its *effective* value (what it sets, else the built-in default), so the composed
    policy is never looser than the parent's. A field the parent lists in `delegate:` is the
    child's to set, whatever its rule. A field without a mark composes as FIXED.
    """

    MIN = "min"  # lower is stricter (thresholds, lifetimes, size limits)
    MAX = "max"  # higher is stricter (required levels, minimum retention, time a check may take)
    ANY_TRUE = "any-true"  # a requirement switched on anywhere stays on
    ALL_TRUE = "all-true"  # a permission must be granted everywhere
    UNION = "union"  # lists of requirements add up
    INTERSECTION = "intersection"  # lists of permissions narrow
    INTERSECTION_OF_SET = "intersection-of-set"  # permissions narrow across the policies that set them
    SUBSET = "subset"  # whom to trust: a child may drop entries; adding one is an error (exit 2)
    FIXED = "fixed"  # a source of truth, or a choice with no stricter side: a change is an error
    TUNING = "tuning"  # cost or presentation only, never which findings count: the child's value
    BLOCKING = "blocking"  # a rule's `blocking`: true anywhere wins; false only where all say false
    NESTED = "nested"  # a section whose fields compose each by its own rule
    PER_RULE = "per-rule"  # rule overrides compose rule by rule (severity and blocking)
    PER_CHECK = "per-check"  # check settings compose by the rules of each check's Config model
    PER_FILE = "per-file"  # a file's own header (name, extends, ...): not inherited


@dataclass(frozen=True)
class Ordered:
    """Field metadata for a choice among values ordered from loosest to strictest: the stricter wins."""

    values: tuple[str, ...]


# block_at / warn_at: a lower severity catches more.
LOWER_SEVERITY_STRICTER = Ordered(("critical", "high", "medium", "low", "info"))
# A rule's severity: higher is stricter.
HIGHER_SEVERITY_STRICTER = Ordered(("info", "low", "medium", "high", "critical"))
# block_on: blocking on every finding is stricter than blocking on new ones only.
BLOCK_ON_STRICTER = Ordered(("new", "all"))


class RuleOverride(StrictModel):
    severity: Annotated[Severity | None, HIGHER_SEVERITY_STRICTER] = None
    blocking: Annotated[bool | None, Stricter.BLOCKING] = Field(
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

    Across `extends:` the stricter side wins, field by field (the `Stricter` marks); reviewers
    and the Sigstore trust root are sources of truth a child cannot extend or replace.
    """

    enabled: Annotated[bool | None, Stricter.ALL_TRUE] = Field(
        None, description="Whether waivers apply at this tier at all."
    )
    reviewers: Annotated[tuple[Reviewer, ...] | None, Stricter.SUBSET] = Field(
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
    sigstore_trust_root: Annotated[str | None, Stricter.FIXED] = Field(
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
        return unwaivable_entry(self.unwaivable_rules, code, name)


def unwaivable_entry(entries: tuple[str, ...], code: str, name: str) -> str | None:
    """The entry of an `unwaivable_rules` list (codes, names, prefixes ending in '*') that
    names a rule, or None."""
    for entry in entries:
        e = entry.strip()
        if e.endswith("*") and code.upper().startswith(e[:-1].upper()):
            return entry
        if e.upper() == code.upper() or e.lower() == name.lower():
            return entry
    return None


class BaselineSection(StrictModel):
    """Whose signed verdict may serve as a baseline (`check --baseline`). See BaselinePolicy.

    The signers are a source of truth: a child policy may drop one, never add one.
    """

    signers: Annotated[tuple[Reviewer, ...] | None, Stricter.SUBSET] = Field(
        None,
        description="Who signs the gate's verdicts on the base branch (keys or Sigstore identities): "
        "a baseline attestation signed by one of them can decide `block_on: new`.",
    )
    max_age_days: Annotated[int | None, Stricter.MIN] = Field(
        None, ge=1, le=3650, description="Oldest baseline verdict (by its timeVerified) that is trusted."
    )
    sigstore_trust_root: Annotated[str | None, Stricter.FIXED] = Field(
        None,
        description="Sigstore trusted_root.json for keyless signers (path relative to the policy); "
        "unset: Sigstore's public-good instance. A policy cannot replace its parent's.",
    )

    @field_validator("signers")
    @classmethod
    def _unique_ids(cls, v: tuple[Reviewer, ...] | None) -> tuple[Reviewer, ...] | None:
        ids = [r.id.casefold() for r in v or ()]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"signer ids must be unique: {', '.join(dupes)}")
        return v


class BaselinePolicy(StrictModel):
    """The effective baseline settings of one tier. With no signers, no baseline is trusted."""

    signers: tuple[Reviewer, ...] = ()
    max_age_days: int = 30
    sigstore_trust_root: str | None = None  # the trusted root's JSON text, embedded at load


class TierSection(StrictModel):
    """One tier's settings. Every field is optional: `defaults` and `tiers.X` overlay."""

    required: Annotated[tuple[str, ...] | None, Stricter.UNION] = Field(
        None, description="Checks that must run and complete; an error or a skip blocks."
    )
    # A check some policy in the chain requires never becomes optional (see gate.policy_merge).
    optional: Annotated[tuple[str, ...] | None, Stricter.UNION] = Field(
        None, description="Checks that run when they apply; their findings count, a skip does not."
    )
    allow_skip: Annotated[tuple[str, ...] | None, Stricter.INTERSECTION_OF_SET] = Field(
        None, description="Required checks that `--skip` may leave out without blocking."
    )
    fail_closed: Annotated[tuple[str, ...] | None, Stricter.UNION] = Field(
        None,
        description="Optional checks that fail closed: one that cannot complete blocks (exit 3) "
        "as a required check does, instead of a warning.",
    )
    block_at: Annotated[Severity | None, LOWER_SEVERITY_STRICTER] = Field(
        None, description="Findings at or above this severity block (unless a rule says otherwise)."
    )
    warn_at: Annotated[Severity | None, LOWER_SEVERITY_STRICTER] = Field(
        None, description="Non-blocking findings at or above this severity make the verdict 'warn'."
    )
    rules: Annotated[dict[str, RuleOverride] | None, Stricter.PER_RULE] = Field(
        None, description="Per-rule overrides, by code (GATE-XX000) or name."
    )
    checks: Annotated[dict[str, dict[str, Any]] | None, Stricter.PER_CHECK] = Field(
        None, description="Per-check settings, validated by each check's own model."
    )
    waivers: Annotated[WaiverSection | None, Stricter.NESTED] = Field(
        None, description="Who may waive findings at this tier, for how long, and what never."
    )
    block_on: Annotated[Literal["all", "new"] | None, BLOCK_ON_STRICTER] = Field(
        None,
        description="'all': every blocking finding blocks. 'new': with a trusted --baseline, blocking "
        "findings the baseline already had are tracked, not blocking (prohibited practices and "
        "unwaivable rules always block).",
    )
    baseline: Annotated[BaselineSection | None, Stricter.NESTED] = Field(
        None, description="Whose signed verdicts are trusted as baselines, and how old they may be."
    )


class PolicyFile(StrictModel):
    version: Annotated[Literal[1], Stricter.PER_FILE] = 1
    name: Annotated[str, Stricter.PER_FILE]
    description: Annotated[str | None, Stricter.PER_FILE] = None
    extends: Annotated[tuple[str, ...], Stricter.PER_FILE] = Field(
        (), description="Policies this one builds on: packaged names or paths relative to it."
    )
    delegate: Annotated[tuple[str, ...], Stricter.PER_FILE] = Field(
        (),
        description="Settings a policy that extends this one may set as it likes, whatever their rule: "
        "paths within a tier section, e.g. checks.dependencies.osv_url or waivers.reviewers.",
    )
    defaults: Annotated[TierSection, Stricter.PER_FILE] = Field(default_factory=TierSection)
    tiers: Annotated[dict[Tier, TierSection], Stricter.PER_FILE] = Field(default_factory=dict)


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
    block_on: Literal["all", "new"] = "all"
    baseline: BaselinePolicy = Field(default_factory=BaselinePolicy)
