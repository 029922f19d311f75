"""Findings, rules and check results: the units every report speaks about."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from gate.models.base import StrictModel
from gate.models.text import unsurrogate, unsurrogate_deep


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]

RULE_CODE = re.compile(r"^GATE-[A-Z]{2}\d{3}$")
RULE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Rule(StrictModel):
    """A rule and its documentation, declared in code next to the check that raises it.

    `model-gate explain`, the README's rule table and SARIF rule help are all
    generated from these fields.
    """

    code: str
    name: str
    check: str
    severity: Severity
    summary: str  # one line: what the rule finds
    why: str  # why it matters
    example: str  # what a violating release looks like
    fix: str  # how to fix it
    technique: tuple[str, ...] = ()  # OWASP LLM Top 10 2025 (LLM01..), MITRE ATLAS (AML.T....)
    waivable: bool = True
    always_blocks: bool = False  # no policy setting can make it non-blocking

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not RULE_CODE.match(v):
            raise ValueError("rule code must look like GATE-XX000")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not RULE_NAME.match(v):
            raise ValueError("rule name must be kebab-case")
        return v


class RuleRef(StrictModel):
    code: str
    name: str


class Location(StrictModel):
    path: str | None = None  # relative to the release root, POSIX separators
    line: int | None = None
    detail: str | None = None  # e.g. byte offset, JSON pointer, probe name

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        return unsurrogate_deep(data) if isinstance(data, dict) else data


class AppliedWaiver(StrictModel):
    """A waiver as it appears on a finding it was applied to."""

    id: str
    reason: str
    justification: str
    approvers: tuple[str, ...]
    expires: str
    ticket: str | None = None
    requester: str | None = None
    created: str | None = None
    controls: tuple[str, ...] = ()  # compensating controls the approvers relied on
    path: str | None = None  # the waiver file(s)
    expiring_soon: bool = False


class Finding(StrictModel):
    id: str  # stable fingerprint: same problem, same file → same id across runs
    check: str
    rule: RuleRef
    severity: Severity
    blocking: bool
    title: str
    location: Location = Field(default_factory=Location)
    technique: tuple[str, ...] = ()
    evidence: dict[str, Any] = Field(default_factory=dict)
    reproduction: str | None = None
    mitigation: str | None = None
    waiver: AppliedWaiver | None = None
    # Set when the run was given a baseline: whether a previous verdict already had this finding.
    baseline: Literal["new", "unchanged"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        # A file name that is not UTF-8 reaches checks as surrogate escapes: it is reported
        # as its bytes (`\xff`), so that every report can be written.
        return unsurrogate_deep(data) if isinstance(data, dict) else data

    @property
    def effective_blocking(self) -> bool:
        return self.blocking and self.waiver is None


def fingerprint(rule_code: str, path: str | None, key: str = "") -> str:
    """The stable finding id: rule + location + a discriminator chosen by the check.

    The discriminator must not contain anything that changes between runs
    (timestamps, temporary paths): the id is what waivers are bound to.
    """
    text = unsurrogate(f"{rule_code}\x00{path or ''}\x00{key}")
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{rule_code}-{h[:16]}"


def new_finding(
    rule: Rule,
    title: str,
    *,
    check: str | None = None,
    path: str | None = None,
    line: int | None = None,
    detail: str | None = None,
    key: str = "",
    evidence: dict[str, Any] | None = None,
    reproduction: str | None = None,
    mitigation: str | None = None,
    technique: tuple[str, ...] | None = None,
    severity: Severity | None = None,
) -> Finding:
    """Build a finding for a rule. Blocking is decided later by the engine from the policy."""
    return Finding(
        id=fingerprint(rule.code, path, key or detail or ""),
        check=check or rule.check,
        rule=RuleRef(code=rule.code, name=rule.name),
        severity=severity or rule.severity,
        blocking=False,
        title=title,
        location=Location(path=path, line=line, detail=detail),
        technique=technique if technique is not None else rule.technique,
        evidence=evidence or {},
        reproduction=reproduction,
        mitigation=mitigation or rule.fix,
    )


class RuleMaker(Protocol):
    def __call__(
        self,
        code: str,
        name: str,
        severity: Severity,
        summary: str,
        why: str,
        example: str,
        fix: str,
        **kw: Any,
    ) -> Rule: ...


def rule_maker(check: str, technique: tuple[str, ...] = ()) -> RuleMaker:
    """A `Rule` constructor bound to one check (and its usual techniques), so rule tables read as data."""

    def make(
        code: str,
        name: str,
        severity: Severity,
        summary: str,
        why: str,
        example: str,
        fix: str,
        **kw: Any,
    ) -> Rule:
        return Rule(
            code=code,
            name=name,
            check=check,
            severity=severity,
            summary=summary,
            why=why,
            example=example,
            fix=fix,
            technique=kw.pop("technique", technique),
            **kw,
        )

    return make
