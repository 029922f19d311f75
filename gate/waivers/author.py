"""Writing a waiver: a new statement for a release's findings, checked against the report that
raised them, and signed by a reviewer with a key (DSSE) or keyless (Sigstore)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gate.errors import InputError
from gate.extras import MissingExtraError, needs
from gate.release import Release
from gate.signing.dsse import (
    INTOTO_PAYLOAD_TYPE,
    STATEMENT_V1,
    Statement,
    add_signature,
    parse_envelope,
    sign_envelope,
)
from gate.signing.keys import key_id
from gate.signing.subject import release_subjects
from gate.timefmt import rfc3339
from gate.waivers.model import (
    FINDING_ID,
    WAIVER_PREDICATE,
    Justification,
    Kind,
    ReleaseRef,
    RuleLookup,
    WaiverPredicate,
    kind_of,
    msg,
    parse_waiver_statement,
)


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
    rules: RuleLookup | None = None,
) -> bytes:
    """An unsigned waiver statement for a release, as canonical JSON bytes (what gets signed).

    `requester_key` (a public key) ties the requester to a key: a signature by it never approves.
    `rules` is the rule catalogue (the command passes it): a rule it does not know, or one that
    can never be waived, is refused here already. Without it only the form of the ids is checked
    here; whether the rule may be waived is decided when the waiver is applied.
    """
    if not findings:
        raise InputError("waiver new: give at least one --finding ID (from the report)")
    codes = set()
    for fid in findings:
        m = FINDING_ID.match(fid.strip())
        if not m:
            raise InputError(
                f"--finding {fid}: not a finding id",
                hint="Finding ids look like GATE-RI005-0123456789abcdef; the report lists them.",
            )
        codes.add(m.group(1))
    if len(codes) > 1:
        raise InputError(
            f"--finding: the ids belong to several rules ({', '.join(sorted(codes))})",
            hint="A waiver accepts one risk: write one waiver per rule.",
        )
    code = codes.pop()
    rule = rules(code) if rules is not None else None
    if rules is not None and rule is None:
        raise InputError(f"--finding: unknown rule {code}")
    if rule is not None and not rule.waivable:
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
        raise InputError(f"waiver new: {where}: {msg(err)}") from None
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
