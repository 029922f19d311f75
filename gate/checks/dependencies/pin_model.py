"""The pins and problems a dependency file yields, and the rules every parser applies to them:
PEP 503 names, PEP 440 versions, short excerpts of what was written."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gate.extras import needs

TEXT_EXCERPT = 120

# Problem kinds, named after the check's rules.
UNPINNED = "unpinned-requirement"
NOT_AUDITABLE = "dependency-not-audited"
UNREADABLE = "unreadable-dependency-file"

# A distribution name as PEP 508 allows it.
NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")

# How a parser reads a release file (bounded, inside the release): the text, or None after
# recording the problem.
ReadText = Callable[[Path, str, "PinSet"], str | None]


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: how indexes and vulnerability databases compare names."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One package at one exact version, and where the release pins it."""

    name: str  # canonical
    version: str
    source: str  # release-relative file
    line: int | None = None
    hashes: tuple[str, ...] = ()  # "sha256:<hex>" as written in the file
    text: str = ""  # the requirement as written, for reports


@dataclass(frozen=True)
class Problem:
    kind: str  # UNPINNED | NOT_AUDITABLE | UNREADABLE
    source: str
    line: int | None
    reason: str
    name: str | None = None
    text: str = ""


@dataclass
class PinSet:
    files: list[str] = field(default_factory=list)
    pins: list[Pin] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored_options: list[str] = field(default_factory=list)
    local_projects: list[str] = field(default_factory=list)  # the project itself, in uv.lock

    def unique_pins(self) -> list[Pin]:
        """One pin per (package, version), the first place it is pinned."""
        seen: dict[tuple[str, str], Pin] = {}
        for p in self.pins:
            key = (p.name, p.version)
            if key not in seen or (p.hashes and not seen[key].hashes):
                seen[key] = p
        return list(seen.values())


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_EXCERPT else text[: TEXT_EXCERPT - 3] + "..."


def valid_version(text: str) -> bool:
    with needs("sbom", "reading requirement pins"):
        from packaging.version import InvalidVersion, Version

    try:
        Version(text)
    except InvalidVersion:
        return False
    return True
