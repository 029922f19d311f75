"""The digest that waivers and attestations are bound to.

One function, so that every signed statement about a release names it the same
way. Today it is the inventory digest (every file of the release, hashed once).
When the release carries a verified model-signing signature, the signature
work can return that signature's root digest here instead: waivers and
attestations then follow the signed model rather than the directory listing.
"""

from __future__ import annotations

from gate.release import Release


def release_subject_digest(release: Release) -> str:
    """'sha256:<hex>' naming this release in waivers and attestations."""
    return release.digest


def subject_name(release: Release) -> str:
    return f"{release.manifest.name}@{release.manifest.version}"


def split_digest(digest: str) -> tuple[str, str]:
    """'sha256:<hex>' -> ('sha256', '<hex>')."""
    algo, _, value = digest.partition(":")
    return algo, value
