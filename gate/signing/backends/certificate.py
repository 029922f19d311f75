"""Certificate backend: a bundle carrying an X.509 chain (what `model_signing sign certificate`
writes), trusted when the chain leads to a CA the policy pins (never the system or web CAs),
every certificate is valid at the gate's clock, the leaf may sign code and, when the policy pins
them, the leaf's fingerprint is pinned."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from gate.errors import InputError
from gate.extras import needs
from gate.signing.dsse import verify_envelope
from gate.signing.trust import (
    Problem,
    ProblemKind,
    Signer,
    VerifyContext,
    VerifyOutcome,
    fail,
    load_cas,
    statement_or_problem,
)


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


def verify(envelope: bytes, chain: Sequence[str], source: str, vctx: VerifyContext) -> VerifyOutcome:
    """`chain`: the bundle's certificates (base64 DER), leaf first."""
    with needs("signing", "signature verification"):
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.x509 import verification as xv
        from cryptography.x509.oid import ExtendedKeyUsageOID

    cas = load_cas(vctx.trust, vctx.policy_dir, vctx.setting)
    try:
        certs = [_load_der(c, source, i) for i, c in enumerate(chain)]
    except InputError as exc:
        return fail(ProblemKind.MALFORMED, exc.message)
    leaf, rest = certs[0], certs[1:]
    fp = cert_fingerprint(leaf)
    subject = leaf.subject.rfc4514_string() or "(empty subject)"
    info = {"subject": subject, "issuer": leaf.issuer.rfc4514_string(), "sha256_fingerprint": fp}
    if not cas:
        return fail(
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
        return fail(
            ProblemKind.CERT_INVALID,
            f"{source}: signing certificate '{subject}' expired on {not_after:%Y-%m-%d %H:%M} UTC",
            **info,
            **validity,
        )
    if now < not_before:
        return fail(
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
        return fail(kind, f"{source}: certificate '{subject}': {why} ({exc})", **info)
    problem = _leaf_usage_problem(leaf, x509, ExtendedKeyUsageOID)
    if problem:
        return fail(ProblemKind.CERT_INVALID, f"{source}: certificate '{subject}' {problem}", **info)
    pins = vctx.trust.leaf_fingerprints
    if pins is not None and fp not in pins:
        return fail(
            ProblemKind.UNTRUSTED,
            f"{source}: signing certificate '{subject}' is not one of the pinned leaf certificates",
            expected=list(pins),
            found=fp,
            **info,
        )
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return fail(
            ProblemKind.MALFORMED, f"{source}: certificate '{subject}' has an unsupported key type", **info
        )
    try:
        verified = verify_envelope(envelope, [key], source)
    except InputError as exc:
        return fail(ProblemKind.MALFORMED, exc.message)
    if not verified.key_ids:
        return fail(
            ProblemKind.INVALID,
            f"{source}: the signature does not verify with certificate '{subject}' "
            "(the signed content was altered, or the signature was replaced)",
            **info,
        )
    st = statement_or_problem(verified, source)
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
