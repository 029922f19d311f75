"""Requirements files in pip's format: logical lines, `-r` includes inside the release, `--hash`
options and exact pins; anything else becomes a `Problem` naming file and line."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from gate.checks.dependencies.pin_model import (
    NOT_AUDITABLE,
    UNPINNED,
    UNREADABLE,
    Pin,
    PinSet,
    Problem,
    ReadText,
    canonical_name,
    excerpt,
    valid_version,
)
from gate.extras import needs

MAX_LINES = 100_000
MAX_INCLUDE_DEPTH = 5

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


def parse_requirements(root: Path, rel: str, out: PinSet, depth: int, seen: set[str], read: ReadText) -> None:
    with needs("sbom", "reading requirement pins"):
        from packaging.requirements import InvalidRequirement, Requirement

    if rel in seen:
        out.problems.append(Problem(UNREADABLE, rel, None, "included more than once (include cycle)"))
        return
    seen.add(rel)
    text = read(root, rel, out)
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
            _option(root, rel, lineno, line, out, depth, seen, read)
            continue
        hashes = tuple(
            f"{m.group('algo').lower()}:{m.group('hex').lower()}" for m in _HASH_OPT.finditer(line)
        )
        spec = _HASH_OPT.sub("", line)
        # Other per-requirement options (--config-settings, --global-option) follow the spec.
        spec = re.split(r"\s--?[A-Za-z]", " " + spec, maxsplit=1)[0].strip()
        if not spec:
            out.problems.append(
                Problem(UNREADABLE, rel, lineno, "a line with options but no requirement", text=excerpt(line))
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
                        f"not a valid requirement: {excerpt(str(exc))}",
                        text=excerpt(spec),
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
                    text=excerpt(spec),
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
                    f"installed from a URL ({excerpt(req.url)})",
                    name=name,
                    text=excerpt(spec),
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
            out.problems.append(Problem(UNPINNED, rel, lineno, why, name=name, text=excerpt(spec)))
            continue
        if not valid_version(version):
            out.problems.append(
                Problem(
                    NOT_AUDITABLE,
                    rel,
                    lineno,
                    f"'{excerpt(version)}' is not a PEP 440 version",
                    name=name,
                    text=excerpt(spec),
                )
            )
            continue
        out.pins.append(Pin(name, version, rel, lineno, hashes, excerpt(spec)))


def _exact_version(req: Any) -> str | None:
    specs = list(req.specifier)
    if len(specs) != 1:
        return None
    spec = specs[0]
    if spec.operator == "===" or (spec.operator == "==" and "*" not in spec.version):
        return str(spec.version)
    return None


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


def _option(
    root: Path, rel: str, lineno: int, line: str, out: PinSet, depth: int, seen: set[str], read: ReadText
) -> None:
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
                Problem(NOT_AUDITABLE, rel, lineno, "includes a requirements file by URL", text=excerpt(line))
            )
            return
        target = None
        if not value.startswith(("/", "~")) and "\\" not in value:
            target = _normalise((PurePosixPath(rel).parent / value).as_posix())
        if target is None:
            out.problems.append(
                Problem(
                    UNREADABLE, rel, lineno, f"include '{excerpt(value)}' is not a path inside the release"
                )
            )
            return
        parse_requirements(root, target, out, depth + 1, seen, read)
        return
    if opt in ("-e", "--editable"):
        out.problems.append(
            Problem(
                NOT_AUDITABLE, rel, lineno, "an editable install of local or VCS code", text=excerpt(line)
            )
        )
        return
    if opt in ("-c", "--constraint"):
        out.ignored_options.append(f"{rel}:{lineno}: {excerpt(line)} (constraints are not audited)")
        return
    if opt in _IGNORED_OPTIONS:
        out.ignored_options.append(f"{rel}:{lineno}: {excerpt(line)}")
        return
    out.problems.append(
        Problem(UNREADABLE, rel, lineno, f"unknown option '{excerpt(opt)}'", text=excerpt(line))
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
