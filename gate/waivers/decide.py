"""Deciding whether one verified waiver applies: to this release, these findings, now, under the
tier's waiver policy (what may be waived, for how long, approved by whom)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gate.errors import InputError
from gate.models.finding import Finding
from gate.models.policy import TierPolicy
from gate.models.report import WaiverOutcome, WaiverStatus
from gate.release import Release
from gate.signing.subject import release_subjects
from gate.timefmt import human_days, rfc3339
from gate.waivers.model import (
    CLOCK_SKEW,
    RuleLookup,
    WaiverPredicate,
    identity_key,
    parse_waiver_statement,
    waiver_id,
)
from gate.waivers.trust import FileCheck


@dataclass
class Decision:
    status: WaiverStatus
    reasons: list[str]
    paths: list[str]
    digests: list[str]
    id: str | None = None
    predicate: WaiverPredicate | None = None
    matched: list[Finding] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    expiring_soon: bool = False

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def outcome(self) -> WaiverOutcome:
        p = self.predicate
        return WaiverOutcome(
            path=", ".join(self.paths),
            id=self.id,
            status=self.status,
            reason=self.reason,
            findings=tuple(f.id for f in self.matched) if self.matched else (p.findings if p else ()),
            expires=rfc3339(p.expires) if p else None,
            expiring_soon=self.expiring_soon,
            rule=p.rule if p else None,
            justification=p.justification.value if p else None,
            requester=p.requester if p else None,
            approvers=tuple(self.approvers),
            sha256=tuple(self.digests),
        )


def decide(
    group: list[FileCheck],
    release: Release | None,
    findings: dict[str, Finding] | None,
    tp: TierPolicy,
    now: dt.datetime,
    rules: RuleLookup | None = None,
) -> Decision:
    """Judge one verified waiver. Without a release (or findings) those parts are not judged.

    `rules` is the rule catalogue (the engine passes it); without it a rule's waivability and
    default severity are not known, and only the policy's list and the findings' severities count.
    """
    paths = [g.path for g in group]
    digests = [g.sha256 for g in group]
    first = group[0]
    assert first.payload is not None
    wid = waiver_id(first.payload)
    try:
        st, pred = parse_waiver_statement(first.payload, first.payload_type, first.path)
    except InputError as exc:
        reason = exc.message.removeprefix(f"{first.path}: ")
        return Decision(
            WaiverStatus.REJECTED, [f"signed, but not a valid waiver: {reason}"], paths, digests, wid
        )
    d = Decision(WaiverStatus.REJECTED, [], paths, digests, wid, pred)
    wp = tp.waivers
    tier = tp.tier.value

    # The release: one subject, and its digest is this release's.
    if release is not None:
        refused = release_subjects(release).refusal([dict(s.digest) for s in st.subject], "waiver")
        if refused:
            d.reasons.append(refused)

    # Time.
    if now + CLOCK_SKEW < pred.created:
        d.reasons.append(f"not yet valid: created {rfc3339(pred.created)}, it is now {rfc3339(now)}")
    if now >= pred.expires:
        d.reasons.append(f"expired on {rfc3339(pred.expires)}")

    # Findings.
    known = findings if findings is not None else {}
    d.matched = [known[i] for i in pred.findings if i in known]
    unknown = [i for i in pred.findings if i not in known] if findings is not None else []
    no_match = findings is not None and not d.matched
    if no_match:
        same_rule = sorted(f.id for f in known.values() if f.rule.code == pred.rule)
        if same_rule:
            d.reasons.append(
                f"for another finding: it waives {', '.join(pred.findings)}; this release's "
                f"{pred.rule} findings are {', '.join(same_rule)}"
            )
    for f in d.matched:
        if f.rule.code != pred.rule:  # pragma: no cover - fingerprints carry the rule code
            d.reasons.append(f"finding {f.id} is rule {f.rule.code}, the waiver is for {pred.rule}")

    # What may be waived at all.
    if not wp.enabled:
        d.reasons.append(f"the policy allows no waivers at tier {tier}")
    rule = rules(pred.rule) if rules is not None else None
    if rule is not None and not rule.waivable:
        d.reasons.append(f"unwaivable rule: {rule.code} {rule.name} can never be waived")
    else:
        entry = wp.unwaivable(pred.rule, rule.name if rule else "")
        if entry:
            d.reasons.append(f"unwaivable rule: the policy lists {pred.rule} as unwaivable ('{entry}')")

    # Lifetime, against the most severe finding it covers.
    severity = max((f.severity for f in d.matched), key=lambda s: s.rank, default=None)
    if severity is None and rule is not None:
        severity = rule.severity
    if severity is not None:
        limit = wp.max_days[severity]
        lifetime = pred.expires - pred.created
        if lifetime > dt.timedelta(days=limit):
            d.reasons.append(
                f"lifetime beyond the policy: {human_days(lifetime)} from created to expires, the "
                f"policy allows {limit} days for {severity.value} findings at tier {tier}"
            )
    if wp.require_ticket and not pred.ticket:
        d.reasons.append(f"the policy requires a ticket at tier {tier}")

    # Approvals: distinct reviewers allowed at this tier, never the requester. Identities are
    # compared as identity_key() forms; the requester is also whoever holds the requester's key,
    # and whichever reviewer the requester's identity names (by id or Sigstore identity).
    allowed = {identity_key(r.id) for r in wp.approving_reviewers()}
    named = {identity_key(a) for a in pred.approvers}
    requester = identity_key(pred.requester)
    requester_ids = {requester} | {
        identity_key(r.id)
        for r in wp.reviewers
        if r.sigstore is not None and identity_key(r.sigstore.identity) == requester
    }
    counted: list[str] = []
    notes: list[str] = []
    for g in group:
        notes += g.notes
    signatures = [
        (s, k)
        for g in group
        for s, k in zip(g.signers, g.signer_keys or [None] * len(g.signers), strict=True)
    ]
    for who, signing_key in signatures:
        key = identity_key(who)
        if key not in allowed:
            notes.append(f"{who} may not approve waivers at tier {tier}")
        elif named and key not in named:
            notes.append(f"{who} is not among the approvers the waiver names")
        elif wp.distinct_requester and (
            key in requester_ids or (signing_key and signing_key == pred.requester_key)
        ):
            notes.append(f"requester = approver: {who} requested this waiver and cannot approve it")
        elif key in (identity_key(c) for c in counted):
            notes.append(
                f"the same signer counted twice toward N-of-M: {who} signed more than once, counted once"
            )
        else:
            counted.append(who)
    d.approvers = counted
    notes = list(dict.fromkeys(notes))
    if len(counted) < wp.approvals:
        d.reasons.append(
            f"{len(counted)} of {wp.approvals} required approval{'s' if wp.approvals != 1 else ''}"
            + (f" ({'; '.join(notes)})" if notes else "")
        )

    if d.reasons:
        return d
    if no_match:
        d.status = WaiverStatus.UNUSED
        d.reasons.append("matches no finding in this release")
        return d
    d.status = WaiverStatus.APPLIED
    left = pred.expires - now
    d.reasons.append(
        f"approved by {', '.join(counted)} ({pred.justification.value}); expires in {human_days(left)}"
    )
    if unknown:
        d.reasons.append(f"{len(unknown)} of the findings it names are not in this release")
    # Within the warning window, once half its lifetime is used: a waiver written for as long as
    # the policy allows (or less than the window) does not warn on the day it is written.
    if left <= dt.timedelta(days=wp.warn_days) and left <= (pred.expires - pred.created) / 2:
        d.expiring_soon = True
        d.reasons.append(f"expires within the policy's {wp.warn_days}-day warning window")
    if notes:
        d.reasons.append("not counted: " + "; ".join(notes))
    return d
