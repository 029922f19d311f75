"""The report: one result object that every reporter renders."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity
from gate.models.text import unsurrogate_deep
from gate.models.tier import Factor, Tier

REPORT_SCHEMA = "https://model-gate.dev/schemas/report/v1"


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    SKIPPED = "skipped"
    ERROR = "error"


class ReleaseInfo(StrictModel):
    name: str
    version: str
    digest: str
    path: str
    files: int
    bytes: int


class TierInfo(StrictModel):
    level: Tier
    eu_ai_act: str
    score: int
    factors: tuple[Factor, ...]
    rationale: tuple[str, ...]


class PolicyInfo(StrictModel):
    name: str
    source: str
    sha256: str
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "the pull request changed the policy; judged with the protected one"
    # The tier's `waivers.unwaivable_rules`: reports offer a `waiver new` line only where one can work.
    unwaivable_rules: tuple[str, ...] = ()


class CheckResult(StrictModel):
    id: str
    title: str
    status: CheckStatus
    required: bool
    duration_s: float
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        # Summaries and details quote file names, which may be bytes that are not UTF-8.
        return unsurrogate_deep(data) if isinstance(data, dict) else data


class WaiverStatus(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    UNUSED = "unused"


class WaiverOutcome(StrictModel):
    path: str
    id: str | None = None
    status: WaiverStatus
    reason: str
    findings: tuple[str, ...] = ()
    expires: str | None = None
    expiring_soon: bool = False
    rule: str | None = None
    justification: str | None = None
    requester: str | None = None
    approvers: tuple[str, ...] = ()  # verified signers who counted toward the approvals
    sha256: tuple[str, ...] = ()  # digests of the waiver file(s), as the attestation lists them


class FixedFinding(StrictModel):
    """A finding the baseline had that this run no longer has."""

    id: str
    rule: str
    severity: Severity | None = None
    title: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        return unsurrogate_deep(data) if isinstance(data, dict) else data


class BaselineInfo(StrictModel):
    """The baseline a run was compared with (`check --baseline`), and what it decided."""

    source: str
    kind: Literal["attestation", "report"]
    release: str = Field(description="The release name the baseline judged (its release line).")
    generated_at: str | None = None
    trusted: bool = Field(
        description="Signed by a baseline signer the policy trusts, for this release line, fresh."
    )
    signer: str | None = None
    reasons: tuple[str, ...] = Field((), description="Why the baseline is not trusted.")
    block_on: Literal["all", "new"] = "all"
    honoured: bool = Field(
        False, description="block_on: new applied: unchanged blocking findings are tracked, not blocking."
    )
    new: int = 0
    unchanged: int = 0
    fixed: tuple[FixedFinding, ...] = ()
    tracked: tuple[str, ...] = Field(
        (), description="Unchanged findings that would block but do not (block_on: new)."
    )

    def describe(self) -> str:
        """One line on what the baseline decided, for every report format (escape it to print)."""
        head = f"{self.source}: {self.new} new, {self.unchanged} unchanged, {len(self.fixed)} fixed"
        if self.honoured:
            return head + f"; block_on: new: {len(self.tracked)} unchanged blocking finding(s) tracked"
        if self.trusted:
            return head + " (trusted; the policy blocks on every finding)"
        why = "; ".join(self.reasons) or "not trusted"
        if self.block_on == "new":
            return head + f"; not trusted, so every blocking finding blocks: {why}"
        return head + f"; informational: {why}"

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        return unsurrogate_deep(data) if isinstance(data, dict) else data


class Report(StrictModel):
    schema_: str = Field(REPORT_SCHEMA, alias="schema")
    gate_version: str
    generated_at: str
    verdict: Verdict
    exit_code: int
    release: ReleaseInfo
    tier: TierInfo
    policy: PolicyInfo
    checks: tuple[CheckResult, ...]
    findings: tuple[Finding, ...]
    waivers: tuple[WaiverOutcome, ...] = ()
    artifacts: dict[str, str] = Field(
        default_factory=dict, description="Files written alongside the report (sbom, attestation)."
    )
    partial: bool = Field(
        False,
        description="Checks the policy runs at this tier were left out (--only): the verdict "
        "speaks for the checks that ran only, and can never be attested or admitted.",
    )
    left_out: tuple[str, ...] = Field((), description="The checks a partial run left out.")
    baseline: BaselineInfo | None = Field(None, description="The baseline this run was compared with.")

    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.effective_blocking]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in reversed(list(Severity))}
        for f in self.findings:
            out[f.severity.value] += 1
        return out
