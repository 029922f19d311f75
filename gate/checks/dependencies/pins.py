"""The release's serving dependencies: pins read from requirements files and lock files.

Every file is release content written by people we do not trust, so the
parsers are bounded (size, lines, include depth), never leave the release
directory, and turn whatever they cannot use into a `Problem` naming the file
and line, never an exception. What they can use becomes a `Pin`: one package
at one exact version, which is all the audit needs.

Supported: requirements files (pip's format, with `-r` includes and `--hash`
options), `pylock.toml` (PEP 751), `uv.lock` and `poetry.lock`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gate.extras import needs

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_LINES = 100_000
MAX_INCLUDE_DEPTH = 5
MAX_PACKAGES = 50_000
TEXT_EXCERPT = 120

REQUIREMENTS = "requirements"
PYLOCK = "pylock"
UV = "uv"
POETRY = "poetry"
# Looked for at the release root when release.yaml does not declare them ("where present").
WELL_KNOWN = ("requirements.txt", "pylock.toml", "uv.lock", "poetry.lock")

# Problem kinds, named after the check's rules.
UNPINNED = "unpinned-requirement"
NOT_AUDITABLE = "dependency-not-audited"
UNREADABLE = "unreadable-dependency-file"

_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_COMMENT = re.compile(r"(^|\s+)#.*$")
_HASH_OPT = re.compile(r"--hash(?:=|\s+)(?P<algo>[A-Za-z0-9_]+):(?P<hex>[0-9A-Za-z]+)")
_URLISH = re.compile(r"^([a-z][a-z0-9+.-]*://|git\+|hg\+|svn\+|bzr\+|file:|\.{1,2}/|/|~)", re.I)
_ARCHIVE = re.compile(r"\.(whl|zip|tar\.gz|tgz|tar\.bz2|tar)$", re.I)
# pip options that change where or how packages are fetched, not which versions.
_IGNORED_OPTIONS = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--trusted-host",
    "--pre",
    "--prefer-binary",
    "--require-hashes",
    "--only-binary",
    "--no-binary",
    "--use-feature",
    "--config-settings",
}


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


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_EXCERPT else text[: TEXT_EXCERPT - 3] + "..."


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


# --- requirements files ---------------------------------------------------------------------


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """pip's preprocessing: join backslash continuations, drop comments; keep first line numbers."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for i, raw in enumerate(text.splitlines(), start=1):
        if not buf:
            start = i
        line = raw
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = _COMMENT.sub("", "".join(buf)).strip()
        buf = []
        if joined:
            out.append((start, joined))
    if buf:
        joined = _COMMENT.sub("", "".join(buf)).strip()
        if joined:
            out.append((start, joined))
    return out


def _parse_requirements(root: Path, rel: str, out: PinSet, depth: int, seen: set[str]) -> None:
    with needs("sbom", "reading requirement pins"):
        from packaging.requirements import InvalidRequirement, Requirement

    if rel in seen:
        out.problems.append(Problem(UNREADABLE, rel, None, "included more than once (include cycle)"))
        return
    seen.add(rel)
    text = _read_text(root, rel, out)
    if text is None:
        return
    if rel not in out.files:
        out.files.append(rel)
    lines = _logical_lines(text)
    if len(lines) > MAX_LINES:
        out.problems.append(Problem(UNREADABLE, rel, None, f"more than {MAX_LINES} requirement lines"))
        return
    for lineno, line in lines:
        if line.startswith("-"):
            _option(root, rel, lineno, line, out, depth, seen)
            continue
        hashes = tuple(
            f"{m.group('algo').lower()}:{m.group('hex').lower()}" for m in _HASH_OPT.finditer(line)
        )
        spec = _HASH_OPT.sub("", line)
        # Other per-requirement options (--config-settings, --global-option) follow the spec.
        spec = re.split(r"\s--?[A-Za-z]", " " + spec, maxsplit=1)[0].strip()
        if not spec:
            out.problems.append(
                Problem(
                    UNREADABLE, rel, lineno, "a line with options but no requirement", text=_excerpt(line)
                )
            )
            continue
        try:
            req = Requirement(spec) if not _URLISH.match(spec) else None
        except InvalidRequirement as exc:
            req = None
            if not _ARCHIVE.search(spec.split(";")[0].strip()):
                out.problems.append(
                    Problem(
                        UNREADABLE,
                        rel,
                        lineno,
                        f"not a valid requirement: {_excerpt(str(exc))}",
                        text=_excerpt(spec),
                    )
                )
                continue
        if req is None:
            out.problems.append(
                Problem(
                    NOT_AUDITABLE,
                    rel,
                    lineno,
                    "a URL or local path, not a package version from an index",
                    text=_excerpt(spec),
                )
            )
            continue
        name = canonical_name(req.name)
        if req.url:
            out.problems.append(
                Problem(
                    NOT_AUDITABLE,
                    rel,
                    lineno,
                    f"installed from a URL ({_excerpt(req.url)})",
                    name=name,
                    text=_excerpt(spec),
                )
            )
            continue
        version = _exact_version(req)
        if version is None:
            why = (
                "no version given"
                if not str(req.specifier)
                else f"'{req.specifier}' allows more than one version"
            )
            out.problems.append(Problem(UNPINNED, rel, lineno, why, name=name, text=_excerpt(spec)))
            continue
        if not _valid_version(version):
            out.problems.append(
                Problem(
                    NOT_AUDITABLE,
                    rel,
                    lineno,
                    f"'{_excerpt(version)}' is not a PEP 440 version",
                    name=name,
                    text=_excerpt(spec),
                )
            )
            continue
        out.pins.append(Pin(name, version, rel, lineno, hashes, _excerpt(spec)))


def _exact_version(req: Any) -> str | None:
    specs = list(req.specifier)
    if len(specs) != 1:
        return None
    spec = specs[0]
    if spec.operator == "===" or (spec.operator == "==" and "*" not in spec.version):
        return str(spec.version)
    return None


def _valid_version(text: str) -> bool:
    with needs("sbom", "reading requirement pins"):
        from packaging.version import InvalidVersion, Version

    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _split_option(line: str) -> tuple[str, str]:
    """'-r x', '-rx', '--requirement x' and '--requirement=x' all give ('-r'|'--requirement', 'x')."""
    head, _, rest = line.partition(" ")
    head, rest = head.strip(), rest.strip()
    if head.startswith("--"):
        if "=" in head:
            opt, _, value = head.partition("=")
            return opt, (value + " " + rest).strip()
        return head, rest
    if len(head) > 2:  # short option glued to its value
        return head[:2], (head[2:] + " " + rest).strip()
    return head, rest


def _option(root: Path, rel: str, lineno: int, line: str, out: PinSet, depth: int, seen: set[str]) -> None:
    opt, value = _split_option(line.replace("\t", " "))
    if opt in ("-r", "--requirement"):
        if not value:
            out.problems.append(Problem(UNREADABLE, rel, lineno, f"'{opt}' without a file"))
            return
        if depth >= MAX_INCLUDE_DEPTH:
            out.problems.append(
                Problem(UNREADABLE, rel, lineno, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
            )
            return
        if "://" in value:
            out.problems.append(
                Problem(
                    NOT_AUDITABLE, rel, lineno, "includes a requirements file by URL", text=_excerpt(line)
                )
            )
            return
        target = None
        if not value.startswith(("/", "~")) and "\\" not in value:
            target = _normalise((PurePosixPath(rel).parent / value).as_posix())
        if target is None:
            out.problems.append(
                Problem(
                    UNREADABLE, rel, lineno, f"include '{_excerpt(value)}' is not a path inside the release"
                )
            )
            return
        _parse_requirements(root, target, out, depth + 1, seen)
        return
    if opt in ("-e", "--editable"):
        out.problems.append(
            Problem(
                NOT_AUDITABLE, rel, lineno, "an editable install of local or VCS code", text=_excerpt(line)
            )
        )
        return
    if opt in ("-c", "--constraint"):
        out.ignored_options.append(f"{rel}:{lineno}: {_excerpt(line)} (constraints are not audited)")
        return
    if opt in _IGNORED_OPTIONS:
        out.ignored_options.append(f"{rel}:{lineno}: {_excerpt(line)}")
        return
    out.problems.append(
        Problem(UNREADABLE, rel, lineno, f"unknown option '{_excerpt(opt)}'", text=_excerpt(line))
    )


def _normalise(rel: str) -> str | None:
    parts: list[str] = []
    for part in PurePosixPath(rel).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) if parts else None


# --- lock files (TOML) ---------------------------------------------------------------------


def _load_toml(root: Path, rel: str, out: PinSet) -> dict[str, Any] | None:
    text = _read_text(root, rel, out)
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        out.problems.append(
            Problem(UNREADABLE, rel, _toml_line(exc), f"not valid TOML: {_excerpt(str(exc))}")
        )
        return None
    except RecursionError:
        out.problems.append(Problem(UNREADABLE, rel, None, "not valid TOML: nested too deeply"))
        return None
    if rel not in out.files:
        out.files.append(rel)
    data["__text__"] = text
    return data


def _toml_line(exc: Exception) -> int | None:
    m = re.search(r"line (\d+)", str(exc))
    return int(m.group(1)) if m else None


class _LineFinder:
    """TOML parsers forget positions: find each package's `name = "..."` line, in order."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.pos = 0

    def find(self, name: str) -> int | None:
        pattern = re.compile(r'^\s*name\s*=\s*["\']' + re.escape(name) + r'["\']')
        for i in range(self.pos, len(self.lines)):
            if pattern.match(self.lines[i]):
                self.pos = i + 1
                return i + 1
        return None


def _hash_list(values: Any) -> list[str]:
    out: list[str] = []
    items = values if isinstance(values, list) else [values]
    for item in items:
        if isinstance(item, str) and ":" in item:
            algo, _, hexd = item.partition(":")
            out.append(f"{algo.lower()}:{hexd.lower()}")
        elif isinstance(item, dict):
            h = item.get("hash") if "hash" in item else item.get("hashes")
            if isinstance(h, str):
                out += _hash_list(h)
            elif isinstance(h, dict):
                out += [
                    f"{k.lower()}:{v.lower()}"
                    for k, v in h.items()
                    if isinstance(k, str) and isinstance(v, str)
                ]
    return out


def _entries(data: dict[str, Any], key: str, rel: str, out: PinSet) -> list[dict[str, Any]] | None:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        out.problems.append(Problem(UNREADABLE, rel, None, f"'{key}' must be an array of tables"))
        return None
    if len(entries) > MAX_PACKAGES:
        out.problems.append(Problem(UNREADABLE, rel, None, f"more than {MAX_PACKAGES} packages"))
        return None
    return entries


def _name_version(
    entry: dict[str, Any], rel: str, line: int | None, out: PinSet
) -> tuple[str, str | None] | None:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        out.problems.append(
            Problem(UNREADABLE, rel, line, "a package without a valid 'name'", text=_excerpt(repr(name)))
        )
        return None
    version = entry.get("version")
    if version is not None and not isinstance(version, str):
        out.problems.append(
            Problem(UNREADABLE, rel, line, "'version' must be a string", name=canonical_name(name))
        )
        return None
    return name, version


def _packages(
    data: dict[str, Any], entries: list[dict[str, Any]], rel: str, out: PinSet
) -> Iterator[tuple[dict[str, Any], int | None, str, str | None]]:
    """(entry, line, name, version) of each package table of a TOML lock file; bad ones are problems."""
    finder = _LineFinder(data["__text__"])
    for entry in entries:
        line = finder.find(entry["name"]) if isinstance(entry.get("name"), str) else None
        nv = _name_version(entry, rel, line, out)
        if nv is not None:
            yield entry, line, *nv


def _not_from_index(out: PinSet, rel: str, line: int | None, name: str, origin: str) -> None:
    out.problems.append(
        Problem(
            NOT_AUDITABLE,
            rel,
            line,
            f"installed from a {origin}, not an index",
            name=canonical_name(name),
            text=name,
        )
    )


def _add_locked(
    out: PinSet, rel: str, line: int | None, name: str, version: str | None, hashes: list[str]
) -> None:
    cname = canonical_name(name)
    if version is None:
        out.problems.append(Problem(NOT_AUDITABLE, rel, line, "no version recorded", name=cname, text=name))
    elif not _valid_version(version):
        out.problems.append(
            Problem(
                NOT_AUDITABLE,
                rel,
                line,
                f"'{_excerpt(version)}' is not a PEP 440 version",
                name=cname,
                text=f"{name} {version}",
            )
        )
    else:
        out.pins.append(Pin(cname, version, rel, line, tuple(dict.fromkeys(hashes)), f"{name}=={version}"))


def _parse_pylock(root: Path, rel: str, out: PinSet) -> None:
    data = _load_toml(root, rel, out)
    if data is None:
        return
    lv = data.get("lock-version")
    if not isinstance(lv, str) or not lv.startswith("1."):
        out.problems.append(
            Problem(UNREADABLE, rel, None, "missing or unsupported 'lock-version' (expected 1.x)")
        )
        return
    entries = _entries(data, "packages", rel, out)
    if entries is None:
        return
    for entry, line, name, version in _packages(data, entries, rel, out):
        local = [k for k in ("vcs", "directory", "archive") if k in entry]
        if local:
            _not_from_index(out, rel, line, name, local[0])
            continue
        hashes = _hash_list(entry.get("sdist")) + _hash_list(entry.get("wheels", []))
        _add_locked(out, rel, line, name, version, hashes)


def _parse_uv(root: Path, rel: str, out: PinSet) -> None:
    data = _load_toml(root, rel, out)
    if data is None:
        return
    if not isinstance(data.get("version"), int):
        out.problems.append(Problem(UNREADABLE, rel, None, "missing 'version': not a uv lock file"))
        return
    entries = _entries(data, "package", rel, out)
    if entries is None:
        return
    for entry, line, name, version in _packages(data, entries, rel, out):
        source = entry.get("source", {})
        if not isinstance(source, dict) or len(source) != 1:
            out.problems.append(
                Problem(
                    UNREADABLE, rel, line, "'source' must name exactly one origin", name=canonical_name(name)
                )
            )
            continue
        kind, where = next(iter(source.items()))
        if kind in ("editable", "virtual") and where == ".":
            out.local_projects.append(name)  # the project the lock file belongs to
            continue
        if kind != "registry":
            _not_from_index(out, rel, line, name, f"{kind} source")
            continue
        hashes = _hash_list(entry.get("sdist")) + _hash_list(entry.get("wheels", []))
        _add_locked(out, rel, line, name, version, hashes)


def _parse_poetry(root: Path, rel: str, out: PinSet) -> None:
    data = _load_toml(root, rel, out)
    if data is None:
        return
    entries = _entries(data, "package", rel, out)
    if entries is None:
        return
    if not entries and "metadata" not in data:
        out.problems.append(
            Problem(UNREADABLE, rel, None, "no [[package]] or [metadata]: not a poetry lock file")
        )
        return
    for entry, line, name, version in _packages(data, entries, rel, out):
        source = entry.get("source")
        if isinstance(source, dict) and source.get("type") in ("git", "url", "file", "directory"):
            _not_from_index(out, rel, line, name, f"{source['type']} source")
            continue
        _add_locked(out, rel, line, name, version, _hash_list(entry.get("files", [])))


_PARSERS = {PYLOCK: _parse_pylock, UV: _parse_uv, POETRY: _parse_poetry}


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
            _parse_requirements(root, rel, out, 0, seen)
        else:
            _PARSERS[kind](root, rel, out)
    return out
