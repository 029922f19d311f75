"""Signed documents a release declares (its model signature, its provenance): their shapes, and
which backend verifies each.

A document is a Sigstore bundle (key, certificate chain or keyless) or a bare
DSSE envelope. Only the outer structure is read before verification, and only
to pick the backend (`gate.signing.backends`): this is the one place that tells
the kinds apart, for checks, waivers and attestations alike.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import Field, ValidationError

from gate.errors import InputError
from gate.models.base import StrictModel
from gate.signing.dsse import Statement, Verified
from gate.signing.trust import ProblemKind, VerifyContext, VerifyOutcome, fail

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"


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
    env = envelope_of(data)
    if env is None or not isinstance(env.get("payload"), str):
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
    env = envelope_of(data)
    if env is None or not isinstance(env.get("payload"), str):
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


def envelope_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """The DSSE envelope a parsed document carries (a bundle's, or the document itself), or None."""
    env = data.get("dsseEnvelope") if is_bundle(data) else data
    return env if isinstance(env, dict) else None


def verify_document(raw: bytes, source: str, vctx: VerifyContext) -> VerifyOutcome:
    """Verify a Sigstore bundle or DSSE envelope and decide whether its signer is trusted."""
    from gate.signing.backends import certificate, key, sigstore

    try:
        data = parse_json_document(raw, source)
        if not is_bundle(data):
            if "payload" in data and "payloadType" in data:
                return key.verify(envelope_bytes(data), None, source, vctx)
            if "mediaType" in data:
                return fail(ProblemKind.MALFORMED, f"{source}: unsupported bundle media type")
            return fail(ProblemKind.MALFORMED, f"{source}: neither a Sigstore bundle nor a DSSE envelope")
        bundle = parse_bundle(data, source)
    except InputError as exc:
        return fail(ProblemKind.MALFORMED, exc.message)
    if bundle.dsseEnvelope is None:
        return fail(
            ProblemKind.MALFORMED,
            f"{source}: the bundle signs a message, not a DSSE envelope with an in-toto statement",
        )
    vm = bundle.verificationMaterial
    if vm.tlogEntries:
        return sigstore.verify_document(raw, source, vctx)
    if vm.publicKey is not None:
        return key.verify(envelope_bytes(bundle.dsseEnvelope), vm.publicKey.hint, source, vctx)
    chain = vm.x509CertificateChain.certificates if vm.x509CertificateChain else ()
    if vm.certificate is not None:
        chain = (vm.certificate,)
    if chain:
        der = [c.rawBytes for c in chain]
        return certificate.verify(envelope_bytes(bundle.dsseEnvelope), der, source, vctx)
    return fail(ProblemKind.MALFORMED, f"{source}: the bundle has no key, certificate or log entry")


def envelope_bytes(env: dict[str, Any]) -> bytes:
    return json.dumps(env).encode()
