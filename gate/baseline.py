"""Baselines: which findings a previous verdict on the same release line already had.

`check --baseline FILE` compares this run's findings with a previous verdict by their stable
ids (fingerprints) and labels each `new` or `unchanged`; what the baseline had and this run
has not is listed as fixed. Under a policy with `block_on: new`, blocking findings that the
baseline already had are tracked rather than blocking, so that a pull request is judged on
what it introduced.

Because a baseline can make findings stop blocking, it is verified like a waiver before it
may do so. Only a signed verdict counts: the attestation `check --attest` writes on the base
branch (an in-toto SLSA verification summary that lists every finding id), signed by one of
the policy's `baseline.signers` (a key, or a Sigstore identity that pins the repository's
workflow), for the same release name (release line), from a full run, verified no longer
ago than `baseline.max_age_days`. Anything else, an unsigned JSON report above all (the pull
request can write one), is informational: its labels are shown, `block_on: new` is not
honoured, and the report says why.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gate.errors import InputError
from gate.models.finding import Finding, Severity
from gate.models.policy import BaselinePolicy
from gate.models.report import BaselineInfo, FixedFinding
from gate.saferead import read_bounded
from gate.timefmt import human_days, parse_rfc3339, rfc3339

BASELINE_MAX_BYTES = 32 * 1024 * 1024
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_ENTRIES = 100_000


class _Lenient(BaseModel):
    # A baseline may come from a newer gate: fields this one does not know are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Entry(_Lenient):
    id: StrictStr = Field(min_length=1, max_length=200)
    severity: Severity | None = None
    title: StrictStr | None = None


class _RuleRef(_Lenient):
    code: StrictStr


class _ReportFinding(_Entry):
    rule: _RuleRef | None = None


class _ReportRelease(_Lenient):
    name: StrictStr


class _BaselineReport(_Lenient):
    release: _ReportRelease
    generated_at: StrictStr | None = None
    partial: bool = False
    findings: list[_ReportFinding] = Field(max_length=MAX_ENTRIES)


class _SummaryFindings(_Lenient):
    items: list[_Entry] | None = Field(None, max_length=MAX_ENTRIES)


class _SummaryRelease(_Lenient):
    name: StrictStr


class _Summary(_Lenient):
    release: _SummaryRelease
    partial: bool = False
    findings: _SummaryFindings


@dataclass(frozen=True)
class Entry:
    id: str
    severity: Severity | None
    title: str | None = None


@dataclass
class Baseline:
    """A baseline as read: its findings, and whether it may decide `block_on: new`."""

    source: str
    kind: Literal["attestation", "report"]
    release: str
    generated_at: str | None
    entries: dict[str, Entry]
    trusted: bool = False
    signer: str | None = None
    reasons: list[str] = field(default_factory=list)

    def info(self, **kw: Any) -> BaselineInfo:
        return BaselineInfo(
            source=self.source,
            kind=self.kind,
            release=self.release,
            generated_at=self.generated_at,
            trusted=self.trusted,
            signer=self.signer,
            reasons=tuple(self.reasons),
            **kw,
        )


def _where(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: {str(err['msg']).removeprefix('Value error, ')}"


def read(path: Path) -> bytes:
    return read_bounded(path, BASELINE_MAX_BYTES, "baseline")


def kind_of(data: Any, source: str) -> Literal["envelope", "bundle", "report", "rates"]:
    if not isinstance(data, dict):
        raise InputError(f"{source}: baseline: expected a JSON object")
    from gate.signing.document import is_bundle

    if is_bundle(data):
        return "bundle"
    if "payloadType" in data or "signatures" in data:
        return "envelope"
    if "findings" in data or "release" in data:
        return "report"
    if "categories" in data:
        # The adversarial check's own baseline form (its details: attack rates per category): it
        # judges regressions from it, and it has no findings to compare.
        return "rates"
    raise InputError(
        f"{source}: baseline: neither a model-gate JSON report nor a signed verdict "
        "(the DSSE envelope or Sigstore bundle that `check --attest` writes)"
    )


def is_signed(path: Path) -> bool:
    """Whether a baseline file is a signed verdict (not a JSON report); malformed files say no."""
    try:
        return kind_of(json.loads(read(path)), str(path)) not in ("report", "rates")
    except (InputError, ValueError, RecursionError):
        return False


def load(
    path: Path,
    *,
    policy: BaselinePolicy,
    release_name: str,
    now: dt.datetime,
    offline: bool = False,
) -> Baseline | None:
    """Read and verify a baseline. Malformed input raises InputError (exit 2) naming file and field;
    a baseline that is well formed but not trusted is returned with `trusted=False` and the reasons;
    an attack-rates-only baseline (the adversarial check's own form) has no findings: None."""
    source = str(path)
    raw = read(path)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{source}: baseline is not JSON: {str(exc)[:80]}") from None
    kind = kind_of(data, source)
    if kind == "rates":
        return None
    if kind == "report":
        out = _from_report(data, source)
        out.reasons.append(
            "an unsigned JSON report: anyone (the pull request too) can write one; a baseline that "
            "decides `block_on: new` is the signed verdict `check --attest` writes on the base branch"
        )
    else:
        out = _from_signed(raw, data, kind, source, policy, now, offline)
    if out.release != release_name:
        out.reasons.append(
            f"for release '{out.release[:100]}', not '{release_name[:100]}': another release line"
        )
    out.trusted = not out.reasons
    return out


def _from_report(data: dict[str, Any], source: str) -> Baseline:
    try:
        rep = _BaselineReport.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: baseline: {_where(exc)}") from None
    out = Baseline(
        source=source,
        kind="report",
        release=rep.release.name,
        generated_at=rep.generated_at,
        entries={f.id: Entry(f.id, f.severity, f.title) for f in rep.findings},
    )
    if rep.partial:
        out.reasons.append("a partial run (--only): it did not judge every check")
    return out


def _from_signed(
    raw: bytes,
    data: dict[str, Any],
    kind: str,
    source: str,
    policy: BaselinePolicy,
    now: dt.datetime,
    offline: bool,
) -> Baseline:
    from gate.signing.dsse import Verified

    reasons: list[str] = []
    signer: str | None = None
    if kind == "envelope":
        payload_type, payload, signer, why = _verify_envelope(raw, source, policy)
    else:
        payload_type, payload, signer, why = _verify_bundle(raw, data, source, policy, offline)
    if why:
        reasons.append(why)
    # Read as well when the signature does not hold, for the labels; it decides nothing then.
    st = Verified(payload=payload, payload_type=payload_type, key_ids=()).statement(source)
    from gate.attest import SUMMARY_FIELD, VERIFIER_ID, VSA_PREDICATE

    if st.predicateType != VSA_PREDICATE:
        raise InputError(
            f"{source}: baseline: predicateType is '{st.predicateType[:100]}', "
            f"not a verdict ({VSA_PREDICATE})"
        )
    pred = st.predicate
    verifier = pred.get("verifier")
    if not isinstance(verifier, dict) or verifier.get("id") != VERIFIER_ID:
        reasons.append(f"not a model-gate verdict (predicate.verifier.id is not {VERIFIER_ID})")
    try:
        summary = _Summary.model_validate(pred.get(SUMMARY_FIELD))
    except ValidationError as exc:
        raise InputError(f"{source}: baseline: predicate.{SUMMARY_FIELD}: {_where(exc)}") from None
    if summary.findings.items is None:
        raise InputError(
            f"{source}: baseline: predicate.{SUMMARY_FIELD}.findings.items: missing "
            "(a verdict from a gate that did not list every finding; attest the base branch again)"
        )
    if summary.partial:
        reasons.append("a partial run (--only): it did not judge every check")
    when_text = pred.get("timeVerified")
    generated: str | None = None
    try:
        when = parse_rfc3339(str(when_text), "predicate.timeVerified")
    except InputError as exc:
        reasons.append(exc.message)
    else:
        generated = rfc3339(when)
        if when > now + CLOCK_SKEW:
            reasons.append(f"verified in the future ({generated})")
        elif now - when > dt.timedelta(days=policy.max_age_days):
            reasons.append(
                f"stale: verified {human_days(now - when)} ago, more than baseline.max_age_days "
                f"({policy.max_age_days})"
            )
    return Baseline(
        source=source,
        kind="attestation",
        release=summary.release.name,
        generated_at=generated,
        entries={e.id: Entry(e.id, e.severity, e.title) for e in summary.findings.items},
        signer=signer if not why else None,
        reasons=reasons,
    )


def _verify_envelope(
    raw: bytes, source: str, policy: BaselinePolicy
) -> tuple[str, bytes, str | None, str | None]:
    """(payloadType, payload, signer id, why it is not trusted)."""
    from gate.signing.dsse import check_signatures, parse_envelope
    from gate.signing.keys import key_id, load_public_key

    parse_envelope(raw, source)
    owner: dict[str, str] = {}
    keys = []
    for s in policy.signers:
        for i, pem in enumerate(s.keys):
            key = load_public_key(pem.encode(), f"policy: baseline.signers '{s.id}' keys[{i}]")
            owner[key_id(key)] = s.id
            keys.append(key)
    verified, sigs = check_signatures(raw, keys, source)
    good = [owner[s.verified_by] for s in sigs if s.verified_by]
    if good:
        return verified.payload_type, verified.payload, good[0], None
    if not policy.signers:
        why = "the policy trusts no baseline signer (baseline.signers)"
    elif any(s.claimed_keyid in owner for s in sigs):
        why = "bad signature: the verdict was changed after it was signed"
    else:
        known = ", ".join(s.id for s in policy.signers)
        why = f"untrusted signer: no signature is by a baseline signer the policy trusts ({known})"
    return verified.payload_type, verified.payload, None, why


def _verify_bundle(
    raw: bytes, data: dict[str, Any], source: str, policy: BaselinePolicy, offline: bool
) -> tuple[str, bytes, str | None, str | None]:
    try:
        env = data["dsseEnvelope"]
        payload_type, payload = str(env["payloadType"]), base64.b64decode(env["payload"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InputError(
            f"{source}: baseline: dsseEnvelope: a Sigstore bundle without a DSSE envelope"
        ) from None
    from gate.signing.backends.sigstore import SigstoreTrust, approve
    from gate.signing.trust import SigstoreIdentity

    identities = {
        s.id: SigstoreIdentity(identity=s.sigstore.identity, issuer=s.sigstore.issuer)
        for s in policy.signers
        if s.sigstore
    }
    if not identities:
        return payload_type, payload, None, "the policy trusts no Sigstore identity as a baseline signer"
    root = policy.sigstore_trust_root
    trust = SigstoreTrust(
        root=root.encode() if root is not None else None,
        offline=offline,
        setting="baseline",
        root_name="policy setting baseline.sigstore_trust_root",
        how="baseline.sigstore_trust_root in the policy",
    )
    got = approve(raw, identities, trust)
    if isinstance(got, str):
        return payload_type, payload, None, got
    return got.payload_type, got.payload, got.signers[0], None


def apply(
    findings: list[Finding],
    baseline: Baseline,
    *,
    block_on: Literal["all", "new"],
    always_blocks: Any,
) -> tuple[list[Finding], BaselineInfo]:
    """Label each finding and, when the policy blocks on new findings only and the baseline is
    trusted, track the unchanged blocking ones instead of blocking on them.

    `always_blocks(finding)` names why a finding blocks whatever the baseline (prohibited
    practice, unwaivable rule), or None. A finding the baseline had at a lower severity is
    `new`: it got worse in this change.
    """
    honoured = block_on == "new" and baseline.trusted
    out: list[Finding] = []
    tracked: list[str] = []
    for f in findings:
        before = baseline.entries.get(f.id)
        same = before is not None and (before.severity is None or f.severity <= before.severity)
        label: Literal["new", "unchanged"] = "unchanged" if same else "new"
        update: dict[str, Any] = {"baseline": label}
        if honoured and same and f.effective_blocking and not always_blocks(f):
            update["blocking"] = False
            tracked.append(f.id)
        out.append(f.model_copy(update=update))
    now_ids = {f.id for f in findings}
    fixed = [
        FixedFinding(id=e.id, rule=e.id.rsplit("-", 1)[0], severity=e.severity, title=e.title)
        for e in baseline.entries.values()
        if e.id not in now_ids
    ]
    info = baseline.info(
        block_on=block_on,
        honoured=honoured,
        new=sum(1 for f in out if f.baseline == "new"),
        unchanged=sum(1 for f in out if f.baseline == "unchanged"),
        fixed=tuple(fixed),
        tracked=tuple(tracked),
    )
    return out, info
