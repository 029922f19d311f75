"""The OpenSSF model-signing format: the signed manifest, the model's scope, and root digests.

A model-signing signature (v1.0) is an in-toto Statement whose subject is one
root digest: sha256 over the per-file (or per-shard) digests in model-signing's
canonical order, under the serialization the predicate names (hash type, files
or shards, `ignore_paths`). Everything that reads that format, or recomputes a
root digest from the release inventory, does it here: the `model-signature` and
`provenance` checks, and the subjects of waivers and attestations.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from gate.errors import InputError
from gate.inventory import DigestRequest, Entry, Inventory
from gate.models.base import StrictModel
from gate.models.manifest import Manifest
from gate.signing.document import MAX_DOCUMENT_BYTES, parse_json_document, unverified_payload

PREDICATE_V1 = "https://model_signing/signature/v1.0"
PREDICATE_V02 = "https://model_signing/Digests/v0.1"
HASH_TYPES = frozenset({"sha256", "blake2b", "blake3"})
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
# A sharded manifest needs one digest per shard held in memory; more than this
# many cannot come from a real signature (the bundle size is bounded).
MAX_SHARDS = 250_000


class Serialization(StrictModel):
    method: Literal["files", "shards"]
    hash_type: str
    allow_symlinks: bool = False
    shard_size: int | None = Field(None, gt=0)
    ignore_paths: tuple[str, ...] = ()

    @property
    def algorithm(self) -> str:
        """The `algorithm` every resource of this serialization carries."""
        if self.method == "shards":
            return f"{self.hash_type}-sharded-{self.shard_size}"
        return self.hash_type

    def request(self, scope: str) -> DigestRequest | None:
        """What the inventory must compute for this serialization, beyond sha256 per file."""
        if self.method == "files":
            return (
                None
                if self.hash_type == "sha256"
                else DigestRequest(algorithm=self.hash_type, paths=(scope,))
            )
        return DigestRequest(algorithm=self.hash_type, shard_size=self.shard_size, paths=(scope,))


class Resource(StrictModel):
    name: str = Field(max_length=4096)
    algorithm: str
    digest: str = Field(pattern=r"^[0-9a-f]{16,256}$")


class SignedManifest(StrictModel):
    # The v1.0 predicate says verifiers ignore fields they do not know.
    model_config = ConfigDict(frozen=True, extra="ignore")

    serialization: Serialization
    resources: tuple[Resource, ...]


def serialization_of(predicate: Any) -> Serialization:
    """The serialization settings of a model-signing predicate; ValueError when unusable."""
    if not isinstance(predicate, dict):
        raise ValueError("predicate is not an object")
    try:
        ser = Serialization.model_validate(predicate.get("serialization"))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"serialization.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    if ser.hash_type not in HASH_TYPES:
        raise ValueError(f"hash type '{ser.hash_type}' is not one model-signing emits")
    if ser.method == "shards" and (ser.shard_size is None or ser.hash_type == "blake3"):
        raise ValueError("sharded serialization needs a shard size and sha256 or blake2b")
    return ser


def model_scope(manifest: Manifest) -> str:
    scope = PurePosixPath(manifest.model.path).as_posix()
    return "" if scope == "." else scope


def rel_in_model(path: str, scope: str) -> str | None:
    if not scope:
        return path
    if path == scope:
        return "."
    if path.startswith(scope + "/"):
        return path[len(scope) + 1 :]
    return None


def peek_serialization(manifest: Manifest, root: Path) -> Serialization | None:
    """The serialization the (not yet verified) signature declares, or None.

    Only decides which digests the inventory computes in its single pass.
    """
    if not manifest.signature:
        return None
    path = root / manifest.signature
    try:
        if not path.is_file():  # never open a FIFO or device: it could block
            return None
        with open(path, "rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)
        payload = unverified_payload(parse_json_document(raw, str(path)), str(path))
        if payload is None:
            return None
        return serialization_of(payload.get("predicate"))
    except (OSError, InputError, ValueError):
        return None


def shard_count(root: Path, scope: str, shard_size: int) -> int:
    """How many shard digests a sharded manifest of the model needs (stat only)."""
    base = root / scope if scope else root
    if base.is_file():
        return math.ceil(base.stat().st_size / shard_size)
    total = 0
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            try:
                size = os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            total += math.ceil(size / shard_size)
    return total


def root_digest(digests_hex: Iterable[str]) -> str:
    """model-signing's subject digest: sha256 over the raw per-item digests, in order."""
    h = hashlib.sha256()
    for d in digests_hex:
        h.update(bytes.fromhex(d))
    return h.hexdigest()


def split_shard(name: str) -> tuple[str, int, int] | None:
    path, _, rest = name.rpartition(":")
    path2, _, start = path.rpartition(":")
    if not path2 or not start.isdigit() or not rest.isdigit():
        return None
    return path2, int(start), int(rest)


def item_key(name: str, method: str) -> tuple[Any, ...]:
    """model-signing's canonical order: by path components, then shard offsets."""
    if method == "shards":
        parts = split_shard(name)
        if parts is not None:
            return (PurePosixPath(parts[0]).parts, parts[1], parts[2])
    return (PurePosixPath(name).parts, 0, 0)


@dataclass
class ModelFiles:
    files: dict[str, Entry]  # path relative to the model directory -> entry
    symlinks: list[Entry]
    others: list[Entry]


def model_files(inv: Inventory, scope: str, exclude: Iterable[str] = ()) -> ModelFiles:
    skip = set(exclude)
    out = ModelFiles({}, [], [])
    for e in inv.entries:
        rel = rel_in_model(e.path, scope)
        if rel is None or e.path in skip:
            continue
        if e.kind == "file":
            out.files[rel] = e
        elif e.kind == "symlink":
            out.symlinks.append(e)
        else:
            out.others.append(e)
    return out


def actual_items(files: dict[str, Entry], ser: Serialization) -> dict[str, str] | None:
    """name -> hex digest for the release's files under the signed serialization.

    None when the inventory lacks a digest the serialization needs.
    """
    out: dict[str, str] = {}
    req = ser.request("")
    for rel, e in files.items():
        if ser.method == "files":
            d = e.sha256 if req is None else e.digests.get(req.key)
            if d is None:
                return None
            out[rel] = d
        else:
            assert req is not None and ser.shard_size
            if e.size == 0:
                continue  # model-signing lists no shard for an empty file
            shards = e.shard_digests.get(req.key)
            if shards is None:
                return None
            for i, d in enumerate(shards):
                start = i * ser.shard_size
                out[f"{rel}:{start}:{min(start + ser.shard_size, e.size)}"] = d
    return out


def model_root_of(release: Any) -> str | None:
    """'sha256:<hex>': the model-signing root digest the release's declared signature names, when
    the model files recompute to it under the signature's serialization; else None.

    What waivers and attestations name as the model's subject beside the release digest. A
    content digest of the model, so who signed does not matter here (the checks judge that);
    the signature file is read again only if its bytes are still the ones the inventory hashed.
    """
    m: Manifest = release.manifest
    if not m.signature:
        return None
    sig_rel = PurePosixPath(m.signature).as_posix()
    entry = release.inventory.by_path().get(sig_rel)
    if entry is None or entry.kind != "file" or entry.size > MAX_DOCUMENT_BYTES:
        return None
    try:
        with open(release.path(sig_rel), "rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)
        if hashlib.sha256(raw).hexdigest() != entry.sha256:
            return None
        payload = unverified_payload(parse_json_document(raw, sig_rel), sig_rel)
        if payload is None:
            return None
        ser = serialization_of(payload.get("predicate"))
        subject = payload.get("subject")
        signed_root = subject[0]["digest"]["sha256"] if isinstance(subject, list) and subject else None
    except (OSError, InputError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(signed_root, str):
        return None
    scope = model_scope(m)
    mf = model_files(release.inventory, scope, exclude=[sig_rel])
    files = {r: e for r, e in mf.files.items() if not any(under(r, p) for p in ser.ignore_paths)}
    if mf.symlinks or mf.others:
        return None
    items = actual_items(files, ser)
    if items is None:
        return None
    recomputed = root_digest(items[n] for n in sorted(items, key=lambda n: item_key(n, ser.method)))
    return f"sha256:{recomputed}" if recomputed == signed_root.lower() else None


def default_root_digest(files: dict[str, Entry]) -> str:
    """The root digest `model_signing sign` (sha256, by file) gives these files."""
    names = sorted(files, key=lambda n: item_key(n, "files"))
    return root_digest(files[n].sha256 or "" for n in names)


def under(rel: str, prefix: str) -> bool:
    prefix = PurePosixPath(prefix).as_posix()
    return prefix in ("", ".") or rel == prefix or rel.startswith(prefix + "/")


def digest_requests(manifest: Manifest, root: Path) -> list[DigestRequest]:
    """The digests beyond sha256 per file that the (not yet verified) signature's serialization needs,
    for the inventory's single pass; none when the signature is unusable or lists too many shards."""
    ser = peek_serialization(manifest, root)
    if ser is None:
        return []
    scope = model_scope(manifest)
    if ser.method == "shards" and ser.shard_size:
        try:
            if shard_count(root, scope, ser.shard_size) > MAX_SHARDS:
                return []  # the check reports the signature as unusable
        except OSError:
            return []
    req = ser.request(scope)
    return [req] if req else []


def candidate_roots(
    release: Any, scope: str, exclude: Iterable[str], allowed_ignore_paths: Iterable[str]
) -> tuple[dict[str, str], dict[str, Entry]]:
    """The root digests the model could be named by in another statement (provenance's subject),
    labelled by how each was computed, and the model files they cover.

    The model-signing default (sha256 by file) over every model file but the
    allowed ignore paths; and, when the release carries a model signature, the
    root under that signature's serialization (with only the ignore paths the
    policy allows as well).
    """
    allowed_paths = tuple(allowed_ignore_paths)
    mf = model_files(release.inventory, scope, exclude=exclude)
    roots: dict[str, str] = {}
    base = {r: e for r, e in mf.files.items() if not any(under(r, p) for p in allowed_paths)}
    if base:
        roots["sha256 by file (model-signing default)"] = default_root_digest(base)
    ser = peek_serialization(release.manifest, release.root)
    if ser is not None:
        allowed = {PurePosixPath(x).as_posix() for x in allowed_paths}
        ignored = [p for p in ser.ignore_paths if PurePosixPath(p).as_posix() in allowed]
        files = {r: e for r, e in mf.files.items() if not any(under(r, p) for p in ignored)}
        enough = (
            ser.method != "shards"
            or sum(-(-e.size // (ser.shard_size or 1)) for e in files.values()) <= MAX_SHARDS
        )
        items = actual_items(files, ser) if enough else None
        if items:
            ordered = sorted(items, key=lambda n: item_key(n, ser.method))
            label = f"{ser.hash_type} by {'shard' if ser.method == 'shards' else 'file'} (as the signature)"
            roots[label] = root_digest(items[n] for n in ordered)
    return roots, base
