"""Who signed a model signature or a provenance document, and does the policy trust them?

Shared by the `model-signature` and `provenance` checks. Three ways to sign are
understood, each with its own trust anchor pinned in the policy:

- a **key**: a Sigstore bundle whose verification material names a public key
  (what `model_signing sign key` writes), or a bare DSSE envelope; trusted when
  one of the policy's `trusted_keys` verifies it;
- a **certificate chain**: a bundle carrying an X.509 chain without a
  transparency-log entry (what `model_signing sign certificate` writes);
  trusted when the chain leads to one of the policy's
  `certificate_authorities` (never the system or web CAs), every certificate
  is valid at the gate's clock, the leaf may sign code and, when the policy
  pins them, the leaf's fingerprint is pinned;
- **Sigstore keyless**: a bundle with a Fulcio certificate and a Rekor entry;
  verified by sigstore-python against the trust root file the policy names
  (offline) or the public-good instance (online), then matched against the
  policy's `sigstore_identities` field by field.

Signatures are verified over the raw payload bytes before the payload is
parsed. A problem with the signature is returned as a `Problem` for the
calling check to turn into a finding; a problem with the policy (a key file
that cannot be read) raises, because then the check cannot complete.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from gate.dsse import Statement, Verified, key_id, load_public_key, verify_envelope
from gate.errors import CheckError, InputError
from gate.extras import needs
from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity
from gate.models.policy import Stricter, TrustFile

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_TRUST_FILE_BYTES = 4 * 1024 * 1024
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"

# Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
OID_GITHUB_REPOSITORY_V1 = "1.3.6.1.4.1.57264.1.5"
OID_GITHUB_REF_V1 = "1.3.6.1.4.1.57264.1.6"
OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
OID_SOURCE_REPOSITORY_URI = "1.3.6.1.4.1.57264.1.12"
OID_SOURCE_REPOSITORY_REF = "1.3.6.1.4.1.57264.1.14"
OID_BUILD_CONFIG_URI = "1.3.6.1.4.1.57264.1.18"
OID_OTHERNAME = "1.3.6.1.4.1.57264.1.7"


# ---------------------------------------------------------------------------
# Policy settings


class SigstoreIdentity(StrictModel):
    """A keyless signer the policy trusts. Every field given must match."""

    identity: str = Field(
        min_length=1,
        description="The certificate's subject: an email, or for CI the workflow URI "
        "(https://github.com/ORG/REPO/.github/workflows/FILE@REF).",
    )
    issuer: str = Field(
        min_length=1, description="OIDC issuer, e.g. https://token.actions.githubusercontent.com."
    )
    repository: str | None = Field(None, description="GitHub Actions: ORG/REPO that ran the workflow.")
    ref: str | None = Field(None, description="GitHub Actions: the git ref, e.g. refs/heads/main.")
    workflow: str | None = Field(
        None, description="GitHub Actions: the workflow file, e.g. .github/workflows/release.yml."
    )


def _normalise_fingerprint(value: str) -> str:
    text = value.strip().lower()
    text = text.removeprefix("sha256:").replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError("must be a SHA-256 fingerprint: 'sha256:<64 hex>' or colon-separated hex")
    return text


class TrustSettings(StrictModel):
    """Trust anchors. Paths are relative to the policy file given on the command line.

    Sources of truth when policies compose (`extends:`): a policy may drop
    signers its parent trusts, but adding one or replacing the trust root is
    an error unless the parent delegates the setting (`delegate:`).
    """

    trusted_keys: Annotated[tuple[str, ...], Stricter.SUBSET, TrustFile.PEM] = Field(
        (), description="PEM public keys (EC P-256/384/521 or Ed25519) whose signatures are trusted."
    )
    certificate_authorities: Annotated[tuple[str, ...], Stricter.SUBSET, TrustFile.PEM] = Field(
        (), description="PEM CA certificates that certificate-chain signatures must lead to."
    )
    leaf_fingerprints: Annotated[tuple[str, ...] | None, Stricter.SUBSET] = Field(
        None,
        description="If set, only signing certificates with these SHA-256 fingerprints are trusted.",
    )
    sigstore_identities: Annotated[tuple[SigstoreIdentity, ...], Stricter.SUBSET] = Field(
        (), description="Keyless signers (Sigstore) the policy trusts."
    )
    trust_root: Annotated[str | None, Stricter.FIXED, TrustFile.JSON] = Field(
        None,
        description="Sigstore trusted_root.json (or client trust config) for offline keyless "
        "verification; without it keyless verification needs the network.",
    )

    @field_validator("leaf_fingerprints")
    @classmethod
    def _fingerprints(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if v is None else tuple(_normalise_fingerprint(x) for x in v)

    def trusts_anything(self) -> bool:
        return bool(self.trusted_keys or self.certificate_authorities or self.sigstore_identities)


def policy_path(policy_dir: Path | None, value: str, setting: str) -> Path:
    path = Path(value)
    if path.is_absolute():
        return path
    if policy_dir is None:
        raise CheckError(
            f"policy setting {setting}: '{value}' is relative, but the policy is a packaged one",
            hint="Use an absolute path, or put the setting in a policy file (paths are relative to it).",
        )
    return policy_dir / path


def _read_policy_file(policy_dir: Path | None, value: str, setting: str, limit: int) -> tuple[str, bytes]:
    """(name for messages, bytes) of a trust file: inline text (as policy loading embeds it) or a path."""
    text = value.lstrip()
    if text.startswith(("-----BEGIN", "{")):
        data = value.encode()
        if len(data) > limit:
            raise CheckError(f"policy setting {setting}: inline value larger than {limit} bytes")
        return f"{setting} (inline)", data
    path = policy_path(policy_dir, value, setting)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise CheckError(f"policy setting {setting}: cannot read '{path}': {exc.strerror or exc}") from None
    if len(data) > limit:
        raise CheckError(f"policy setting {setting}: '{path}' is larger than {limit} bytes")
    return str(path), data


def load_trusted_keys(trust: TrustSettings, policy_dir: Path | None, setting: str) -> list[Any]:
    keys = []
    for value in trust.trusted_keys:
        path, data = _read_policy_file(policy_dir, value, f"{setting}.trusted_keys", MAX_TRUST_FILE_BYTES)
        try:
            keys.append(load_public_key(data, str(path)))
        except InputError as exc:
            raise CheckError(f"policy setting {setting}.trusted_keys: {exc.message}") from None
    return keys


def load_cas(trust: TrustSettings, policy_dir: Path | None, setting: str) -> list[Any]:
    with needs("signing", "signature verification"):
        from cryptography import x509

    cas = []
    for value in trust.certificate_authorities:
        path, data = _read_policy_file(
            policy_dir, value, f"{setting}.certificate_authorities", MAX_TRUST_FILE_BYTES
        )
        try:
            found = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise CheckError(
                f"policy setting {setting}.certificate_authorities: '{path}' is not PEM certificates ({exc})"
            ) from None
        cas += found
    return cas


# ---------------------------------------------------------------------------
# What verification yields


class ProblemKind(StrEnum):
    MALFORMED = "malformed"  # not a readable bundle/envelope/statement
    INVALID = "invalid"  # the signature (or log entry, or chain crypto) does not verify
    UNTRUSTED = "untrusted"  # valid, but by a signer the policy does not trust
    CERT_INVALID = "certificate-invalid"  # expired, not yet valid, not for code signing, bad chain


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def plain_evidence(self) -> dict[str, Any]:
        """The evidence as JSON values (certificate fields, dates and bytes become strings)."""
        return {str(k): _plain(v) for k, v in self.evidence.items()}


def problem_finding(
    make: Callable[..., Finding],
    p: Problem,
    rules: dict[ProblemKind, str],
    path: str,
    required: bool,
    trusted: str,
) -> Finding:
    """The finding for one problem with a signature or provenance (`make` is the check's
    `finding`). Where the tier does not require `trusted` (e.g. "a trusted signature"), an
    unknown signer is a note, not a block: the files are still compared with what it signed."""
    rule = rules[p.kind]
    if p.kind is ProblemKind.UNTRUSTED and not required:
        return make(
            rule,
            f"{p.message} ({trusted} is not required at this tier)",
            path=path,
            key=p.kind.value,
            evidence={**p.plain_evidence(), "required_at_tier": False},
            severity=Severity.INFO,
        )
    return make(rule, p.message, path=path, key=p.kind.value, evidence=p.plain_evidence())


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass(frozen=True)
class Signer:
    method: str  # "key" | "certificate" | "sigstore"
    summary: str  # one line for reports
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyOutcome:
    """`statement` is set only when the signature verifies AND the policy trusts the signer."""

    statement: Statement | None
    signer: Signer | None
    problems: tuple[Problem, ...] = ()


def _fail(kind: ProblemKind, message: str, **evidence: Any) -> VerifyOutcome:
    return VerifyOutcome(None, None, (Problem(kind, message, evidence),))


# ---------------------------------------------------------------------------
# Document shapes (only the parts read before verification)


class PublicKeyIdentifier(StrictModel):
    hint: str | None = None
    # Older model-signing bundles carried these; they are never trusted, only tolerated.
    rawBytes: str | None = None
    keyDetails: str | None = None


class X509Cert(StrictModel):
    rawBytes: str


class X509Chain(StrictModel):
    certificates: tuple[X509Cert, ...] = Field(min_length=1, max_length=10)


class VerificationMaterial(StrictModel):
    publicKey: PublicKeyIdentifier | None = None
    x509CertificateChain: X509Chain | None = None
    certificate: X509Cert | None = None
    tlogEntries: tuple[dict[str, Any], ...] = ()
    timestampVerificationData: dict[str, Any] | None = None


class BundleDoc(StrictModel):
    mediaType: str
    verificationMaterial: VerificationMaterial
    dsseEnvelope: dict[str, Any] | None = None
    messageSignature: dict[str, Any] | None = None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: {err['msg']}"


def parse_json_document(raw: bytes, source: str) -> dict[str, Any]:
    """A signature or provenance file as a JSON object; InputError when it is not one."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InputError(f"{source}: larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:
        if "Extra data" in str(exc):
            # An .intoto.jsonl file with several envelopes: one release has one provenance.
            raise InputError(
                f"{source}: holds several JSON documents; expected one bundle or envelope"
            ) from None
        raise InputError(f"{source}: not JSON (truncated, or not a bundle or envelope)") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object (a Sigstore bundle or a DSSE envelope)")
    return data


def is_bundle(data: dict[str, Any]) -> bool:
    media = data.get("mediaType")
    return isinstance(media, str) and media.startswith(BUNDLE_MEDIA_PREFIX)


def parse_bundle(data: dict[str, Any], source: str) -> BundleDoc:
    try:
        return BundleDoc.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: invalid Sigstore bundle: {_first_error(exc)}") from None


def unverified_payload(data: dict[str, Any], source: str) -> dict[str, Any] | None:
    """The payload of a bundle or envelope WITHOUT verifying it, or None.

    Only for choosing which digests to compute before the release is hashed:
    nothing read here decides anything, the checks verify before they judge.
    """
    env = data.get("dsseEnvelope") if is_bundle(data) else data
    if not isinstance(env, dict) or not isinstance(env.get("payload"), str):
        return None
    try:
        payload = json.loads(base64.b64decode(env["payload"], validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def unverified_statement(raw: bytes, source: str) -> Statement | None:
    """The in-toto Statement a bundle or envelope carries, WITHOUT verifying it, or None.

    Only for comparing the release with what a signer the policy does not trust
    claims: a release that does not match its own declared signature is blocked
    whoever signed it, while a match proves nothing (anyone can sign anything)
    and counts as no trusted signature.
    """
    try:
        data = parse_json_document(raw, source)
    except InputError:
        return None
    env = data.get("dsseEnvelope") if is_bundle(data) else data
    if not isinstance(env, dict) or not isinstance(env.get("payload"), str):
        return None
    try:
        payload = base64.b64decode(env["payload"], validate=True)
        verified = Verified(payload=payload, payload_type=str(env.get("payloadType")), key_ids=())
        return verified.statement(source)
    except (binascii.Error, ValueError, InputError):
        return None


# release.yaml field -> the check that verifies what it declares.
DECLARED_EVIDENCE = (("signature", "model-signature"), ("provenance", "provenance"))


def evidence_checks(manifest: Any) -> list[str]:
    """The checks that must run because release.yaml declares their evidence (at every tier)."""
    return [check for field_name, check in DECLARED_EVIDENCE if getattr(manifest, field_name, None)]


def only_untrusted(outcome: VerifyOutcome) -> bool:
    """The signature is fine as far as the gate can tell; only its signer is not trusted."""
    return bool(outcome.problems) and all(p.kind is ProblemKind.UNTRUSTED for p in outcome.problems)


# ---------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class VerifyContext:
    trust: TrustSettings
    policy_dir: Path | None
    offline: bool
    clock: Callable[[], dt.datetime]
    setting: str  # the policy section, for messages: "checks.model-signature"


def verify_document(raw: bytes, source: str, vctx: VerifyContext) -> VerifyOutcome:
    """Verify a Sigstore bundle or DSSE envelope and decide whether its signer is trusted."""
    try:
        data = parse_json_document(raw, source)
        if not is_bundle(data):
            if "payload" in data and "payloadType" in data:
                return _verify_key(_envelope_bytes(data), None, source, vctx)
            if "mediaType" in data:
                return _fail(ProblemKind.MALFORMED, f"{source}: unsupported bundle media type")
            return _fail(ProblemKind.MALFORMED, f"{source}: neither a Sigstore bundle nor a DSSE envelope")
        bundle = parse_bundle(data, source)
    except InputError as exc:
        return _fail(ProblemKind.MALFORMED, exc.message)
    if bundle.dsseEnvelope is None:
        return _fail(
            ProblemKind.MALFORMED,
            f"{source}: the bundle signs a message, not a DSSE envelope with an in-toto statement",
        )
    vm = bundle.verificationMaterial
    if vm.tlogEntries:
        return _verify_sigstore(raw, source, vctx)
    if vm.publicKey is not None:
        return _verify_key(_envelope_bytes(bundle.dsseEnvelope), vm.publicKey.hint, source, vctx)
    chain = vm.x509CertificateChain.certificates if vm.x509CertificateChain else ()
    if vm.certificate is not None:
        chain = (vm.certificate,)
    if chain:
        return _verify_certificate(_envelope_bytes(bundle.dsseEnvelope), chain, source, vctx)
    return _fail(ProblemKind.MALFORMED, f"{source}: the bundle has no key, certificate or log entry")


def _envelope_bytes(env: dict[str, Any]) -> bytes:
    return json.dumps(env).encode()


def _statement(verified: Verified, source: str) -> Statement | Problem:
    try:
        return verified.statement(source)
    except InputError as exc:
        return Problem(ProblemKind.MALFORMED, exc.message)


def model_signing_key_hint(public_key: Any) -> str:
    """model-signing's key hint: sha256 of the PEM SubjectPublicKeyInfo."""
    with needs("signing", "signature verification"):
        from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _verify_key(envelope: bytes, hint: str | None, source: str, vctx: VerifyContext) -> VerifyOutcome:
    keys = load_trusted_keys(vctx.trust, vctx.policy_dir, vctx.setting)
    if not keys:
        return _fail(
            ProblemKind.UNTRUSTED,
            f"{source}: signed with a key, and the policy trusts no public key",
            key_hint=hint,
        )
    try:
        verified = verify_envelope(envelope, keys, source)
    except InputError as exc:
        return _fail(ProblemKind.MALFORMED, exc.message)
    if not verified.key_ids:
        # Which trusted key the (unsigned) hints name: model-signing's hint, or DSSE key ids.
        keyids = _envelope_keyids(envelope)
        named = [k for k in keys if (hint and model_signing_key_hint(k) == hint) or key_id(k) in keyids]
        if named:
            return _fail(
                ProblemKind.INVALID,
                f"{source}: the signature does not verify with the trusted key it names "
                "(the signed content was altered, or the signature was replaced)",
                key_id=key_id(named[0]),
            )
        return _fail(
            ProblemKind.UNTRUSTED,
            f"{source}: no trusted key verifies the signature (signed by a key the policy does not trust)",
            key_hint=hint,
            trusted_key_ids=[key_id(k) for k in keys],
        )
    st = _statement(verified, source)
    if isinstance(st, Problem):
        return VerifyOutcome(None, None, (st,))
    kid = verified.key_ids[0]
    return VerifyOutcome(st, Signer("key", f"key sha256:{kid[:16]}…", {"key_id": kid}))


def _envelope_keyids(envelope: bytes) -> set[str]:
    try:
        sigs = json.loads(envelope).get("signatures", [])
        return {s["keyid"] for s in sigs if isinstance(s, dict) and isinstance(s.get("keyid"), str)}
    except (ValueError, AttributeError, TypeError):
        return set()


def _load_der(raw_b64: str, source: str, index: int) -> Any:
    with needs("signing", "signature verification"):
        from cryptography import x509

    try:
        return x509.load_der_x509_certificate(base64.b64decode(raw_b64, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{source}: certificate {index} is not a DER certificate ({exc})") from None


def cert_fingerprint(cert: Any) -> str:
    with needs("signing", "signature verification"):
        from cryptography.hazmat.primitives import hashes

    return bytes(cert.fingerprint(hashes.SHA256())).hex()


def _verify_certificate(
    envelope: bytes, chain: Sequence[X509Cert], source: str, vctx: VerifyContext
) -> VerifyOutcome:
    with needs("signing", "signature verification"):
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.x509 import verification as xv
        from cryptography.x509.oid import ExtendedKeyUsageOID

    cas = load_cas(vctx.trust, vctx.policy_dir, vctx.setting)
    try:
        certs = [_load_der(c.rawBytes, source, i) for i, c in enumerate(chain)]
    except InputError as exc:
        return _fail(ProblemKind.MALFORMED, exc.message)
    leaf, rest = certs[0], certs[1:]
    fp = cert_fingerprint(leaf)
    subject = leaf.subject.rfc4514_string() or "(empty subject)"
    info = {"subject": subject, "issuer": leaf.issuer.rfc4514_string(), "sha256_fingerprint": fp}
    if not cas:
        return _fail(
            ProblemKind.UNTRUSTED,
            f"{source}: signed with certificate '{subject}', and the policy pins no certificate authority",
            **info,
        )
    now = vctx.clock()
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    validity = {
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "now": now.isoformat(),
    }
    if now > not_after:
        return _fail(
            ProblemKind.CERT_INVALID,
            f"{source}: signing certificate '{subject}' expired on {not_after:%Y-%m-%d %H:%M} UTC",
            **info,
            **validity,
        )
    if now < not_before:
        return _fail(
            ProblemKind.CERT_INVALID,
            f"{source}: signing certificate '{subject}' is not valid before {not_before:%Y-%m-%d %H:%M} UTC",
            **info,
            **validity,
        )
    # The pinned CAs are the only anchors: no system store, no web PKI.
    verifier = (
        xv.PolicyBuilder()
        .store(xv.Store(cas))
        .time(now)
        .max_chain_depth(8)
        .extension_policies(
            ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(), ee_policy=xv.ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, rest)
    except xv.VerificationError as exc:
        reaches = any(c == ca or _issued_by(c, ca) for c in certs for ca in cas)
        kind = ProblemKind.CERT_INVALID if reaches else ProblemKind.UNTRUSTED
        why = (
            "the chain does not lead to a certificate authority the policy pins"
            if kind is ProblemKind.UNTRUSTED
            else "the chain to the pinned certificate authority is not valid"
        )
        return _fail(kind, f"{source}: certificate '{subject}': {why} ({exc})", **info)
    problem = _leaf_usage_problem(leaf, x509, ExtendedKeyUsageOID)
    if problem:
        return _fail(ProblemKind.CERT_INVALID, f"{source}: certificate '{subject}' {problem}", **info)
    pins = vctx.trust.leaf_fingerprints
    if pins is not None and fp not in pins:
        return _fail(
            ProblemKind.UNTRUSTED,
            f"{source}: signing certificate '{subject}' is not one of the pinned leaf certificates",
            expected=list(pins),
            found=fp,
            **info,
        )
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return _fail(
            ProblemKind.MALFORMED, f"{source}: certificate '{subject}' has an unsupported key type", **info
        )
    try:
        verified = verify_envelope(envelope, [key], source)
    except InputError as exc:
        return _fail(ProblemKind.MALFORMED, exc.message)
    if not verified.key_ids:
        return _fail(
            ProblemKind.INVALID,
            f"{source}: the signature does not verify with certificate '{subject}' "
            "(the signed content was altered, or the signature was replaced)",
            **info,
        )
    st = _statement(verified, source)
    if isinstance(st, Problem):
        return VerifyOutcome(None, None, (st,))
    return VerifyOutcome(st, Signer("certificate", f"certificate '{subject}' (sha256 {fp[:16]}…)", info))


def _issued_by(cert: Any, ca: Any) -> bool:
    """Whether `ca`'s key signed `cert` (names alone prove nothing)."""
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:  # wrong issuer name, wrong key type or a bad signature all mean no
        return False
    return True


def _leaf_usage_problem(leaf: Any, x509: Any, eku_oids: Any) -> str | None:
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            return "is a CA certificate, not a signing certificate"
    except x509.ExtensionNotFound:
        pass
    usable = False
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            return "may not make digital signatures (key usage)"
        usable = True
    except x509.ExtensionNotFound:
        pass
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if eku_oids.CODE_SIGNING not in eku:
            return "is not for code signing (extended key usage)"
        usable = True
    except x509.ExtensionNotFound:
        pass
    return None if usable else "states neither key usage nor extended key usage for signing"


# --- Sigstore keyless ------------------------------------------------------


def _der_utf8(value: bytes) -> str | None:
    """Decode a DER UTF8String (Fulcio's v2 extensions); None when it is not one."""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, pos = value[1], 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 2 or len(value) < 2 + n:
            return None
        length, pos = int.from_bytes(value[2 : 2 + n], "big"), 2 + n
    body = value[pos : pos + length]
    if len(body) != length:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _ext(cert: Any, oid: str, v2: bool) -> str | None:
    with needs("signing", "signature verification"):
        from cryptography import x509

    try:
        raw = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value
    except (x509.ExtensionNotFound, AttributeError):
        return None
    if v2:
        return _der_utf8(bytes(raw))
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def certificate_identity(cert: Any) -> dict[str, Any]:
    """What a Fulcio certificate says about who signed: the fields identities are matched on."""
    with needs("signing", "signature verification"):
        from cryptography import x509

    sans: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans += san.get_values_for_type(x509.RFC822Name)
        sans += san.get_values_for_type(x509.UniformResourceIdentifier)
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id.dotted_string == OID_OTHERNAME:
                text = _der_utf8(other.value)
                if text is not None:
                    sans.append(text)
    except x509.ExtensionNotFound:
        pass
    repo = _ext(cert, OID_GITHUB_REPOSITORY_V1, False)
    source_uri = _ext(cert, OID_SOURCE_REPOSITORY_URI, True)
    if repo is None and source_uri and source_uri.startswith("https://github.com/"):
        repo = source_uri.removeprefix("https://github.com/")
    build_config = _ext(cert, OID_BUILD_CONFIG_URI, True)
    workflow = None
    for uri in [build_config, *sans]:
        m = re.match(r"^https://github\.com/[^/]+/[^/]+/(\.github/workflows/[^@]+)@", uri or "")
        if m:
            workflow = m.group(1)
            break
    return {
        "identity": sans,
        "issuer": _ext(cert, OID_ISSUER_V2, True) or _ext(cert, OID_ISSUER_V1, False),
        "repository": repo,
        "ref": _ext(cert, OID_GITHUB_REF_V1, False) or _ext(cert, OID_SOURCE_REPOSITORY_REF, True),
        "workflow": workflow,
    }


def identity_mismatches(expected: SigstoreIdentity, found: dict[str, Any]) -> list[dict[str, Any]]:
    """Each field of `expected` that the certificate does not match, with expected and found."""
    out: list[dict[str, Any]] = []
    if expected.identity not in found["identity"]:
        out.append({"field": "identity", "expected": expected.identity, "found": found["identity"]})
    if expected.issuer != found["issuer"]:
        out.append({"field": "issuer", "expected": expected.issuer, "found": found["issuer"]})
    if expected.repository is not None:
        want = expected.repository.removeprefix("https://github.com/").rstrip("/")
        if want != found["repository"]:
            out.append({"field": "repository", "expected": want, "found": found["repository"]})
    if expected.ref is not None and expected.ref != found["ref"]:
        out.append({"field": "ref", "expected": expected.ref, "found": found["ref"]})
    if expected.workflow is not None:
        want = expected.workflow.lstrip("/")
        if want != found["workflow"]:
            out.append({"field": "workflow", "expected": want, "found": found["workflow"]})
    return out


class _RecordingPolicy:
    """Lets sigstore-python do every cryptographic check; identity is matched afterwards.

    Matching afterwards, field by field, is what lets a finding say which
    field differed (expected vs found) instead of one opaque error.
    """

    def __init__(self) -> None:
        self.cert: Any = None

    def verify(self, cert: Any) -> None:
        self.cert = cert


def _sigstore_verifier(vctx: VerifyContext) -> Any:
    with needs("signing", "keyless (Sigstore) signature verification"):
        from sigstore.models import ClientTrustConfig, TrustedRoot
        from sigstore.verify import Verifier

    value = vctx.trust.trust_root
    if value is None:
        if vctx.offline:
            raise CheckError(
                f"{vctx.setting}: keyless (Sigstore) verification offline needs a trust root file",
                hint="Set trust_root in the policy to a Sigstore trusted_root.json, "
                "or run without --offline.",
            )
        try:
            return Verifier.production()
        except Exception as exc:
            raise CheckError(f"cannot fetch the Sigstore trust root: {exc}") from None
    path, data = _read_policy_file(vctx.policy_dir, value, f"{vctx.setting}.trust_root", MAX_TRUST_FILE_BYTES)
    try:
        doc = json.loads(data)
        media = doc.get("mediaType", "") if isinstance(doc, dict) else ""
        if "clienttrustconfig" in media:
            root = ClientTrustConfig.from_json(data.decode()).trusted_root
        else:
            from sigstore_models.trustroot import v1 as trustroot_v1

            root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(data))
    except Exception as exc:  # a third-party parser: any failure means an unusable trust root
        raise CheckError(
            f"policy setting {vctx.setting}.trust_root: '{path}' is not a Sigstore trust root ({exc})"
        ) from None
    return Verifier(trusted_root=root)


def _verify_sigstore(raw: bytes, source: str, vctx: VerifyContext) -> VerifyOutcome:
    with needs("signing", "keyless (Sigstore) signature verification"):
        from sigstore.errors import VerificationError
        from sigstore.models import Bundle

    identities = vctx.trust.sigstore_identities
    if not identities:
        return _fail(
            ProblemKind.UNTRUSTED,
            f"{source}: keyless (Sigstore) signature, and the policy trusts no Sigstore identity",
        )
    verifier = _sigstore_verifier(vctx)
    try:
        bundle = Bundle.from_json(raw)
    except Exception as exc:  # sigstore's parser raises several types for hostile input
        return _fail(ProblemKind.MALFORMED, f"{source}: invalid Sigstore bundle ({_short(exc)})")
    recorder = _RecordingPolicy()
    try:
        payload_type, payload = verifier.verify_dsse(bundle, recorder)
    except VerificationError as exc:
        return _fail(ProblemKind.INVALID, f"{source}: Sigstore verification failed: {_short(exc)}")
    except Exception as exc:  # malformed inner structures surface as assorted errors
        return _fail(ProblemKind.MALFORMED, f"{source}: unusable Sigstore bundle ({_short(exc)})")
    found = certificate_identity(bundle.signing_certificate)
    found_summary = {k: found[k] for k in ("identity", "issuer", "repository", "ref", "workflow")}
    results = [(ident, identity_mismatches(ident, found)) for ident in identities]
    trusted = next((ident for ident, miss in results if not miss), None)
    if trusted is None:
        closest, misses = min(results, key=lambda r: len(r[1]))
        fields = ", ".join(m["field"] for m in misses)
        return _fail(
            ProblemKind.UNTRUSTED,
            f"{source}: keyless signer not trusted: {fields} "
            + "; ".join(
                f"{m['field']} expected '{m['expected']}', found '{_show(m['found'])}'" for m in misses
            ),
            mismatches=misses,
            found=found_summary,
            closest_trusted=closest.model_dump(exclude_none=True),
        )
    st = _statement(Verified(payload=payload, payload_type=payload_type, key_ids=()), source)
    if isinstance(st, Problem):
        return VerifyOutcome(None, None, (st,))
    ident = found["identity"][0] if found["identity"] else "?"
    return VerifyOutcome(
        st, Signer("sigstore", f"Sigstore identity {ident} (issuer {found['issuer']})", found_summary)
    )


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
