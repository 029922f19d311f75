"""Reading configuration files shipped in a release, for checks that judge them.

A broken configuration file in a release is a finding about the release (with
file and line), not a crash of the gate: these helpers turn every loading
error from gate.yamlsafe into a `Problem` the check reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import InputError
from gate.yamlsafe import MAX_BYTES, YamlDoc, YamlPath, format_path, load_file, load_file_all


@dataclass(frozen=True)
class Problem:
    """Something wrong with a configuration file, at a line when known."""

    path: str  # release-relative
    line: int | None
    message: str
    field: str | None = None


class ConfigFileError(Exception):
    """Raised by format parsers; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _problem_from(exc: InputError, source: str, rel: str) -> Problem:
    msg = exc.message
    m = re.match(rf"^{re.escape(source)}(?::(\d+))?: (.*)$", msg, re.S)
    if m:
        return Problem(rel, int(m.group(1)) if m.group(1) else None, m.group(2))
    return Problem(rel, None, msg.replace(source, rel))


def load_one(root: Path, rel: str, *, allow_aliases: bool, max_bytes: int = MAX_BYTES) -> YamlDoc:
    """Exactly one YAML document, or ConfigFileError naming file and line."""
    path = root / rel
    try:
        doc = load_file(path, allow_aliases=allow_aliases, max_bytes=max_bytes)
    except InputError as exc:
        raise ConfigFileError(_problem_from(exc, str(path), rel)) from None
    return doc


def load_all(root: Path, rel: str, *, allow_aliases: bool, max_bytes: int = MAX_BYTES) -> list[YamlDoc]:
    """Every document of a multi-document YAML file, or ConfigFileError naming file and line."""
    path = root / rel
    try:
        docs = load_file_all(path, allow_aliases=allow_aliases, max_bytes=max_bytes)
    except InputError as exc:
        raise ConfigFileError(_problem_from(exc, str(path), rel)) from None
    return docs


def first_line(doc: YamlDoc) -> int | None:
    """The line where a document's content starts (its first key or item)."""
    return min(doc.lines.values(), default=None)


def problem_at(rel: str, doc: YamlDoc, path: YamlPath, message: str) -> Problem:
    return Problem(rel, doc.line_of(path), f"{format_path(path)}: {message}", format_path(path))


def expect(
    doc: YamlDoc, rel: str, path: YamlPath, value: Any, kind: type | tuple[type, ...], what: str
) -> Any:
    """Type-check one value of a third-party format, raising a Problem at its line."""
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise ConfigFileError(problem_at(rel, doc, path, f"expected {what}, got {_type_name(value)}"))
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
