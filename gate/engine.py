"""Run the checks a tier's policy requires, apply waivers, compute the verdict."""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gate import __version__
from gate.checks import CHECKS, find_rule, load_check
from gate.checks.interface import Check, CheckContext, CheckOutcome, EarlierResult, RunOptions
from gate.errors import GateError, InputError
from gate.inventory import DigestRequest, build_inventory
from gate.models.finding import Finding, Rule, Severity, new_finding
from gate.models.policy import TierPolicy
from gate.models.report import (
    BaselineInfo,
    CheckResult,
    CheckStatus,
    PolicyInfo,
    ReleaseInfo,
    Report,
    TierInfo,
    Verdict,
    WaiverOutcome,
)
from gate.models.tier import TierResult
from gate.policy import Policy, config_for, load_policy
from gate.progress import CheckFinished, CheckStarted, Sink, ignore
from gate.release import Release, load_manifest
from gate.risk import score
from gate.rules import OPTIONAL_CHECK_INCOMPLETE, REQUIRED_CHECK_SKIPPED, UNTRUSTED_BASELINE
from gate.timefmt import Clock, utc_now


class WaiverApplier(Protocol):
    """Matches signed waivers to findings. Implemented in gate.waivers."""

    def apply(
        self,
        findings: list[Finding],
        release: Release,
        policy: TierPolicy,
        clock: Clock,
        rules: Callable[[str], Rule | None],
    ) -> tuple[list[Finding], list[WaiverOutcome]]:
        """The findings with waivers attached, then findings about the waivers themselves (whose
        blocking the engine decides); `rules` is the rule catalogue."""
        ...


@dataclass(frozen=True)
class RunRequest:
    release_dir: Path
    policy: str | Policy = "default"
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    options: RunOptions = field(default_factory=RunOptions)
    clock: Clock = utc_now
    waivers: WaiverApplier | None = None
    # Hears of the long work as it happens (gate.progress): bytes hashed, checks started and
    # finished, and what a long check reports of itself. Nothing it does changes the report.
    progress: Sink | None = None
    # A previous verdict to compare findings with (gate.baseline); verified before anything runs.
    baseline: Path | None = None


@dataclass(frozen=True)
class RunResult:
    """A judged release: the report, and the loaded, hashed release it speaks about (what a BOM
    or a signed verdict is built from, so that they name the same digests as the report)."""

    report: Report
    release: Release


ALWAYS_RUN = "risk-tier"
SKIPPED_ON_REQUEST = "skipped on request"
LEFT_OUT_BY_ONLY = "left out by --only: not judged in this partial run"


@dataclass
class Selection:
    run: list[str]
    required: set[str]
    skipped_by_user: list[str]
    # Checks the policy runs at this tier that --only left out: the run is partial.
    left_out: list[str] = field(default_factory=list)
    # Checks of evidence release.yaml declares: they run whatever the policy lists, an error
    # fails closed and --skip blocks (unless allow_skip names them), as for a required check.
    declared: set[str] = field(default_factory=set)

    @property
    def partial(self) -> bool:
        return bool(self.left_out)


def check_names(values: Sequence[str], option: str) -> list[str]:
    """Check ids from repeated options, each of which may be a comma-separated list."""
    names = [n.strip() for v in values for n in v.split(",")]
    out: list[str] = []
    for name in names:
        if not name:
            continue
        if name not in CHECKS:
            close = difflib.get_close_matches(name, list(CHECKS), n=1, cutoff=0.6)
            guess = f"did you mean '{close[0]}'? " if close else ""
            raise InputError(
                f"{option}: unknown check '{name}'",
                hint=f"{guess}Known checks: {', '.join(CHECKS)} "
                f"(repeat {option} or separate names with commas).",
            )
        if name not in out:
            out.append(name)
    return out


def select_checks(tp: TierPolicy, only: Sequence[str], skip: Sequence[str]) -> Selection:
    only = check_names(only, "--only")
    skip = check_names(skip, "--skip")
    listed = [c for c in CHECKS if c in tp.required or c in tp.optional]
    wanted = listed
    if only:
        # --only can also run a check the policy does not list.
        wanted = [c for c in CHECKS if c in only]
    run_list = [c for c in wanted if c not in skip]
    # The tier decides everything else and a prohibited use must always block: it always runs.
    if ALWAYS_RUN not in run_list:
        run_list.insert(list(CHECKS).index(ALWAYS_RUN), ALWAYS_RUN)
    return Selection(
        run=run_list,
        required=set(tp.required),
        # Recorded in the report; a required one blocks unless the policy allows skipping it.
        skipped_by_user=[c for c in listed if c in skip and c != ALWAYS_RUN],
        # Not judged at all: the report says it is partial, and these do not decide its verdict.
        left_out=[c for c in listed if only and c not in only and c not in skip and c != ALWAYS_RUN],
    )


def _declared_evidence(sel: Selection, manifest: Any, only: Sequence[str], skip: Sequence[str]) -> None:
    """Declared evidence is always verified: a declared signature or provenance runs its check
    whatever the policy lists; an error fails closed and `--skip` blocks unless the policy's
    `allow_skip` names it, as for a required check; left out by `--only`, the run is partial.
    Whether the signer must be trusted stays the tier's decision (`required`)."""
    from gate.signing.document import evidence_checks

    skipped = check_names(skip, "--skip")
    wanted = check_names(only, "--only")
    for cid in evidence_checks(manifest):
        sel.declared.add(cid)
        if cid in sel.run or cid in sel.skipped_by_user or cid in sel.left_out:
            continue
        if cid in skipped:
            sel.skipped_by_user.append(cid)
        elif wanted and cid not in wanted:
            sel.left_out.append(cid)
        else:
            sel.run.append(cid)


def decide_blocking(finding: Finding, tp: TierPolicy) -> Finding:
    """Apply the policy's rule overrides and severity threshold to one finding."""
    ov = tp.rules.get(finding.rule.code) or tp.rules.get(finding.rule.name)
    severity = ov.severity if ov and ov.severity else finding.severity
    rule = find_rule(finding.rule.code)
    if rule is not None and rule.always_blocks:
        blocking = True
    elif ov and ov.blocking is not None:
        blocking = ov.blocking
    else:
        blocking = severity >= tp.block_at
    return finding.model_copy(update={"severity": severity, "blocking": blocking})


def always_blocks(finding: Finding, tp: TierPolicy) -> str | None:
    """Why a finding blocks whatever a baseline says (`block_on: new` never tracks it), or None."""
    rule = find_rule(finding.rule.code)
    if rule is not None and rule.always_blocks:
        return f"{rule.code} always blocks"
    if rule is not None and not rule.waivable:
        return f"{rule.code} is unwaivable"
    entry = tp.waivers.unwaivable(finding.rule.code, rule.name if rule else finding.rule.name)
    if entry:
        return f"the policy makes {finding.rule.code} unwaivable ('{entry}')"
    if tp.tier.value == "prohibited":
        return "a prohibited practice"
    return None


def check_status(findings: Sequence[Finding], tp: TierPolicy, *, skipped: bool = False) -> CheckStatus:
    """One check's status from its judged findings (after decide_blocking)."""
    if any(f.effective_blocking for f in findings):
        return CheckStatus.FAILED
    if any(f.severity >= tp.warn_at or f.waiver for f in findings):
        return CheckStatus.WARNED
    if skipped:
        return CheckStatus.SKIPPED
    return CheckStatus.PASSED


def finding_order(f: Finding) -> tuple[bool, int, str, str]:
    """Report order: blocking first, then by severity, check and id."""
    return (not f.effective_blocking, -f.severity.rank, f.check, f.id)


def run_check(cls: type[Check], ctx: CheckContext) -> tuple[CheckOutcome | None, str | None, float]:
    """Run one check; anything it raises becomes an error reason (fail closed)."""
    start = time.perf_counter()
    try:
        outcome = cls().run(ctx)
        if not isinstance(outcome, CheckOutcome):  # pragma: no cover - defensive
            raise TypeError(f"check returned {type(outcome).__name__}")
        return outcome, None, time.perf_counter() - start
    except GateError as exc:
        reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
    except Exception as exc:
        reason = f"internal error: {type(exc).__name__}: {exc}"
    return None, reason, time.perf_counter() - start


def fails_closed(check_id: str, tp: TierPolicy) -> bool:
    """Whether this check's error decides the verdict (exit 3): required, or marked fail_closed.

    An optional check that cannot complete is an `error` result with a warning finding instead:
    what it would have judged is optional here, so its absence must not fail the run."""
    return check_id in tp.required or check_id in tp.fail_closed


def verdict_of(
    findings: Sequence[Finding],
    results: Sequence[CheckResult],
    tp: TierPolicy,
    declared: Collection[str] = (),
) -> Verdict:
    """`declared`: checks of evidence release.yaml declares, whose errors fail closed too."""
    if any(
        r.status is CheckStatus.ERROR and (r.required or fails_closed(r.id, tp) or r.id in declared)
        for r in results
    ):
        return Verdict.ERROR
    if any(f.effective_blocking for f in findings):
        return Verdict.FAIL
    if any(f.severity >= tp.warn_at or f.waiver for f in findings):
        return Verdict.WARN
    return Verdict.PASS


EXIT_FOR = {Verdict.PASS: 0, Verdict.WARN: 0, Verdict.FAIL: 1, Verdict.ERROR: 3}


def tier_info(t: TierResult) -> TierInfo:
    return TierInfo(
        level=t.level,
        eu_ai_act=t.eu_ai_act,
        score=t.score,
        factors=t.factors,
        rationale=t.rationale,
    )


def run(req: RunRequest) -> Report:
    return check_release(req).report


def check_release(req: RunRequest) -> RunResult:
    """Load and hash the release, score its tier, run the checks its policy section selects,
    apply waivers, and judge: the report together with the release it judged."""
    loaded = load_manifest(req.release_dir)
    tier = score(loaded.manifest)
    policy = req.policy if isinstance(req.policy, Policy) else load_policy(req.policy)
    tp = policy.for_tier(tier.level)
    sel = select_checks(tp, req.only, req.skip)
    _declared_evidence(sel, loaded.manifest, req.only, req.skip)
    base = None
    if req.baseline is not None:  # before the long work: a malformed baseline is exit 2 at once
        from gate import baseline as baselines

        base = baselines.load(
            req.baseline,
            policy=tp.baseline,
            release_name=loaded.manifest.name,
            now=req.clock(),
            offline=req.options.offline,
        )
    configs: dict[str, Any] = {}
    for cid in sel.run:
        configs[cid] = config_for(tp, cid)
    requests: list[DigestRequest] = []
    for cid in sel.run:
        requests += load_check(cid)().digest_requests(loaded.manifest, loaded.root, configs[cid])
    inventory = build_inventory(loaded.root, requests, progress=req.progress)
    release = Release(root=loaded.root, manifest=loaded.manifest, doc=loaded.doc, inventory=inventory)
    for cid in sel.run:  # bad input ends the run (exit 2) before any check runs
        load_check(cid)().preflight(release, configs[cid])

    findings: list[Finding] = []
    artifacts: dict[str, str] = {}  # files checks wrote beside the report
    results: list[CheckResult] = []
    earlier: dict[str, EarlierResult] = {}
    tell = req.progress or ignore
    count = sum(1 for c in CHECKS if c in sel.run)
    index = 0
    for cid in CHECKS:
        cls = load_check(cid)
        required = cid in sel.required
        if cid not in sel.run:
            if cid in sel.skipped_by_user:
                allowed = not (required or cid in sel.declared) or cid in tp.allow_skip
                results.append(
                    _result(
                        cls, CheckStatus.SKIPPED, required, 0.0, SKIPPED_ON_REQUEST, {"requested": "skip"}
                    )
                )
                if not allowed:
                    findings.append(_skipped_finding(cid, tier, SKIPPED_ON_REQUEST, declared=not required))
            elif cid in sel.left_out:
                results.append(
                    _result(cls, CheckStatus.SKIPPED, required, 0.0, LEFT_OUT_BY_ONLY, {"requested": "only"})
                )
            continue
        ctx = CheckContext(
            release=release,
            tier=tier,
            config=configs[cid],
            options=req.options,
            clock=req.clock,
            policy_dir=policy.directory,
            required=required,
            earlier=dict(earlier),
            progress=tell,
        )
        index += 1
        tell(CheckStarted(cid, cls.title, index, count))
        check = cls()
        unmet = [c for c in check.runs_after if not (c in earlier and earlier[c].passed)]
        unmet = unmet if check.applies(release.manifest) else []
        if unmet:
            why = f"not run: {', '.join(unmet)} did not pass earlier in this run"
            outcome, error, took = (
                (None, why, 0.0) if required else (CheckOutcome(skipped=True, summary=why), None, 0.0)
            )
        else:
            outcome, error, took = run_check(cls, ctx)
        if outcome is None:
            earlier[cid] = EarlierResult(CheckStatus.ERROR)
            results.append(_result(cls, CheckStatus.ERROR, required, took, error or "failed"))
            if not (fails_closed(cid, tp) or cid in sel.declared):
                findings.append(_incomplete_finding(cid, tier, error or "failed"))
            tell(CheckFinished(cid, CheckStatus.ERROR.value, took, index, count))
            continue
        own = [decide_blocking(f, tp) for f in outcome.findings]
        if outcome.skipped and required and not own and cid not in tp.allow_skip:
            own.append(_skipped_finding(cid, tier, outcome.summary or "not applicable"))
        findings += own
        artifacts.update(outcome.artifacts)
        status = check_status(own, tp, skipped=outcome.skipped)
        earlier[cid] = EarlierResult(status, tuple(own))
        results.append(_result(cls, status, required, took, outcome.summary, outcome.details))
        tell(CheckFinished(cid, status.value, took, index, count))

    waivers: list[WaiverOutcome] = []
    if req.waivers is not None:
        judged = {f.id for f in findings}
        findings, waivers = req.waivers.apply(findings, release, tp, req.clock, find_rule)
        # Findings about the waivers themselves are judged like any check's.
        findings = [f if f.id in judged else decide_blocking(f, tp) for f in findings]
    baseline_info = None
    if base is not None:
        from gate import baseline as baselines

        findings, baseline_info = baselines.apply(
            findings, base, block_on=tp.block_on, always_blocks=lambda f: always_blocks(f, tp)
        )
        if tp.block_on == "new" and not base.trusted:
            findings.append(_untrusted_baseline_finding(baseline_info.source, baseline_info.reasons))
    if req.waivers is not None or base is not None:
        # A check whose blocking findings were all waived or tracked no longer fails.
        by_check = {r.id: [f for f in findings if f.check == r.id] for r in results}
        results = [
            r.model_copy(update={"status": CheckStatus.WARNED})
            if r.status is CheckStatus.FAILED and not any(f.effective_blocking for f in by_check[r.id])
            else r
            for r in results
        ]
    report = assemble_report(
        generated_at=req.clock().isoformat(timespec="seconds"),
        release=ReleaseInfo(
            name=release.manifest.name,
            version=release.manifest.version,
            digest=release.digest,
            path=str(release.root),
            files=len(inventory.entries),
            bytes=inventory.total_bytes,
        ),
        tier=tier_info(tier),
        policy=PolicyInfo(
            name=policy.name,
            source=policy.source,
            sha256=policy.sha256,
            sources=tuple(s.path for s in policy.sources),
            notes=policy.notes,
            unwaivable_rules=tp.waivers.unwaivable_rules,
        ),
        tp=tp,
        checks=results,
        findings=findings,
        declared=sel.declared,
        waivers=waivers,
        partial=sel.partial,
        left_out=sel.left_out,
        artifacts=artifacts,
        baseline=baseline_info,
    )
    return RunResult(report=report, release=release)


def assemble_report(
    *,
    generated_at: str,
    release: ReleaseInfo,
    tier: TierInfo,
    policy: PolicyInfo,
    tp: TierPolicy,
    checks: Sequence[CheckResult],
    findings: Sequence[Finding],
    declared: Collection[str] = (),
    waivers: Sequence[WaiverOutcome] = (),
    partial: bool = False,
    left_out: Sequence[str] = (),
    artifacts: dict[str, str] | None = None,
    baseline: BaselineInfo | None = None,
) -> Report:
    """The one place a report is put together: judged findings in report order, the verdict and
    its exit code. `findings` have been through decide_blocking (and waivers)."""
    ordered = sorted(findings, key=finding_order)
    verdict = verdict_of(ordered, checks, tp, declared)
    return Report(
        gate_version=__version__,
        generated_at=generated_at,
        verdict=verdict,
        exit_code=EXIT_FOR[verdict],
        release=release,
        tier=tier,
        policy=policy,
        checks=tuple(checks),
        findings=tuple(ordered),
        waivers=tuple(waivers),
        partial=partial,
        left_out=tuple(left_out),
        artifacts=artifacts or {},
        baseline=baseline,
    )


def _result(
    cls: type[Check],
    status: CheckStatus,
    required: bool,
    took: float,
    summary: str,
    details: dict[str, Any] | None = None,
) -> CheckResult:
    return CheckResult(
        id=cls.id,
        title=cls.title,
        status=status,
        required=required,
        duration_s=round(took, 4),
        summary=summary,
        details=details or {},
    )


def _skipped_finding(check_id: str, tier: TierResult, why: str, *, declared: bool = False) -> Finding:
    # The location is what makes the check required (the key, and so the id, stays the check).
    where = (
        f"release.yaml declares evidence for {check_id}"
        if declared
        else f"policy tiers.{tier.level.value}.required: {check_id}"
    )
    return new_finding(
        REQUIRED_CHECK_SKIPPED,
        f"Required check '{check_id}' did not run at tier {tier.level.value}: {why}",
        key=check_id,
        detail=where,
        evidence={"check": check_id, "tier": tier.level.value, "reason": why},
        severity=Severity.HIGH,
    ).model_copy(update={"blocking": True})


def _incomplete_finding(check_id: str, tier: TierResult, why: str) -> Finding:
    return new_finding(
        OPTIONAL_CHECK_INCOMPLETE,
        f"Optional check '{check_id}' could not complete at tier {tier.level.value}: {why}",
        key=check_id,
        detail=check_id,
        evidence={"check": check_id, "tier": tier.level.value, "reason": why},
        mitigation=f"Fix the cause above and run again, or leave the check out with --skip {check_id}. "
        f"A policy that needs its answer lists it under fail_closed: [{check_id}] (or required).",
    ).model_copy(update={"blocking": False})


def _untrusted_baseline_finding(source: str, reasons: Sequence[str]) -> Finding:
    why = "; ".join(reasons) or "not trusted"
    return new_finding(
        UNTRUSTED_BASELINE,
        f"The baseline is not trusted, so block_on: new is not honoured: {why}",
        key="baseline",
        detail="--baseline",
        evidence={"baseline": source, "reasons": list(reasons)},
    ).model_copy(update={"blocking": False})
