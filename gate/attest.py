"""The signed verdict: an in-toto Statement with the SLSA Verification Summary predicate.

`model-gate check --attest PATH` writes one after every judged run; a deploy
step runs `model-gate verify-attestation` to admit only releases with a
passing, fresh verdict signed by the gate's key. The predicate follows
https://slsa.dev/spec/v1.0/verification_summary; the gate's per-check summary
rides in an extension field named by a URI, as in-toto's parsing rules allow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from gate.errors import InputError
from gate.extras import MissingExtraError, needs
from gate.inventory import SUBJECT_FORMAT
from gate.models.base import StrictModel
from gate.models.finding import Finding
from gate.models.report import CheckStatus, Report, Verdict, WaiverStatus
from gate.release import Release
from gate.signing.dsse import INTOTO_PAYLOAD_TYPE, Verified, check_signatures, parse_envelope, sign_envelope
from gate.signing.subject import (
    Subjects,
    release_subject_digest,
    release_subjects,
    split_digest,
    subject_name,
)
from gate.timefmt import human_days, parse_rfc3339, rfc3339

VSA_PREDICATE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://model-gate.dev/verifier/v1"
SUMMARY_FIELD = "https://model-gate.dev/vsa-summary/v1"
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_ATTESTATION_BYTES = 4 * 1024 * 1024


class ResourceDescriptor(StrictModel):
    uri: str
    digest: dict[str, str]


class VsaPolicy(StrictModel):
    uri: str
    digest: dict[str, str]


class VsaVerifier(StrictModel):
    id: str
    version: dict[str, str] = Field(default_factory=dict)


class VsaPredicate(StrictModel):
    """The fields of SLSA VSA v1 the gate writes and reads, plus its own summary."""

    model_config = StrictModel.model_config | {"extra": "allow"}  # extension fields are URIs

    verifier: VsaVerifier
    timeVerified: str
    resourceUri: str
    policy: VsaPolicy
    inputAttestations: tuple[ResourceDescriptor, ...] = ()
    verificationResult: str
    verifiedLevels: tuple[str, ...]
    dependencyLevels: dict[str, int] = Field(default_factory=dict)
    slsaVersion: str = "1.0"


def summary_items(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """The finding list a signed verdict carries, so that it can serve as a baseline (gate.baseline
    reads it back)."""
    return [{"id": f.id, "severity": f.severity.value, "title": f.title[:200]} for f in findings]


def _tier_level(tier: str) -> str:
    # SLSA reserves values starting with SLSA_ for its own tracks.
    return f"MODEL_GATE_TIER_{tier.upper()}"


def input_attestations(report: Report, release: Release | None) -> list[dict[str, Any]]:
    """Digests of the signed inputs the verdict relied on: signature, provenance, applied waivers."""
    out: list[dict[str, Any]] = []
    if release is not None:
        entries = release.inventory.by_path()
        for name in ("signature", "provenance"):
            rel = getattr(release.manifest, name)
            entry = entries.get(rel) if rel else None
            if entry is not None and entry.sha256:
                out.append({"uri": f"release:{rel}", "digest": {"sha256": entry.sha256}})
    for w in report.waivers:
        if w.status is not WaiverStatus.APPLIED:
            continue
        for path, digest in zip(w.path.split(", "), w.sha256, strict=False):
            algo, value = split_digest(digest)
            out.append({"uri": f"waiver:{Path(path).name}", "digest": {algo: value}})
    return out


def build_statement(
    report: Report,
    release: Release | None,
    *,
    resource_uri: str | None = None,
) -> dict[str, Any]:
    """The VSA statement for a report, as a JSON-ready dict."""
    if report.partial:
        raise InputError(
            "a partial run cannot be attested: --only left out "
            + ", ".join(report.left_out or ("checks the policy requires",)),
            hint="Run every check the policy lists (drop --only) to attest the release.",
        )
    digest = release_subject_digest(release) if release is not None else report.release.digest
    subjects = _subjects(report, release)
    passed = report.verdict in (Verdict.PASS, Verdict.WARN)
    levels = [_tier_level(report.tier.level.value)] if passed else ["FAILED"]
    prov = next((c for c in report.checks if c.id == "provenance"), None)
    build_level = prov.details.get("slsa_build_level") if prov else None
    if passed and prov is not None and prov.status is CheckStatus.PASSED and isinstance(build_level, int):
        levels.insert(0, f"SLSA_BUILD_LEVEL_{build_level}")
    name = subject_name(release) if release else f"{report.release.name}@{report.release.version}"
    summary = {
        "verdict": report.verdict.value,
        "partial": False,
        "exitCode": report.exit_code,
        "release": {
            "name": report.release.name,
            "version": report.release.version,
            "digest": digest,
            # How the digest was computed (gate.inventory.subject_listing): 2 binds symlink targets.
            "digestFormat": SUBJECT_FORMAT,
        },
        "tier": report.tier.level.value,
        "euAiAct": report.tier.eu_ai_act,
        "policy": {
            "name": report.policy.name,
            "sha256": report.policy.sha256,
            "notes": list(report.policy.notes),
        },
        "checks": [
            {"id": c.id, "status": c.status.value, "required": c.required, "summary": c.summary[:500]}
            for c in report.checks
        ],
        "findings": {
            "total": len(report.findings),
            "blocking": [f.id for f in report.findings if f.effective_blocking],
            "waived": [f.id for f in report.findings if f.waiver],
            "bySeverity": report.counts(),
            # Every finding, so that this verdict can serve as a signed baseline (gate.baseline).
            "items": summary_items(report.findings),
        },
        "waivers": [
            {"id": w.id, "status": w.status.value, "findings": list(w.findings), "expires": w.expires}
            for w in report.waivers
        ],
    }
    predicate = {
        "verifier": {"id": VERIFIER_ID, "version": {"model-gate": report.gate_version}},
        "timeVerified": rfc3339(dt.datetime.fromisoformat(report.generated_at)),
        "resourceUri": resource_uri or f"urn:model-gate:release:{name}",
        "policy": {"uri": report.policy.source, "digest": {"sha256": report.policy.sha256}},
        "inputAttestations": input_attestations(report, release),
        "verificationResult": "PASSED" if passed else "FAILED",
        "verifiedLevels": levels,
        "slsaVersion": "1.0",
        SUMMARY_FIELD: summary,
    }
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects.statement_subjects(),
        "predicateType": VSA_PREDICATE,
        "predicate": predicate,
    }


def _subjects(report: Report, release: Release | None) -> Subjects:
    """The release digest; and the model root when this run verified a trusted model signature
    that every model file matches."""
    if release is None:
        return Subjects(name=f"{report.release.name}@{report.release.version}", release=report.release.digest)
    sig = next((c for c in report.checks if c.id == "model-signature"), None)
    verified = (
        sig is not None
        and sig.status in (CheckStatus.PASSED, CheckStatus.WARNED)
        and sig.details.get("trusted") is True
        and not any(f.check == "model-signature" and f.blocking for f in report.findings)
    )
    return release_subjects(release, model_root=verified)


def statement_bytes(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def sign_attestation(statement: dict[str, Any], private_key: Any) -> bytes:
    return sign_envelope(statement_bytes(statement), private_key)


def keyless_signer() -> Callable[[dict[str, Any]], bytes]:
    """A Sigstore signer (Fulcio certificate for the CI's OIDC identity, Rekor entry).

    The identity token is found now, before the checks run, so that a missing
    `id-token: write` fails fast rather than after a long run.
    """
    import os

    with needs("signing", "keyless attestations"):
        from sigstore.oidc import IdentityToken, detect_credential
    try:
        raw = os.environ.get("SIGSTORE_ID_TOKEN") or detect_credential()
    except Exception as exc:
        raise InputError(f"keyless attestation: cannot get an OIDC identity token: {exc}") from None
    if not raw:
        raise InputError(
            "keyless attestation: no OIDC identity token in this environment",
            hint="Grant `id-token: write` in GitHub Actions, set SIGSTORE_ID_TOKEN, or use --attest-key.",
        )
    try:
        token = IdentityToken(raw)
    except Exception as exc:
        raise InputError(f"keyless attestation: unusable identity token: {exc}") from None

    def sign(statement: dict[str, Any]) -> bytes:
        from gate.signing.backends.sigstore import sign_dsse

        try:
            return sign_dsse(statement_bytes(statement), token)
        except MissingExtraError:
            raise
        except Exception as exc:
            raise InputError(f"keyless attestation failed: {type(exc).__name__}: {exc}") from None

    return sign


def write_attestation(path: Path, data: bytes, release_root: Path | None) -> str:
    """Write the attestation; returns its sha256. Never inside the release (it would change its digest)."""
    from gate.safewrite import write_file

    refuse_inside(path, release_root, "--attest")
    write_file(path, data, what="the attestation")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def refuse_inside(path: Path, release_root: Path | None, option: str) -> None:
    if release_root is None:
        return
    if path.resolve().is_relative_to(release_root.resolve()):
        raise InputError(
            f"{path}: {option} points inside the release directory",
            hint="Files written into the release change its digest; write them next to it.",
        )


# ---------------------------------------------------------------------------------------------
# Verification, for the deploy step


@dataclass
class AttestationCheck:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    subject: str | None = None
    time_verified: str | None = None
    result: str | None = None
    policy_sha256: str | None = None
    verdict: str | None = None


@dataclass(frozen=True)
class KeylessSigner:
    """A Sigstore identity the deploy step trusts, and optionally a private trusted root."""

    identity: str
    issuer: str
    trust_root: str | None = None  # trusted_root.json text; unset: Sigstore's public good
    offline: bool = False


def _is_bundle(raw: bytes, source: str) -> bool:
    from gate.signing.document import is_bundle, parse_json_document

    try:
        return is_bundle(parse_json_document(raw, source))
    except InputError:
        return False  # not JSON at all: parse_envelope names the problem


def _verified_payload(
    raw: bytes, keys: list[Any], keyless: KeylessSigner | None, source: str
) -> Verified | str:
    """The payload once a trusted signature holds, or why not. Malformed input raises InputError."""
    if _is_bundle(raw, source):
        if keyless is None:
            return "a Sigstore bundle: give --identity and --issuer to verify it"
        from gate.signing.backends.sigstore import SigstoreTrust, approve
        from gate.signing.trust import SigstoreIdentity

        trust = SigstoreTrust(
            root=keyless.trust_root.encode() if keyless.trust_root is not None else None,
            offline=keyless.offline,
            setting="verify-attestation",
            root_name="--sigstore-trust-root",
            how="--sigstore-trust-root",
        )
        identity = SigstoreIdentity(identity=keyless.identity, issuer=keyless.issuer)
        got = approve(raw, {"signer": identity}, trust)
        if isinstance(got, str):
            return got
        return Verified(payload=got.payload, payload_type=got.payload_type, key_ids=tuple(got.signers))
    parse_envelope(raw, source)  # malformed envelopes are bad input, not a rejection
    if not keys:
        return "a DSSE envelope: give --key to verify it"
    verified, _ = check_signatures(raw, keys, source)
    if not verified.key_ids:
        return "not signed by the given key (bad signature or another signer)"
    return verified


def verify_attestation(
    raw: bytes,
    *,
    release_digest: str,
    keys: list[Any],
    now: dt.datetime,
    max_age: dt.timedelta | None,
    policy_sha256: str | None = None,
    source: str = "attestation",
    keyless: KeylessSigner | None = None,
    model_root: str | None = None,
) -> AttestationCheck:
    """Check signature, subject, result and freshness. Malformed input raises InputError."""
    if len(raw) > MAX_ATTESTATION_BYTES:
        raise InputError(f"{source}: larger than {MAX_ATTESTATION_BYTES} bytes; not an attestation")
    verified = _verified_payload(raw, keys, keyless, source)
    if isinstance(verified, str):
        return AttestationCheck(False, [verified])
    if verified.payload_type != INTOTO_PAYLOAD_TYPE:
        return AttestationCheck(False, [f"payloadType is '{verified.payload_type[:80]}', not in-toto"])
    try:
        st = verified.statement(source)
    except InputError as exc:
        return AttestationCheck(False, [exc.message.removeprefix(f"{source}: ")])
    out = AttestationCheck(True)
    if st.predicateType != VSA_PREDICATE:
        return AttestationCheck(False, [f"predicateType is '{st.predicateType[:100]}', not {VSA_PREDICATE}"])
    try:
        pred = VsaPredicate.model_validate(st.predicate)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        return AttestationCheck(False, [f"predicate.{where}: {err['msg']}"])
    out.result = pred.verificationResult
    out.time_verified = pred.timeVerified
    out.policy_sha256 = pred.policy.digest.get("sha256")
    ext = st.predicate.get(SUMMARY_FIELD)
    out.verdict = str(ext.get("verdict")) if isinstance(ext, dict) else None
    # Absent in attestations made before partial runs existed: those were full runs.
    if isinstance(ext, dict) and ext.get("partial") not in (None, False):
        out.reasons.append("the verdict is not a full run: a partial run (--only) judges no release")
    if pred.verifier.id != VERIFIER_ID:
        out.reasons.append(f"verifier.id is '{pred.verifier.id[:100]}', not {VERIFIER_ID}")
    algo, _value = split_digest(release_digest)
    out.subject = next((f"{algo}:{s.digest[algo]}" for s in st.subject if s.digest.get(algo)), None)
    mine = Subjects(name="", release=release_digest, model_root=model_root)
    refused = mine.refusal([dict(s.digest) for s in st.subject], "attestation")
    if refused:
        out.reasons.append(refused)
    if pred.verificationResult != "PASSED":
        out.reasons.append(f"verificationResult is {pred.verificationResult}")
    try:
        when = parse_rfc3339(pred.timeVerified, "predicate.timeVerified")
    except InputError as exc:
        out.reasons.append(exc.message)
    else:
        if when > now + CLOCK_SKEW:
            out.reasons.append(f"timeVerified {pred.timeVerified} is in the future")
        elif max_age is not None and now - when > max_age:
            out.reasons.append(
                f"stale: verified {human_days(now - when)} ago, more than --max-age {human_days(max_age)}"
            )
    if policy_sha256 is not None:
        want = policy_sha256.removeprefix("sha256:")
        if out.policy_sha256 != want:
            out.reasons.append(
                f"judged under policy sha256:{(out.policy_sha256 or '?')[:12]}…, not sha256:{want[:12]}…"
            )
    out.ok = not out.reasons
    return out


def load_release_digest(release_dir: Path) -> str:
    """Hash a release the way `check` does, and return its subject digest."""
    return load_release_subjects(release_dir).release


def load_release_subjects(release_dir: Path) -> Subjects:
    """Hash a release the way `check` does (with the digests its model signature needs)."""
    from gate.inventory import build_inventory
    from gate.release import load_manifest
    from gate.signing.model_format import digest_requests

    loaded = load_manifest(release_dir)
    requests = digest_requests(loaded.manifest, loaded.root)
    release = Release(
        root=loaded.root,
        manifest=loaded.manifest,
        doc=loaded.doc,
        inventory=build_inventory(loaded.root, requests),
    )
    return release_subjects(release)
