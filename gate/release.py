"""Load a release directory: its manifest (validated) and its inventory (hashed once)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gate.errors import InputError, ManifestError
from gate.inventory import DigestRequest, Inventory, build_inventory
from gate.models.manifest import MANIFEST_NAME, Manifest
from gate.risk import check_ids
from gate.yamlsafe import YamlDoc, load_file, validate_doc

MANIFEST_MAX_BYTES = 1024 * 1024


def field_path(field: str) -> tuple[str | int, ...]:
    """'serving.manifests[1]' -> ('serving', 'manifests', 1)."""
    parts: list[str | int] = []
    for piece in field.replace("]", "").split("."):
        name, _, idx = piece.partition("[")
        parts.append(name)
        if idx:
            parts.append(int(idx))
    return tuple(parts)


@dataclass(frozen=True)
class LoadedManifest:
    root: Path
    manifest: Manifest
    doc: YamlDoc

    @property
    def path(self) -> Path:
        return self.root / MANIFEST_NAME

    def line_of(self, field: str) -> int | None:
        return self.doc.line_of(field_path(field))


@dataclass(frozen=True)
class Release:
    """A validated release and its inventory: what every check receives."""

    root: Path
    manifest: Manifest
    doc: YamlDoc
    inventory: Inventory

    @property
    def digest(self) -> str:
        return self.inventory.digest

    def line_of(self, field: str) -> int | None:
        """The line of a release.yaml field given as 'a.b[0].c'."""
        return self.doc.line_of(field_path(field))

    def path(self, rel: str) -> Path:
        """The absolute path of a release-relative path (already checked to stay inside)."""
        return self.root / rel


def resolve_inside(root: Path, rel: str, field: str) -> Path:
    """Resolve a manifest path and refuse it when it (or a symlink on the way) leaves root."""
    candidate = root / rel
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise ManifestError(f"{root / MANIFEST_NAME}: {field}: cannot resolve '{rel}': {exc}") from None
    if not resolved.is_relative_to(root):
        raise ManifestError(
            f"{root / MANIFEST_NAME}: {field}: '{rel}' leaves the release directory (through a symlink)",
            hint="Every path in release.yaml must stay inside the release directory.",
        )
    return resolved


def load_manifest(release_dir: Path) -> LoadedManifest:
    """Validate release.yaml; every declared path must stay inside the release."""
    if not release_dir.exists():
        raise InputError(f"{release_dir}: no such release directory")
    if not release_dir.is_dir():
        raise InputError(f"{release_dir}: not a directory (give the release directory)")
    root = release_dir.resolve()
    mpath = root / MANIFEST_NAME
    if mpath.is_symlink():
        raise ManifestError(f"{mpath}: release.yaml must be a regular file, not a symlink")
    if not mpath.exists():
        raise ManifestError(
            f"{mpath}: no release.yaml in the release directory",
            hint="Run 'model-gate init DIR' to write a commented release.yaml to fill in.",
        )
    doc = load_file(mpath, max_bytes=MANIFEST_MAX_BYTES)
    manifest = validate_doc(Manifest, doc)
    check_ids(manifest, doc)
    for field, rel in manifest.declared_paths():
        resolve_inside(root, rel, field)
    return LoadedManifest(root=root, manifest=manifest, doc=doc)


def load_release(release_dir: Path, requests: Iterable[DigestRequest] = ()) -> Release:
    loaded = load_manifest(release_dir)
    inventory = build_inventory(loaded.root, requests)
    return Release(root=loaded.root, manifest=loaded.manifest, doc=loaded.doc, inventory=inventory)
