"""Who signed a waiver: every signature checked against the reviewers the policy trusts at the
tier (keys through DSSE, identities through the one Sigstore verifier), over the raw bytes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gate.errors import InputError
from gate.models.policy import Reviewer
from gate.signing.dsse import check_signatures
from gate.signing.keys import key_id, load_public_key
from gate.waivers.model import WaiverFile, kind_of


@dataclass
class FileCheck:
    """One waiver file after its signatures were checked."""

    path: str
    sha256: str
    payload: bytes | None = None  # set only when at least one trusted signature holds
    payload_type: str = ""
    signers: list[str] = field(default_factory=list)  # reviewer id per good signature, duplicates kept
    signer_keys: list[str | None] = field(default_factory=list)  # key id per good signature (None: keyless)
    notes: list[str] = field(default_factory=list)  # signatures that do not count, and why
    error: str | None = None  # rejected before its payload could be trusted


class ReviewerTrust:
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

    def check(self, wf: WaiverFile) -> FileCheck:
        out = FileCheck(path=str(wf.path), sha256=wf.sha256)
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

    def _check_bundle(self, wf: WaiverFile, out: FileCheck) -> FileCheck:
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
