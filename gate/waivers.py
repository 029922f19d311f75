"""Signed waivers: create, sign, verify, match.

A waiver is an in-toto Statement (predicate type `WAIVER_PREDICATE`) about one
release, bound to it by the release's subject digest, that names finding
fingerprints of one rule. Reviewers sign it in a DSSE envelope with keys the
policy trusts (one envelope can carry several signatures), or in Sigstore
bundles with identities the policy trusts. Every signature is checked over the
raw payload bytes before the payload is parsed.

Applying waivers never hides a finding: a waived finding stays in the report
with the waiver attached, and a waiver that is rejected leaves its findings
exactly as they were, with the reason in the report.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, ValidationError, field_validator, model_validator

from gate.checks.interface import Clock
from gate.errors import InputError
from gate.extras import MissingExtraError, needs
from gate.models.base import StrictModel
from gate.models.finding import RULE_CODE, AppliedWaiver, Finding, Severity, new_finding
from gate.models.policy import Reviewer, TierPolicy
from gate.models.report import WaiverOutcome, WaiverStatus
from gate.release import Release
from gate.rules import WAIVER_EXPIRING, WAIVER_REJECTED, WAIVER_UNUSED
from gate.signing.document import is_bundle
from gate.signing.dsse import (
    INTOTO_PAYLOAD_TYPE,
    STATEMENT_V1,
    Statement,
    Verified,
    add_signature,
    check_signatures,
    parse_envelope,
    sign_envelope,
)
from gate.signing.keys import key_id, load_public_key
from gate.signing.subject import release_subjects
from gate.timefmt import human_days, rfc3339

WAIVER_PREDICATE = "https://model-gate.dev/waiver/v1"
MAX_WAIVER_BYTES = 1024 * 1024
MAX_WAIVER_FILES = 500
# Clocks of the reviewer's laptop and the CI runner disagree a little.
CLOCK_SKEW = dt.timedelta(minutes=5)
FINDING_ID = re.compile(r"^(GATE-[A-Z]{2}\d{3})-[0-9a-f]{16}$")


class Justification(StrEnum):
    """Why the risk is acceptable: the VEX status justifications, plus two of our own."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = "vulnerable_code_cannot_be_controlled_by_adversary"
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"
    FALSE_POSITIVE = "false_positive"  # the check is wrong about this release
    RISK_ACCEPTED = "risk_accepted"  # the risk is real and accepted with compensating controls


def identity_key(value: str) -> str:
    """The form in which two identities are compared: Unicode NFKC, surrounding space stripped,
    case folded. 'Alice@Example.com ', 'alice@example.com' and its fullwidth twin are one person."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


def _no_control(value: str) -> str:
    """Identities are names, not text to render: control and invisible format characters are refused."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise ValueError(f"contains the control or invisible character U+{ord(bad):04X}")
    if not identity_key(value):
        raise ValueError("is empty once spaces are stripped")
    return value


Identity = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control)]
KEY_ID = re.compile(r"^[0-9a-f]{64}$")


class ReleaseRef(StrictModel):
    name: str = Field(max_length=200)
    version: str = Field(max_length=100)


Text = Annotated[str, Field(min_length=1, max_length=1000)]


class WaiverPredicate(StrictModel):
    """What a reviewer signs. Times are RFC 3339 with a zone."""

    release: ReleaseRef | None = None  # for people reading the file; the subject digest binds
    rule: str
    findings: tuple[str, ...] = Field(min_length=1, max_length=100)
    justification: Justification
    reason: str = Field(min_length=1, max_length=4000)
    controls: tuple[Text, ...] = Field((), max_length=20)
    requester: Identity
    # sha256 of the requester's public key (DER SubjectPublicKeyInfo): a signature by that key
    # never counts as an approval, whatever reviewer id the key is listed under.
    requester_key: str | None = Field(None, pattern=KEY_ID.pattern)
    approvers: tuple[Identity, ...] = Field((), max_length=20)  # when set, only these may approve
    ticket: str | None = Field(None, min_length=1, max_length=500)
    created: AwareDatetime
    expires: AwareDatetime

    @field_validator("rule")
    @classmethod
    def _rule(cls, v: str) -> str:
        if not RULE_CODE.match(v):
            raise ValueError("must be a rule code like GATE-RI005")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> WaiverPredicate:
        for fid in self.findings:
            m = FINDING_ID.match(fid)
            if not m:
                raise ValueError(f"finding id '{fid[:80]}' is not a finding fingerprint")
            if m.group(1) != self.rule:
                raise ValueError(f"finding {fid} belongs to rule {m.group(1)}, not {self.rule}")
        if len(set(self.findings)) != len(self.findings):
            raise ValueError("findings are listed twice")
        if self.expires <= self.created:
            raise ValueError("expires must be after created")
        return self


# ---------------------------------------------------------------------------------------------
# Files: reading, telling apart, creating and signing


Kind = Literal["envelope", "bundle", "statement"]


def read_waiver(path: Path) -> bytes:
    try:
        if not path.is_file():
            raise InputError(f"{path}: not a file")
        if path.stat().st_size > MAX_WAIVER_BYTES:
            raise InputError(f"{path}: larger than {MAX_WAIVER_BYTES} bytes; not a waiver")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def kind_of(raw: bytes, source: str) -> Kind:
    """Which of the three waiver file forms this is, judged from its outer JSON only."""
    if len(raw) > MAX_WAIVER_BYTES:
        raise InputError(f"{source}: larger than {MAX_WAIVER_BYTES} bytes; not a waiver")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"{source}: not JSON (a waiver is a JSON file)") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: not a waiver (expected a JSON object)")
    if "payload" in data or "signatures" in data:
        return "envelope"
    if is_bundle(data):
        return "bundle"
    if "predicateType" in data or "_type" in data:
        return "statement"
    raise InputError(f"{source}: not a waiver (neither a DSSE envelope, a Sigstore bundle nor a statement)")


def parse_waiver_statement(
    payload: bytes, payload_type: str, source: str
) -> tuple[Statement, WaiverPredicate]:
    """Parse a payload as a waiver Statement. Call only on verified bytes (or to show a signer)."""
    st = Verified(payload=payload, payload_type=payload_type, key_ids=()).statement(source)
    if st.predicateType != WAIVER_PREDICATE:
        raise InputError(
            f"{source}: predicateType is '{st.predicateType[:100]}', not a waiver ({WAIVER_PREDICATE})"
        )
    if not 1 <= len(st.subject) <= 2:
        raise InputError(
            f"{source}: subject: a waiver names one release (its digest, and its model's root digest) "
            f"(found {len(st.subject)} subjects)"
        )
    try:
        pred = WaiverPredicate.model_validate(st.predicate)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{source}: predicate.{where}: {_msg(err)}") from None
    return st, pred


def _msg(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")


def waiver_id(payload: bytes) -> str:
    """Names exactly what was signed: the same statement has the same id in every file."""
    return "WV-" + hashlib.sha256(payload).hexdigest()[:12]


def new_waiver(
    release: Release,
    findings: Sequence[str],
    *,
    reason: str,
    justification: str,
    expires: dt.datetime,
    requester: str,
    now: dt.datetime,
    controls: Sequence[str] = (),
    ticket: str | None = None,
    approvers: Sequence[str] = (),
    requester_key: Any = None,
) -> bytes:
    """An unsigned waiver statement for a release, as canonical JSON bytes (what gets signed).

    `requester_key` (a public key) ties the requester to a key: a signature by it never approves.
    """
    from gate.checks import find_rule

    if not findings:
        raise InputError("waiver new: give at least one --finding ID (from the report)")
    rules = set()
    for fid in findings:
        m = FINDING_ID.match(fid.strip())
        if not m:
            raise InputError(
                f"--finding {fid}: not a finding id",
                hint="Finding ids look like GATE-RI005-0123456789abcdef; the report lists them.",
            )
        rules.add(m.group(1))
    if len(rules) > 1:
        raise InputError(
            f"--finding: the ids belong to several rules ({', '.join(sorted(rules))})",
            hint="A waiver accepts one risk: write one waiver per rule.",
        )
    code = rules.pop()
    rule = find_rule(code)
    if rule is None:
        raise InputError(f"--finding: unknown rule {code}")
    if not rule.waivable:
        raise InputError(f"--finding: rule {code} {rule.name} cannot be waived", hint=rule.fix)
    if expires <= now:
        raise InputError(f"--expires {rfc3339(expires)} is in the past")
    subjects = release_subjects(release)
    try:
        predicate = WaiverPredicate(
            release=ReleaseRef(name=release.manifest.name, version=release.manifest.version),
            rule=code,
            findings=tuple(f.strip() for f in findings),
            justification=Justification(justification),
            reason=reason,
            controls=tuple(controls),
            requester=requester,
            requester_key=key_id(requester_key) if requester_key is not None else None,
            approvers=tuple(approvers),
            ticket=ticket or None,
            created=now.replace(microsecond=0),
            expires=expires,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "waiver"
        raise InputError(f"waiver new: {where}: {_msg(err)}") from None
    except ValueError:
        raise InputError(
            f"--justification {justification}: not one of {', '.join(j.value for j in Justification)}"
        ) from None
    body = predicate.model_dump(mode="json", exclude_none=True)
    body["created"] = rfc3339(predicate.created)
    body["expires"] = rfc3339(predicate.expires)
    statement = {
        "_type": STATEMENT_V1,
        "subject": subjects.statement_subjects(),
        "predicateType": WAIVER_PREDICATE,
        "predicate": body,
    }
    return json.dumps(statement, indent=2, sort_keys=True).encode() + b"\n"


MAX_REPORT_BYTES = 64 * 1024 * 1024


def check_against_report(
    statement: bytes, report_path: Path, release: Release, policy_ref: str | None = None
) -> None:
    """Refuse (InputError, exit 2) a new waiver whose findings are not in the JSON report of this
    release, or whose rule the policy that judged it makes unwaivable (or where it allows none).

    `policy_ref` is the policy to ask; by default the one the report names.
    """
    from gate.policy import load_policy
    from gate.risk import Tier

    src = f"--report {report_path}"
    try:
        if not report_path.is_file():
            raise InputError(f"{src}: not a file (give the JSON report of `model-gate check --format json`)")
        with open(report_path, "rb") as fh:
            raw = fh.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{src}: cannot read: {exc.strerror or exc}") from None
    try:
        if len(raw) > MAX_REPORT_BYTES:
            raise ValueError("too large")
        data = json.loads(raw)
        digest = data["release"]["digest"]
        tier = Tier(data["tier"]["level"])
        listed = {str(f["id"]): f for f in data["findings"]}
        judged_by = str(data["policy"]["source"])
    except (ValueError, RecursionError, TypeError, KeyError):
        raise InputError(
            f"{src}: not a model-gate JSON report (release.digest, tier.level, findings[].id, policy.source)"
        ) from None
    if digest != release.digest:
        raise InputError(
            f"{src}: the report is for release {str(digest)[:19]}…, not this one ({release.digest[:19]}…)",
            hint="Run `model-gate check RELEASE --format json` on this release and pass that report.",
        )
    pred = json.loads(statement)["predicate"]
    for fid in pred["findings"]:
        if fid not in listed:
            same = sorted(i for i in listed if i.startswith(pred["rule"] + "-"))
            raise InputError(
                f"--finding {fid}: not a finding of {report_path}"
                + (f" (its {pred['rule']} findings: {', '.join(same[:5])})" if same else ""),
                hint="Copy the id from the report of this release.",
            )
    rule = listed[pred["findings"][0]].get("rule") if isinstance(listed[pred["findings"][0]], dict) else None
    name = str(rule.get("name", "")) if isinstance(rule, dict) else ""
    packaged = re.fullmatch(r"package:gate/policies/([a-z0-9-]+)\.yaml", judged_by)
    try:
        policy = load_policy(policy_ref or (packaged.group(1) if packaged else judged_by))
    except InputError as exc:
        raise InputError(
            f"cannot load the policy that judged the report ('{policy_ref or judged_by}'): {exc.message}",
            hint="Give --policy with the policy the release is checked with.",
        ) from None
    wp = policy.for_tier(tier).waivers
    if not wp.enabled:
        raise InputError(f"--finding: policy '{policy.name}' allows no waivers at tier {tier.value}")
    entry = wp.unwaivable(pred["rule"], name)
    if entry:
        raise InputError(
            f"--finding: policy '{policy.name}' makes rule {pred['rule']} unwaivable at tier {tier.value} "
            f"('{entry}')"
        )


@dataclass(frozen=True)
class Unsigned:
    """A waiver's payload as a signer sees it, before anyone's signature is trusted."""

    payload: bytes
    payload_type: str
    kind: Kind
    statement: Statement
    predicate: WaiverPredicate


def open_for_signing(raw: bytes, source: str) -> Unsigned:
    """Read the statement a reviewer is about to sign (from a statement, envelope or bundle)."""
    kind = kind_of(raw, source)
    if kind == "statement":
        payload, ptype = raw, INTOTO_PAYLOAD_TYPE
    elif kind == "envelope":
        env = parse_envelope(raw, source)
        try:
            payload = base64.b64decode(env.payload, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{source}: payload: not valid base64") from None
        ptype = env.payloadType
    else:
        ptype, payload = _bundle_payload_unverified(raw, source)
    st, pred = parse_waiver_statement(payload, ptype, source)
    return Unsigned(payload=payload, payload_type=ptype, kind=kind, statement=st, predicate=pred)


def sign_waiver(raw: bytes, private_key: Any, source: str, now: dt.datetime) -> bytes:
    """Sign a waiver with a key: a statement becomes an envelope, an envelope gets one more signature."""
    doc = open_for_signing(raw, source)
    if doc.predicate.expires <= now:
        raise InputError(f"{source}: the waiver expired on {rfc3339(doc.predicate.expires)}; not signing it")
    if doc.kind == "statement":
        return sign_envelope(doc.payload, private_key)
    if doc.kind == "bundle":
        # A key signature cannot go into a Sigstore bundle; a second file with the same payload counts.
        return sign_envelope(doc.payload, private_key, doc.payload_type)
    mine = key_id(private_key.public_key())
    if any(s.keyid == mine for s in parse_envelope(raw, source).signatures):
        raise InputError(f"{source}: already signed with this key ({mine[:16]})")
    return add_signature(raw, private_key, source)


def sign_waiver_keyless(raw: bytes, source: str, now: dt.datetime, offline: bool) -> bytes:
    """Sign a waiver with Sigstore (Fulcio certificate, Rekor entry); returns the bundle JSON."""
    doc = open_for_signing(raw, source)
    if doc.predicate.expires <= now:
        raise InputError(f"{source}: the waiver expired on {rfc3339(doc.predicate.expires)}; not signing it")
    if offline:
        raise InputError("keyless signing needs the network (Fulcio, Rekor); sign with --key offline")
    with needs("signing", "keyless signing"):
        from sigstore.models import ClientTrustConfig
        from sigstore.oidc import IdentityToken, Issuer, detect_credential

        from gate.signing.backends.sigstore import sign_dsse
    try:
        config = ClientTrustConfig.production()
        token_text = os.environ.get("SIGSTORE_ID_TOKEN") or detect_credential()
        if token_text:
            token = IdentityToken(token_text)
        else:
            token = Issuer(config.signing_config.get_oidc_url()).identity_token()
        return sign_dsse(doc.payload, token, config)
    except (InputError, MissingExtraError):
        raise
    except Exception as exc:
        raise InputError(f"keyless signing failed: {type(exc).__name__}: {exc}") from None


def _bundle_payload_unverified(raw: bytes, source: str) -> tuple[str, bytes]:
    """The DSSE payload inside a Sigstore bundle, for display or co-signing only."""
    try:
        env = json.loads(raw)["dsseEnvelope"]
        return str(env["payloadType"]), base64.b64decode(env["payload"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InputError(f"{source}: a Sigstore bundle without a DSSE envelope is not a waiver") from None


# ---------------------------------------------------------------------------------------------
# Verification: who signed what


@dataclass
class _FileCheck:
    """One waiver file after its signatures were checked."""

    path: str
    sha256: str
    payload: bytes | None = None  # set only when at least one trusted signature holds
    payload_type: str = ""
    signers: list[str] = field(default_factory=list)  # reviewer id per good signature, duplicates kept
    signer_keys: list[str | None] = field(default_factory=list)  # key id per good signature (None: keyless)
    notes: list[str] = field(default_factory=list)  # signatures that do not count, and why
    error: str | None = None  # rejected before its payload could be trusted


@dataclass(frozen=True)
class WaiverFile:
    path: Path
    raw: bytes

    @property
    def sha256(self) -> str:
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()


class _Trust:
    """The reviewers of one tier and their parsed keys."""

    def __init__(
        self, reviewers: Iterable[Reviewer], tier: str, offline: bool, trust_root: str | None = None
    ) -> None:
        self.tier = tier
        self.offline = offline
        self.trust_root = trust_root
        self.reviewers = list(reviewers)
        self.keys: list[Any] = []
        self.owner: dict[str, str] = {}  # key id -> reviewer id
        for r in self.reviewers:
            for j, pem in enumerate(r.keys):
                key = load_public_key(pem.encode(), f"policy: waivers.reviewers '{r.id}' keys[{j}]")
                kid = key_id(key)
                if kid in self.owner and self.owner[kid] != r.id:
                    raise InputError(
                        f"policy: waivers.reviewers '{self.owner[kid]}' and '{r.id}' share a key"
                    )
                self.owner[kid] = r.id
                self.keys.append(key)

    def check(self, wf: WaiverFile) -> _FileCheck:
        out = _FileCheck(path=str(wf.path), sha256=wf.sha256)
        try:
            kind = kind_of(wf.raw, out.path)
        except InputError as exc:
            out.error = exc.message.removeprefix(f"{out.path}: ")
            return out
        if kind == "statement":
            out.error = "unsigned: no reviewer signed this waiver (model-gate waiver sign)"
            return out
        if kind == "bundle":
            return self._check_bundle(wf, out)
        try:
            verified, sigs = check_signatures(wf.raw, self.keys, out.path)
        except InputError as exc:
            out.error = exc.message.removeprefix(f"{out.path}: ")
            return out
        broken = []
        for s in sigs:
            if s.verified_by:
                out.signers.append(self.owner[s.verified_by])
                out.signer_keys.append(s.verified_by)
            elif s.claimed_keyid in self.owner:
                broken.append(self.owner[s.claimed_keyid])
            else:
                out.notes.append(f"signature {s.index + 1} is by a key the policy does not trust")
        for who in broken:
            out.notes.append(f"the signature by {who} does not verify")
        if not out.signers:
            if broken:
                out.error = (
                    f"bad signature: the signature by {', '.join(dict.fromkeys(broken))} does not verify "
                    "(the waiver was changed after it was signed)"
                )
            else:
                known = ", ".join(r.id for r in self.reviewers) or "nobody"
                out.error = (
                    f"untrusted signer: no signature is by a reviewer the policy trusts at tier "
                    f"{self.tier} (trusted: {known})"
                )
            return out
        out.payload, out.payload_type = verified.payload, verified.payload_type
        return out

    def _check_bundle(self, wf: WaiverFile, out: _FileCheck) -> _FileCheck:
        keyless = [r for r in self.reviewers if r.sigstore is not None]
        if not keyless:
            out.error = (
                f"untrusted signer: a Sigstore bundle, and the policy trusts no Sigstore identity at "
                f"tier {self.tier}"
            )
            return out
        from gate.signing.backends.sigstore import SigstoreTrust, approve
        from gate.signing.trust import SigstoreIdentity

        identities = {
            r.id: SigstoreIdentity(identity=r.sigstore.identity, issuer=r.sigstore.issuer)
            for r in keyless
            if r.sigstore
        }
        trust = SigstoreTrust(
            root=self.trust_root.encode() if self.trust_root is not None else None,
            offline=self.offline,
            setting="waivers",
            root_name="policy setting waivers.sigstore_trust_root",
            how="waivers.sigstore_trust_root in the policy",
        )
        result = approve(wf.raw, identities, trust)
        if isinstance(result, str):
            out.error = result
            return out
        out.payload_type, out.payload, out.signers = result.payload_type, result.payload, result.signers
        out.signer_keys = [None] * len(out.signers)
        return out


# ---------------------------------------------------------------------------------------------
# Deciding: does a verified waiver apply to this release and these findings?


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


def _decide(
    group: list[_FileCheck],
    release: Release | None,
    findings: dict[str, Finding] | None,
    tp: TierPolicy,
    now: dt.datetime,
) -> Decision:
    """Judge one verified waiver. Without a release (or findings) those parts are not judged."""
    from gate.checks import find_rule

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
    rule = find_rule(pred.rule)
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


# ---------------------------------------------------------------------------------------------
# The applier the engine calls


class WaiverSet:
    """Waiver files read from a directory; `apply` implements gate.engine.WaiverApplier."""

    def __init__(
        self, files: list[WaiverFile], *, directory: Path | None = None, offline: bool = False
    ) -> None:
        self.files = files
        self.directory = directory
        self.offline = offline

    def apply(
        self, findings: list[Finding], release: Release, policy: TierPolicy, clock: Clock
    ) -> tuple[list[Finding], list[WaiverOutcome]]:
        self._refuse_inside(release)
        decisions = self.decide(findings, release, policy, clock())
        return self.merge(findings, decisions, policy)

    def _refuse_inside(self, release: Release) -> None:
        for place in [self.directory] if self.directory else [f.path for f in self.files]:
            if place.resolve().is_relative_to(release.root):
                raise InputError(
                    f"{place}: waivers inside the release directory would change the release digest "
                    "they are bound to",
                    hint="Keep waivers next to the release (e.g. waivers/ beside it), not in it.",
                )

    def decide(
        self, findings: list[Finding], release: Release, policy: TierPolicy, now: dt.datetime
    ) -> list[Decision]:
        trust = _Trust(
            policy.waivers.reviewers, policy.tier.value, self.offline, policy.waivers.sigstore_trust_root
        )
        by_id = {f.id: f for f in findings}
        decisions: list[Decision] = []
        groups: dict[bytes, list[_FileCheck]] = {}
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
            decisions.append(_decide(group, release, by_id, policy, now))
        return decisions

    def merge(
        self, findings: list[Finding], decisions: list[Decision], tp: TierPolicy
    ) -> tuple[list[Finding], list[WaiverOutcome]]:
        from gate.engine import decide_blocking

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
        out += [decide_blocking(f, tp) for f in extra]
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


# ---------------------------------------------------------------------------------------------
# `model-gate waiver verify`


def default_requester() -> str | None:
    """The requester when --requester is not given: git's configured e-mail address."""
    import subprocess

    from gate.childenv import child_env

    try:
        proc = subprocess.run(
            ["git", "config", "user.email"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env=child_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


@dataclass
class VerifyResult:
    ok: bool
    lines: list[str]


def verify_without_release(
    raw: bytes, path: Path, policy: Any, now: dt.datetime, offline: bool
) -> VerifyResult:
    """Signature, signers, time and lifetime for every tier; release and findings not judged."""
    from gate.risk import Tier

    wf = WaiverFile(path=path, raw=raw)
    lines: list[str] = []
    ok = False
    for tier in Tier:
        tp: TierPolicy = policy.for_tier(tier)
        fc = _Trust(tp.waivers.reviewers, tier.value, offline, tp.waivers.sigstore_trust_root).check(wf)
        if fc.payload is None:
            lines.append(f"tier {tier.value}: rejected: {fc.error}")
            continue
        d = _decide([fc], None, None, tp, now)
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
