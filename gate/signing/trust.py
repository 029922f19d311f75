"""The trust policy: which signers a policy trusts, and what verifying a signed document yields.

The settings (`TrustSettings`: pinned keys, certificate authorities, leaf
fingerprints, Sigstore identities and trust root) are what a policy section
pins; the trust files they name are read here, relative to the policy file.
Verification, whatever the backend (`gate.signing.backends`), ends in a
`VerifyOutcome`: a statement only when the signature verifies AND the signer
is trusted, otherwise `Problem`s for the calling check to turn into findings.
A problem with the policy itself (a key file that cannot be read) raises,
because then the check cannot complete.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from gate.errors import CheckError, InputError
from gate.extras import needs
from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity
from gate.models.policy import Stricter, TrustFile
from gate.signing.dsse import Statement, Verified
from gate.signing.keys import load_public_key

MAX_TRUST_FILE_BYTES = 4 * 1024 * 1024

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


def read_policy_file(policy_dir: Path | None, value: str, setting: str, limit: int) -> tuple[str, bytes]:
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
        path, data = read_policy_file(policy_dir, value, f"{setting}.trusted_keys", MAX_TRUST_FILE_BYTES)
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
        path, data = read_policy_file(
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


def fail(kind: ProblemKind, message: str, **evidence: Any) -> VerifyOutcome:
    return VerifyOutcome(None, None, (Problem(kind, message, evidence),))


def statement_or_problem(verified: Verified, source: str) -> Statement | Problem:
    """The in-toto Statement of a verified payload, or why the payload is not one."""
    try:
        return verified.statement(source)
    except InputError as exc:
        return Problem(ProblemKind.MALFORMED, exc.message)


@dataclass(frozen=True)
class VerifyContext:
    trust: TrustSettings
    policy_dir: Path | None
    offline: bool
    clock: Callable[[], dt.datetime]
    setting: str  # the policy section, for messages: "checks.model-signature"


def only_untrusted(outcome: VerifyOutcome) -> bool:
    """The signature is fine as far as the gate can tell; only its signer is not trusted."""
    return bool(outcome.problems) and all(p.kind is ProblemKind.UNTRUSTED for p in outcome.problems)
