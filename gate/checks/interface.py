"""What a check is, what it receives and what it returns.

A check knows nothing about reporting, exit codes, waivers or other checks. It
receives a `CheckContext` and returns a `CheckOutcome`. A check that raises
becomes an `error` result in the engine, which blocks (fail closed). "Not
applicable" is a result (`CheckOutcome.skipped`), not an exception.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from gate.inventory import DigestRequest
from gate.models.base import StrictModel
from gate.models.finding import Finding, Rule, new_finding
from gate.models.manifest import Manifest
from gate.release import Release
from gate.risk import TierResult


class NoConfig(StrictModel):
    """For checks that take no policy settings."""


Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for on the command line that checks may need."""

    offline: bool = False
    baseline: Path | None = None  # previous release's report, for regression checks
    workdir: Path | None = None  # scratch space outside the release for tool outputs
    extra: dict[str, Any] = field(default_factory=dict)  # check-specific options (e.g. shard)
    report_dir: Path | None = None  # where checks put their sidecar files (beside the report, or --rows-dir)
    # How the report names that directory in links: "" when the files lie beside the report file,
    # else the directory's path as given (a report on standard output, or --rows-dir elsewhere).
    sidecar_link: str = ""


@dataclass(frozen=True)
class CheckContext:
    release: Release
    tier: TierResult
    config: Any  # an instance of the check's `Config` model, from the policy
    options: RunOptions
    clock: Clock = utc_now
    policy_dir: Path | None = None  # directory of the policy file, for relative trust roots
    required: bool = False  # the policy requires this check at the release's tier

    @property
    def manifest(self) -> Manifest:
        return self.release.manifest

    @property
    def offline(self) -> bool:
        return self.options.offline


@dataclass
class CheckOutcome:
    """What a check returns: its findings, a one-line summary and optional details."""

    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False  # the check did not apply (e.g. nothing to check); not a pass
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> path of files written beside the report


class Check(ABC):
    """One check. Subclasses set `id`, `title`, `rules` and optionally `Config`."""

    id: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    rules: ClassVar[tuple[Rule, ...]]
    Config: ClassVar[type[StrictModel]] = NoConfig

    def digest_requests(self, manifest: Manifest, root: Path, config: Any) -> list[DigestRequest]:
        """Digests beyond sha256 this check needs; computed in the inventory's single pass."""
        return []

    @abstractmethod
    def run(self, ctx: CheckContext) -> CheckOutcome: ...

    # Helpers so that every check builds findings the same way.
    @classmethod
    def rule(cls, name_or_code: str) -> Rule:
        for r in cls.rules:
            if name_or_code in (r.code, r.name):
                return r
        raise KeyError(f"{cls.id}: no rule {name_or_code}")

    @classmethod
    def finding(
        cls,
        rule: str | Rule,
        title: str,
        *,
        path: str | None = None,
        line: int | None = None,
        detail: str | None = None,
        key: str = "",
        evidence: dict[str, Any] | None = None,
        reproduction: str | None = None,
        mitigation: str | None = None,
        technique: tuple[str, ...] | None = None,
        severity: Any = None,
    ) -> Finding:
        """Build a finding. `key` tells apart several findings of one rule in one file.

        Blocking is decided later by the engine from the policy; checks report
        what they found and how severe it is.
        """
        r = rule if isinstance(rule, Rule) else cls.rule(rule)
        return new_finding(
            r,
            title,
            check=cls.id,
            path=path,
            line=line,
            detail=detail,
            key=key,
            evidence=evidence,
            reproduction=reproduction,
            mitigation=mitigation,
            technique=technique,
            severity=severity,
        )
