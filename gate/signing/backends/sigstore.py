"""Sigstore backend: keyless signatures (a Fulcio certificate and a Rekor entry in a bundle), the
one Sigstore verifier for model signatures, provenance, waivers and attestations.

Where keyless signatures are anchored is decided here, once, for every caller:

- a trust root given (the policy's `trust_root` / `waivers.sigstore_trust_root`, or
  `--sigstore-trust-root`): a `trusted_root.json` or a client trust config, used as
  is, online or offline; nothing is fetched;
- no trust root, online: Sigstore's public-good root, fetched (and refreshed) with TUF;
- no trust root, offline: refused. The gate never falls back on whatever root a
  local cache or the installed sigstore-python happens to hold: a required
  verification that cannot be anchored fails closed.

sigstore-python does every cryptographic check (certificate chain, SCTs, log
entry, DSSE signature); the signer's identity is matched afterwards, field by
field, so that a refusal can say which field differed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gate.errors import CheckError
from gate.extras import MissingExtraError, needs
from gate.signing.dsse import Verified
from gate.signing.trust import (
    MAX_TRUST_FILE_BYTES,
    Problem,
    ProblemKind,
    Signer,
    SigstoreIdentity,
    VerifyContext,
    VerifyOutcome,
    fail,
    read_policy_file,
    statement_or_problem,
)

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
# Trust root


@dataclass(frozen=True)
class SigstoreTrust:
    """Where keyless signatures are anchored, and how to name that in messages."""

    root: bytes | None  # trusted_root.json or client trust config; None: the public good (online only)
    offline: bool
    setting: str  # what asks for the verification: "checks.model-signature", "waivers", ...
    root_name: str  # names the given root: "policy setting checks.x.trust_root: 'root.json'"
    how: str  # how to give a root: "trust_root in the policy"


def sigstore_verifier(trust: SigstoreTrust) -> Any:
    """sigstore-python's Verifier for this trust, or CheckError (never an unanchored verifier)."""
    if trust.root is None and trust.offline:
        raise CheckError(
            f"{trust.setting}: keyless (Sigstore) verification offline needs a trust root file",
            hint=f"Set {trust.how} to a Sigstore trusted_root.json, or run without --offline.",
        )
    try:
        return _verifier(trust.root)
    except _UnusableRoot as exc:
        raise CheckError(f"{trust.root_name} is not a Sigstore trust root ({exc})") from None
    except _Unreachable as exc:
        raise CheckError(f"cannot fetch the Sigstore trust root: {exc}") from None


class _UnusableRoot(Exception):
    pass


class _Unreachable(Exception):
    pass


@functools.lru_cache(maxsize=8)
def _verifier(root: bytes | None) -> Any:
    """One Verifier per trust root for the whole process (the public good's is fetched once)."""
    with needs("signing", "keyless (Sigstore) signature verification"):
        from sigstore.models import ClientTrustConfig, TrustedRoot
        from sigstore.verify import Verifier

    if root is None:
        try:
            return Verifier.production()
        except Exception as exc:
            raise _Unreachable(str(exc)) from None
    try:
        doc = json.loads(root)
        media = doc.get("mediaType", "") if isinstance(doc, dict) else ""
        if "clienttrustconfig" in media:
            trusted = ClientTrustConfig.from_json(root.decode()).trusted_root
        else:
            from sigstore_models.trustroot import v1 as trustroot_v1

            trusted = TrustedRoot(trustroot_v1.TrustedRoot.from_json(root))
    except Exception as exc:  # a third-party parser: any failure means an unusable trust root
        raise _UnusableRoot(str(exc)) from None
    return Verifier(trusted_root=trusted)


# ---------------------------------------------------------------------------
# Verifying a bundle


@dataclass(frozen=True)
class Keyless:
    """A bundle whose signature sigstore-python verified: its payload and who the certificate names."""

    payload_type: str
    payload: bytes
    found: dict[str, Any]  # certificate_identity() of the signing certificate


@dataclass(frozen=True)
class KeylessFailure:
    stage: Literal["bundle", "verification", "unusable"]
    exc: BaseException
    sigstore_error: bool  # raised by sigstore-python's own error types


class _RecordingPolicy:
    """Lets sigstore-python do every cryptographic check; identity is matched afterwards.

    Matching afterwards, field by field, is what lets a finding say which
    field differed (expected vs found) instead of one opaque error.
    """

    def __init__(self) -> None:
        self.cert: Any = None

    def verify(self, cert: Any) -> None:
        self.cert = cert


def verify_bundle(raw: bytes, trust: SigstoreTrust) -> Keyless | KeylessFailure:
    """Verify a Sigstore bundle's DSSE envelope against the trust root. Trust-root problems raise
    CheckError (and a missing extra MissingExtraError): the verification cannot complete."""
    verifier = sigstore_verifier(trust)
    with needs("signing", "keyless (Sigstore) signature verification"):
        from sigstore.errors import Error as SigstoreError
        from sigstore.errors import VerificationError
        from sigstore.models import Bundle

    try:
        bundle = Bundle.from_json(raw)
    except Exception as exc:  # sigstore's parser raises several types for hostile input
        return KeylessFailure("bundle", exc, isinstance(exc, SigstoreError))
    try:
        payload_type, payload = verifier.verify_dsse(bundle, _RecordingPolicy())
    except VerificationError as exc:
        return KeylessFailure("verification", exc, True)
    except Exception as exc:  # malformed inner structures surface as assorted errors
        return KeylessFailure("unusable", exc, isinstance(exc, SigstoreError))
    found = certificate_identity(bundle.signing_certificate)
    return Keyless(str(payload_type), bytes(payload), found)


def sign_dsse(payload: bytes, token: Any, config: Any = None) -> bytes:
    """Sign an in-toto payload keyless: a Fulcio certificate for the OIDC identity `token`, a Rekor
    entry, both of the public-good instance unless `config` (a ClientTrustConfig) names another.
    Returns the bundle's JSON. Needs the network; errors are sigstore-python's own."""
    with needs("signing", "keyless signing"):
        from sigstore.dsse import Statement as SigstoreStatement
        from sigstore.models import ClientTrustConfig
        from sigstore.sign import SigningContext

    ctx = SigningContext.from_trust_config(config or ClientTrustConfig.production())
    with ctx.signer(token) as signer:
        bundle = signer.sign_dsse(SigstoreStatement(payload))
    return bytes(bundle.to_json().encode()) + b"\n"


# ---------------------------------------------------------------------------
# Who the certificate names


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


def matching(identities: Mapping[str, SigstoreIdentity], found: dict[str, Any]) -> list[str]:
    """The names of the identities the certificate matches in every field."""
    return [name for name, ident in identities.items() if not identity_mismatches(ident, found)]


def _names(found: dict[str, Any]) -> str:
    return f"{', '.join(found['identity']) or 'no identity'} ({found['issuer'] or 'unknown issuer'})"


# ---------------------------------------------------------------------------
# The two ways callers see a result


@dataclass(frozen=True)
class Approval:
    """A verified bundle and the names of the trusted identities its certificate matches."""

    payload_type: str
    payload: bytes
    signers: list[str]


def approve(raw: bytes, identities: Mapping[str, SigstoreIdentity], trust: SigstoreTrust) -> Approval | str:
    """Verify a bundle for any of the named identities (waiver reviewers, an attestation signer).

    Returns the approval, or the one-line reason it is refused: an unverifiable
    bundle, a signer nobody trusts, or a trust root that cannot be loaded.
    """
    try:
        got = verify_bundle(raw, trust)
    except MissingExtraError as exc:
        # A reason, not an exception: the document is refused (and the report says how to fix it).
        return f"{exc.message}; {exc.hint}"
    except CheckError as exc:
        return f"cannot load the Sigstore trust root: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
    if isinstance(got, KeylessFailure):
        if got.stage == "bundle":
            return f"not a valid Sigstore bundle: {type(got.exc).__name__}: {got.exc}"
        if got.sigstore_error:
            return f"bad signature: {got.exc}"
        return f"cannot verify the Sigstore bundle: {type(got.exc).__name__}: {got.exc}"
    signers = matching(identities, got.found)
    if not signers:
        trusted = ", ".join(f"{i.identity} ({i.issuer})" for i in identities.values())
        return f"untrusted signer: the certificate names {_names(got.found)}; the policy trusts {trusted}"
    return Approval(got.payload_type, got.payload, signers)


def verify_document(raw: bytes, source: str, vctx: VerifyContext) -> VerifyOutcome:
    """A keyless model signature or provenance, judged against the policy's `sigstore_identities`."""
    identities = vctx.trust.sigstore_identities
    if not identities:
        return fail(
            ProblemKind.UNTRUSTED,
            f"{source}: keyless (Sigstore) signature, and the policy trusts no Sigstore identity",
        )
    got = verify_bundle(raw, _trust_of(vctx))
    if isinstance(got, KeylessFailure):
        if got.stage == "bundle":
            return fail(ProblemKind.MALFORMED, f"{source}: invalid Sigstore bundle ({_short(got.exc)})")
        if got.stage == "verification":
            return fail(ProblemKind.INVALID, f"{source}: Sigstore verification failed: {_short(got.exc)}")
        return fail(ProblemKind.MALFORMED, f"{source}: unusable Sigstore bundle ({_short(got.exc)})")
    found = got.found
    found_summary = {k: found[k] for k in ("identity", "issuer", "repository", "ref", "workflow")}
    results = [(ident, identity_mismatches(ident, found)) for ident in identities]
    trusted = next((ident for ident, miss in results if not miss), None)
    if trusted is None:
        closest, misses = min(results, key=lambda r: len(r[1]))
        fields = ", ".join(m["field"] for m in misses)
        return fail(
            ProblemKind.UNTRUSTED,
            f"{source}: keyless signer not trusted: {fields} "
            + "; ".join(
                f"{m['field']} expected '{m['expected']}', found '{_show(m['found'])}'" for m in misses
            ),
            mismatches=misses,
            found=found_summary,
            closest_trusted=closest.model_dump(exclude_none=True),
        )
    st = statement_or_problem(
        Verified(payload=got.payload, payload_type=got.payload_type, key_ids=()), source
    )
    if isinstance(st, Problem):
        return VerifyOutcome(None, None, (st,))
    ident = found["identity"][0] if found["identity"] else "?"
    return VerifyOutcome(
        st, Signer("sigstore", f"Sigstore identity {ident} (issuer {found['issuer']})", found_summary)
    )


def _trust_of(vctx: VerifyContext) -> SigstoreTrust:
    setting = vctx.setting
    value = vctx.trust.trust_root
    root, name = None, ""
    if value is not None:
        path, root = read_policy_file(vctx.policy_dir, value, f"{setting}.trust_root", MAX_TRUST_FILE_BYTES)
        name = f"policy setting {setting}.trust_root: '{path}'"
    return SigstoreTrust(root, vctx.offline, setting, name, "trust_root in the policy")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
