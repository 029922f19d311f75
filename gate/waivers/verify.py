"""`model-gate waiver verify`: the use cases of the command, with a release and without one.

Command layer: it runs the engine on the release, so it sits on top of the
waivers library and the checks, never beneath them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.models.policy import TierPolicy
from gate.models.report import WaiverStatus
from gate.waivers.apply import WaiverSet
from gate.waivers.author import open_for_signing
from gate.waivers.decide import decide
from gate.waivers.model import WaiverFile
from gate.waivers.trust import ReviewerTrust


@dataclass
class VerifyResult:
    ok: bool
    lines: list[str]


def verify_without_release(
    raw: bytes, path: Path, policy: Any, now: dt.datetime, offline: bool
) -> VerifyResult:
    """Signature, signers, time and lifetime for every tier; release and findings not judged."""
    from gate.checks import find_rule
    from gate.risk import Tier

    wf = WaiverFile(path=path, raw=raw)
    lines: list[str] = []
    ok = False
    for tier in Tier:
        tp: TierPolicy = policy.for_tier(tier)
        fc = ReviewerTrust(tp.waivers.reviewers, tier.value, offline, tp.waivers.sigstore_trust_root).check(
            wf
        )
        if fc.payload is None:
            lines.append(f"tier {tier.value}: rejected: {fc.error}")
            continue
        d = decide([fc], None, None, tp, now, find_rule)
        if d.status is WaiverStatus.REJECTED:
            lines.append(f"tier {tier.value}: rejected: {d.reason}")
        else:
            ok = True
            lines.append(f"tier {tier.value}: valid: {d.reason}")
    lines.append("release digest and findings not checked: give --release to check them")
    return VerifyResult(ok, lines)


def verify_with_release(
    raw: bytes, path: Path, policy: Any, release_dir: Path, offline: bool
) -> VerifyResult:
    """Run the check that raises the waiver's rule on the release, and apply just this waiver."""
    from gate import engine
    from gate.checks import CHECKS, find_rule
    from gate.checks.interface import RunOptions

    doc = open_for_signing(raw, str(path))  # only to pick the check to run; nothing is trusted yet
    rule = find_rule(doc.predicate.rule)
    only = (rule.check,) if rule is not None and rule.check in CHECKS else ()
    ws = WaiverSet([WaiverFile(path=path, raw=raw)], offline=offline)
    report = engine.run(
        engine.RunRequest(
            release_dir=release_dir, policy=policy, only=only, waivers=ws, options=RunOptions(offline=offline)
        )
    )
    out = report.waivers[0]
    lines = [f"{out.status.value}: {out.id or path} at tier {report.tier.level.value}: {out.reason}"]
    return VerifyResult(out.status is WaiverStatus.APPLIED, lines)
