"""The release's serving dependencies: pins read from requirements files and lock files.

Every file is release content written by people we do not trust, so the
parsers are bounded (size, lines, include depth), never leave the release
directory, and turn whatever they cannot use into a `Problem` naming the file
and line, never an exception. What they can use becomes a `Pin`: one package
at one exact version, which is all the audit needs.

Supported: requirements files (pip's format, with `-r` includes and `--hash`
options), `pylock.toml` (PEP 751), `uv.lock` and `poetry.lock`.

Each format has its own module (`requirements_file`, `lock_files`), sharing the pins and
problems of `pin_model`; this module decides which files are read and reads them, bounded.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gate.checks.dependencies.lock_files import MAX_PACKAGES, parse_poetry, parse_pylock, parse_uv
from gate.checks.dependencies.pin_model import (
    NAME,
    NOT_AUDITABLE,
    UNPINNED,
    UNREADABLE,
    Pin,
    PinSet,
    Problem,
    canonical_name,
)
from gate.checks.dependencies.requirements_file import MAX_INCLUDE_DEPTH, MAX_LINES, parse_requirements

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_INCLUDE_DEPTH",
    "MAX_LINES",
    "MAX_PACKAGES",
    "NOT_AUDITABLE",
    "POETRY",
    "PYLOCK",
    "REQUIREMENTS",
    "UNPINNED",
    "UNREADABLE",
    "UV",
    "WELL_KNOWN",
    "Pin",
    "PinSet",
    "Problem",
    "canonical_name",
    "dependency_files",
    "lock_kind",
    "read_pins",
]

MAX_FILE_BYTES = 16 * 1024 * 1024

REQUIREMENTS = "requirements"
PYLOCK = "pylock"
UV = "uv"
POETRY = "poetry"
# Looked for at the release root when release.yaml does not declare them ("where present").
WELL_KNOWN = ("requirements.txt", "pylock.toml", "uv.lock", "poetry.lock")

_NAME = NAME  # the name this module gave the pattern before the parsers moved out


def lock_kind(rel: str) -> str | None:
    """Which parser a dependency file needs, from its name; None when unsupported."""
    name = PurePosixPath(rel).name.lower()
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return PYLOCK
    if name == "uv.lock":
        return UV
    if name == "poetry.lock":
        return POETRY
    if name == "pipfile.lock":
        return None  # JSON, not requirements: unsupported rather than misread
    if name.endswith((".txt", ".in", ".lock", ".pip")) or name.startswith("requirements"):
        return REQUIREMENTS
    return None


def _inside(root: Path, rel: str) -> Path | None:
    """The file for a release-relative path, or None when it leaves the release."""
    if "\x00" in rel or PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
        return None
    try:
        resolved = (root / rel).resolve(strict=False)
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(root) else None


def _read_text(root: Path, rel: str, out: PinSet) -> str | None:
    """A dependency file's text, read only inside the release and only up to MAX_FILE_BYTES; the
    parsers are handed this reader, so one limit governs every file they read (includes too)."""
    path = _inside(root, rel)
    if path is None:
        out.problems.append(Problem(UNREADABLE, rel, None, "the path leaves the release directory"))
        return None
    try:
        if not path.is_file():
            out.problems.append(Problem(UNREADABLE, rel, None, "no such file in the release"))
            return None
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            out.problems.append(
                Problem(UNREADABLE, rel, None, f"{size} bytes is over the {MAX_FILE_BYTES}-byte limit")
            )
            return None
        raw = path.read_bytes()
    except OSError as exc:
        out.problems.append(Problem(UNREADABLE, rel, None, f"cannot read: {exc.strerror or exc}"))
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.problems.append(Problem(UNREADABLE, rel, None, f"not UTF-8 text (byte {exc.start})"))
        return None


_PARSERS = {PYLOCK: parse_pylock, UV: parse_uv, POETRY: parse_poetry}


def dependency_files(root: Path, declared: list[str]) -> list[str]:
    """The files to audit: those release.yaml declares, plus well-known ones at the root."""
    files = list(dict.fromkeys(declared))
    for name in WELL_KNOWN:
        if name not in files and (root / name).is_file() and not (root / name).is_symlink():
            files.append(name)
    return files


def read_pins(root: Path, files: list[str]) -> PinSet:
    """Parse every dependency file; never raises for bad content."""
    root = root.resolve()
    out = PinSet()
    seen: set[str] = set()
    for rel in files:
        kind = lock_kind(rel)
        if kind is None:
            out.problems.append(
                Problem(
                    UNREADABLE,
                    rel,
                    None,
                    "unsupported format: use requirements.txt, pylock.toml, uv.lock or poetry.lock",
                )
            )
        elif kind == REQUIREMENTS:
            parse_requirements(root, rel, out, 0, seen, _read_text)
        else:
            _PARSERS[kind](root, rel, out, _read_text)
    return out
