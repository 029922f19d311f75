"""Applying waivers to a run's findings: the `WaiverApplier` the engine calls.

Applying never hides a finding: a waived finding stays in the report with the
waiver attached, and a waiver that is rejected leaves its findings exactly as
they were, with the reason in the report. The findings the applier adds about
the waivers themselves (rejected, unused, expiring) are judged by the engine
like any check's, under the tier's policy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

from gate.errors import InputError
from gate.models.finding import AppliedWaiver, Finding, Severity, new_finding
from gate.models.policy import TierPolicy
from gate.models.report import WaiverOutcome, WaiverStatus
from gate.release import Release
from gate.rules import WAIVER_EXPIRING, WAIVER_REJECTED, WAIVER_UNUSED
from gate.timefmt import rfc3339
from gate.waivers.decide import Decision, decide
from gate.waivers.model import MAX_WAIVER_FILES, RuleLookup, WaiverFile, read_waiver
from gate.waivers.trust import FileCheck, ReviewerTrust


class WaiverSet:
    """Waiver files read from a directory; `apply` implements gate.engine.WaiverApplier."""

    def __init__(
        self, files: list[WaiverFile], *, directory: Path | None = None, offline: bool = False
    ) -> None:
        self.files = files
        self.directory = directory
        self.offline = offline

    def apply(
        self,
        findings: list[Finding],
        release: Release,
        policy: TierPolicy,
        clock: Callable[[], dt.datetime],
        rules: RuleLookup | None = None,
    ) -> tuple[list[Finding], list[WaiverOutcome]]:
        """The findings with the waivers that apply attached, followed by findings about the waivers
        (rejected, unused, expiring) whose blocking the caller decides; and every waiver's outcome."""
        self._refuse_inside(release)
        decisions = self.decide(findings, release, policy, clock(), rules)
        return self.merge(findings, decisions)

    def _refuse_inside(self, release: Release) -> None:
        for place in [self.directory] if self.directory else [f.path for f in self.files]:
            if place.resolve().is_relative_to(release.root):
                raise InputError(
                    f"{place}: waivers inside the release directory would change the release digest "
                    "they are bound to",
                    hint="Keep waivers next to the release (e.g. waivers/ beside it), not in it.",
                )

    def decide(
        self,
        findings: list[Finding],
        release: Release,
        policy: TierPolicy,
        now: dt.datetime,
        rules: RuleLookup | None = None,
    ) -> list[Decision]:
        trust = ReviewerTrust(
            policy.waivers.reviewers, policy.tier.value, self.offline, policy.waivers.sigstore_trust_root
        )
        by_id = {f.id: f for f in findings}
        decisions: list[Decision] = []
        groups: dict[bytes, list[FileCheck]] = {}
        for wf in sorted(self.files, key=lambda w: str(w.path)):
            fc = trust.check(wf)
            if fc.payload is None:
                decisions.append(
                    Decision(WaiverStatus.REJECTED, [fc.error or "not verified"], [fc.path], [fc.sha256])
                )
                continue
            # Approvals for one statement may come in several files (one Sigstore bundle each).
            groups.setdefault(hashlib.sha256(fc.payload).digest(), []).append(fc)
        for group in groups.values():
            decisions.append(decide(group, release, by_id, policy, now, rules))
        return decisions

    def merge(
        self, findings: list[Finding], decisions: list[Decision]
    ) -> tuple[list[Finding], list[WaiverOutcome]]:
        waived: dict[str, AppliedWaiver] = {}
        extra: list[Finding] = []
        for d in decisions:
            p = d.predicate
            if d.status is WaiverStatus.APPLIED and p is not None:
                taken = [f.id for f in d.matched if f.id in waived]
                if taken and len(taken) == len(d.matched):
                    d.status = WaiverStatus.UNUSED
                    d.reasons = [f"its findings are already waived by {waived[taken[0]].id}"]
                for f in d.matched:
                    if f.id in waived:
                        continue
                    waived[f.id] = AppliedWaiver(
                        id=d.id or "",
                        reason=p.reason,
                        justification=p.justification.value,
                        approvers=tuple(d.approvers),
                        expires=rfc3339(p.expires),
                        ticket=p.ticket,
                        requester=p.requester,
                        created=rfc3339(p.created),
                        controls=p.controls,
                        path=", ".join(d.paths),
                        expiring_soon=d.expiring_soon,
                    )
            extra += self._findings_for(d)
        out = [f.model_copy(update={"waiver": waived[f.id]}) if f.id in waived else f for f in findings]
        out += extra
        return out, [d.outcome() for d in decisions]

    @staticmethod
    def _findings_for(d: Decision) -> list[Finding]:
        where = ", ".join(d.paths)
        key = f"{where}\x00{d.id or ''}"
        names = ", ".join(d.predicate.findings) if d.predicate else "unknown findings"
        if d.status is WaiverStatus.REJECTED:
            return [
                new_finding(
                    WAIVER_REJECTED,
                    f"Waiver {d.id or where} rejected: {d.reason}",
                    detail=where,
                    key=key,
                    evidence={"waiver": where, "id": d.id, "reason": d.reason, "findings": names},
                )
            ]
        if d.status is WaiverStatus.UNUSED:
            return [
                new_finding(
                    WAIVER_UNUSED,
                    f"Waiver {d.id} does not apply: {d.reason}",
                    detail=where,
                    key=key,
                    evidence={"waiver": where, "id": d.id, "findings": names},
                )
            ]
        if d.expiring_soon and d.predicate is not None:
            return [
                new_finding(
                    WAIVER_EXPIRING,
                    f"Waiver {d.id} expires on {rfc3339(d.predicate.expires)}",
                    detail=where,
                    key=key,
                    evidence={"waiver": where, "id": d.id, "expires": rfc3339(d.predicate.expires)},
                    severity=Severity.LOW,
                )
            ]
        return []


def load_waiver_applier(directory: Path, *, offline: bool = False) -> WaiverSet:
    """Read every `*.json` file in a directory (not recursive) as a waiver candidate."""
    if not directory.exists():
        raise InputError(f"{directory}: no such waivers directory")
    if not directory.is_dir():
        raise InputError(f"{directory}: --waivers takes a directory of waiver files")
    try:
        names = sorted(p for p in directory.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
    except OSError as exc:
        raise InputError(f"{directory}: cannot list: {exc.strerror or exc}") from None
    if len(names) > MAX_WAIVER_FILES:
        raise InputError(f"{directory}: more than {MAX_WAIVER_FILES} waiver files")
    files = [WaiverFile(path=p, raw=read_waiver(p)) for p in names]
    return WaiverSet(files, directory=directory, offline=offline)
