"""The release's model digest: what a serving manifest must name to deploy this release.

It is the root digest that OpenSSF model signing (model-signing 1.x, default
settings: file serialization, sha256, git files ignored) puts in the subject of
its signature: sha256 over the concatenated raw sha256 digests of the files
under `model.path`, ordered by relative path. So it is one value whether or not
the release is signed, it can be computed without the signing tools, and it is
computed here from the release inventory, without reading the model again.

A single-file model (`model.path` names a file) has the digest of that one file
hashed again, as model-signing does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from gate.release import Release

SIGNING_IGNORED = (".git", ".gitattributes", ".github", ".gitignore")
BUNDLE_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ReleaseDigests:
    computed: str | None  # "sha256:<hex>"; None when the model path holds no regular file
    signed: str | None  # the signature bundle's subject digest, when a bundle is shipped and readable
    files: int
    note: str = ""
    stale: bool = False  # the bundle signs sha256 per file, yet the files give another digest

    def accepted(self) -> list[str]:
        signed = None if self.stale else self.signed
        return [d for d in dict.fromkeys((self.computed, signed)) if d]


def model_root_digest(release: Release) -> tuple[str | None, int]:
    base = release.manifest.model.path.rstrip("/")
    entries = [e for e in release.inventory.under(base) if e.kind == "file" and e.sha256]
    signature = release.manifest.signature
    if len(entries) == 1 and entries[0].path == base:
        return "sha256:" + hashlib.sha256(bytes.fromhex(entries[0].sha256 or "")).hexdigest(), 1
    keyed: list[tuple[PurePosixPath, str]] = []
    for e in entries:
        rel = PurePosixPath(e.path).relative_to(base) if base not in ("", ".") else PurePosixPath(e.path)
        if rel.parts and rel.parts[0] in SIGNING_IGNORED:
            continue
        if signature and e.path == signature:
            continue
        keyed.append((rel, e.sha256 or ""))
    if not keyed:
        return None, 0
    h = hashlib.sha256()
    for _rel, hexdigest in sorted(keyed):
        h.update(bytes.fromhex(hexdigest))
    return "sha256:" + h.hexdigest(), len(keyed)


def signed_subject_digest(release: Release) -> tuple[str | None, str, bool]:
    """The subject digest in the release's model-signing bundle, unverified (the signature check verifies)."""
    rel = release.manifest.signature
    if not rel:
        return None, "", False
    path = release.path(rel)
    try:
        if not path.is_file() or path.stat().st_size > BUNDLE_MAX_BYTES:
            return None, f"signature bundle '{rel}' missing or too large", False
        bundle = json.loads(path.read_bytes())
        payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True))
        subjects = payload["subject"]
        value = subjects[0]["digest"]["sha256"]
        if len(subjects) != 1 or not isinstance(value, str) or len(value) != 64:
            return None, f"signature bundle '{rel}' has no single sha256 subject", False
        int(value, 16)
        ser = payload.get("predicate", {}).get("serialization", {})
        default = ser.get("method") == "files" and ser.get("hash_type") == "sha256"
        return f"sha256:{value.lower()}", "", default
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, f"signature bundle '{rel}' is not a readable model-signing bundle", False


def release_digests(release: Release) -> ReleaseDigests:
    computed, files = model_root_digest(release)
    signed, note, default_settings = signed_subject_digest(release)
    # Signed with the settings `computed` uses, a different digest means the files changed
    # after signing: the (unverified) signed digest must not be accepted then.
    stale = bool(signed and computed and signed != computed and default_settings)
    if signed and computed and signed != computed:
        note = (
            "the model files changed after signing: the signature's subject digest differs"
            if stale
            else "the signature's subject digest differs from the digest of the model files "
            "(signed with other settings, or files changed after signing)"
        )
    return ReleaseDigests(computed, signed, files, note, stale)
