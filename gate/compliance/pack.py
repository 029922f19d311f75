"""The evidence pack of one release: a report read against every framework mapping.

Outcomes per requirement, strongest first:
- `failed`: a finding mapped to it blocks the release;
- `accepted-risk`: a finding mapped to it was waived (reviewers and expiry are listed);
- `not-assessed`: a check it relies on did not run or could not complete, or a report field is absent;
- `evidenced`: the checks ran and nothing mapped to it blocks (within the mapping's stated limits);
- `human-process`: the requirement is met by people, not by the gate.

The pack never claims compliance: `evidenced` with coverage `partial` still leaves work to people.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from gate.compliance.mapping import Coverage, Framework, Requirement, frameworks, resolve_field
from gate.errors import InputError
from gate.models.base import StrictModel
from gate.models.finding import Finding
from gate.models.report import CheckStatus, Report
from gate.saferead import read_bounded

PACK_SCHEMA = "https://model-gate.dev/schemas/evidence-pack/v1"
MAX_REPORT_BYTES = 64 * 1024 * 1024
MAX_HASHED_BYTES = 1024 * 1024 * 1024  # artifacts larger than this are listed without a digest

_HINT = "give the JSON report written by `model-gate check --format json`"

STATEMENT = (
    "This pack records the evidence model-gate produced for one release. It is not a statement of "
    "compliance with any framework: 'evidenced' means the mapped checks ran and nothing mapped to the "
    "requirement blocks, within the limits stated per requirement; 'human-process' and every "
    "'partial' coverage leave work to people."
)


class Outcome(StrEnum):
    EVIDENCED = "evidenced"
    FAILED = "failed"
    ACCEPTED_RISK = "accepted-risk"
    NOT_ASSESSED = "not-assessed"
    HUMAN = "human-process"


class FindingRef(StrictModel):
    id: str
    rule: str
    name: str
    check: str
    severity: str
    title: str
    path: str | None = None


class Acceptance(StrictModel):
    finding: str
    waiver: str
    approvers: tuple[str, ...]
    expires: str
    justification: str


class CheckRef(StrictModel):
    id: str
    status: str  # a CheckStatus value, or "not-run"


class RequirementResult(StrictModel):
    id: str
    title: str
    role: str | None = None
    coverage: Coverage
    outcome: Outcome
    reason: str  # why the mapping has this coverage: what the gate does and does not judge
    checks: tuple[CheckRef, ...] = ()
    rules: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    fields: dict[str, Any] = Field(default_factory=dict)  # report path -> value (scalars), or "present"
    failed: tuple[FindingRef, ...] = ()
    accepted: tuple[Acceptance, ...] = ()
    warnings: tuple[FindingRef, ...] = ()
    not_assessed: tuple[str, ...] = ()  # what could not be judged, one line each
    failed_checks: tuple[str, ...] = ()  # checks this requirement relies on whole that failed
    remains_for_people: str | None = None


class FrameworkResult(StrictModel):
    framework: str
    title: str
    source: str
    counts: dict[str, int]
    requirements: tuple[RequirementResult, ...]


class Artifact(StrictModel):
    kind: str  # report | sbom | attestation | waiver | decision-log
    path: str
    sha256: str | None = None
    note: str | None = None


class PackRelease(StrictModel):
    name: str
    version: str
    digest: str


class EvidencePack(StrictModel):
    schema_: str = Field(PACK_SCHEMA, alias="schema")
    statement: str = STATEMENT
    gate_version: str
    report_generated_at: str
    release: PackRelease
    verdict: str
    tier: str
    eu_ai_act: str
    policy_sha256: str
    artifacts: tuple[Artifact, ...]
    decisions: tuple[dict[str, Any], ...] = ()  # decision-log entries for this release digest
    frameworks: tuple[FrameworkResult, ...]


def _sha256_file(path: Path) -> str | None:
    """Digest of a regular file, or None (not a file, unreadable, too large to hash here)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_HASHED_BYTES:
            return None
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return "sha256:" + h.hexdigest()


def load_report(path: Path) -> tuple[Report, dict[str, Any], bytes]:
    """A JSON report as written by `check --format json`: the model, its raw JSON and its bytes."""
    data = read_bounded(path, MAX_REPORT_BYTES, "report")
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise InputError(
            f"{path}: not JSON ({exc})", hint="give the output of `check --format json`"
        ) from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a JSON object (a model-gate report)")
    try:
        report = Report.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(
            f"{path}: {where}: {err['msg']} (not a model-gate report?)",
            hint=_HINT,
        ) from None
    return report, raw, data


def _ref(f: Finding) -> FindingRef:
    return FindingRef(
        id=f.id,
        rule=f.rule.code,
        name=f.rule.name,
        check=f.check,
        severity=f.severity.value,
        title=f.title,
        path=f.location.path,
    )


def _relevant(req: Requirement, f: Finding) -> bool:
    # Named rules or techniques narrow a requirement to those findings; otherwise every finding
    # of its checks speaks to it.
    if req.rules or req.techniques:
        return f.rule.code in req.rules or bool(set(f.technique) & set(req.techniques))
    return f.check in req.checks


def _field_value(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else "present"


def assess(req: Requirement, report: Report, raw: dict[str, Any]) -> RequirementResult:
    ran = {c.id: c for c in report.checks}
    checks = tuple(CheckRef(id=c, status=ran[c].status.value if c in ran else "not-run") for c in req.checks)
    fields: dict[str, Any] = {}
    not_assessed: list[str] = []
    for p in req.fields:
        found, value = resolve_field(raw, p)
        if found:
            fields[p] = _field_value(value)
        else:
            not_assessed.append(f"report field {p} is absent")
    for c in checks:
        if c.status == "not-run":
            not_assessed.append(f"check {c.id} did not run")
        elif c.status == CheckStatus.SKIPPED.value:
            not_assessed.append(f"check {c.id} was skipped: {ran[c.id].summary}")
        elif c.status == CheckStatus.ERROR.value:
            not_assessed.append(f"check {c.id} could not complete: {ran[c.id].summary}")
    failed: list[FindingRef] = []
    accepted: list[Acceptance] = []
    warnings: list[FindingRef] = []
    for f in report.findings:
        if not _relevant(req, f):
            continue
        if f.waiver is not None:
            accepted.append(
                Acceptance(
                    finding=f.id,
                    waiver=f.waiver.id,
                    approvers=f.waiver.approvers,
                    expires=f.waiver.expires,
                    justification=f.waiver.justification,
                )
            )
        elif f.effective_blocking:
            failed.append(_ref(f))
        else:
            warnings.append(_ref(f))
    # A check that failed without a finding this requirement narrows to still failed it, when the
    # requirement speaks for the whole check.
    failed_checks = [] if (req.rules or req.techniques) else [c.id for c in checks if c.status == "failed"]
    if req.status is Coverage.PROCESS:
        outcome = Outcome.HUMAN
    elif failed or failed_checks:
        outcome = Outcome.FAILED
    elif accepted:
        outcome = Outcome.ACCEPTED_RISK
    elif not_assessed:
        outcome = Outcome.NOT_ASSESSED
    else:
        outcome = Outcome.EVIDENCED
    return RequirementResult(
        id=req.id,
        title=req.title,
        role=req.role,
        coverage=req.status,
        outcome=outcome,
        reason=req.reason,
        checks=checks,
        rules=req.rules,
        techniques=req.techniques,
        fields=fields,
        failed=tuple(failed),
        accepted=tuple(accepted),
        warnings=tuple(warnings),
        not_assessed=tuple(not_assessed),
        failed_checks=tuple(failed_checks),
        remains_for_people=None if req.status is Coverage.COVERED else req.reason,
    )


def assess_framework(fw: Framework, report: Report, raw: dict[str, Any]) -> FrameworkResult:
    results = tuple(assess(r, report, raw) for r in fw.requirements)
    counts = {o.value: sum(r.outcome is o for r in results) for o in Outcome}
    return FrameworkResult(
        framework=fw.framework, title=fw.title, source=fw.source, counts=counts, requirements=results
    )


def _decisions(path: Path, digest: str) -> tuple[dict[str, Any], ...]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the decision log: {exc.strerror or exc}") from None
    out: list[dict[str, Any]] = []
    for line in data.split(b"\n"):
        try:
            entry = json.loads(line) if line.strip() else None
        except ValueError:
            continue  # `decision-log verify` reports damaged lines; the pack lists what it can read
        if not isinstance(entry, dict):
            continue
        release = entry.get("release")
        if isinstance(release, dict) and release.get("digest") == digest:
            out.append(entry)
    return tuple(out)


def build_pack(
    report_path: Path,
    *,
    decision_log: Path | None = None,
    extra_artifacts: dict[str, Path] | None = None,
) -> EvidencePack:
    """The evidence pack for the release a JSON report judged, bound to its release digest."""
    report, raw, data = load_report(report_path)
    artifacts = [
        Artifact(kind="report", path=str(report_path), sha256="sha256:" + hashlib.sha256(data).hexdigest())
    ]
    named = {**report.artifacts, **{k: str(v) for k, v in (extra_artifacts or {}).items()}}
    for kind, where in sorted(named.items()):
        sha = _sha256_file(Path(where))
        artifacts.append(
            Artifact(
                kind=kind, path=where, sha256=sha, note=None if sha else "not found where the report says"
            )
        )
    for w in report.waivers:
        artifacts.append(
            Artifact(
                kind="waiver",
                path=w.path,
                sha256=w.sha256[0] if len(w.sha256) == 1 else None,
                note=f"{w.status.value}: {w.reason}",
            )
        )
    decisions: tuple[dict[str, Any], ...] = ()
    if decision_log is not None:
        decisions = _decisions(decision_log, report.release.digest)
        artifacts.append(
            Artifact(
                kind="decision-log",
                path=str(decision_log),
                sha256=_sha256_file(decision_log),
                note=f"{len(decisions)} entries for this release digest",
            )
        )
    return EvidencePack(
        gate_version=report.gate_version,
        report_generated_at=report.generated_at,
        release=PackRelease(
            name=report.release.name, version=report.release.version, digest=report.release.digest
        ),
        verdict=report.verdict.value,
        tier=report.tier.level.value,
        eu_ai_act=report.tier.eu_ai_act,
        policy_sha256=report.policy.sha256,
        artifacts=tuple(artifacts),
        decisions=decisions,
        frameworks=tuple(assess_framework(fw, report, raw) for fw in frameworks()),
    )
