"""Lock files in TOML: `pylock.toml` (PEP 751), `uv.lock` and `poetry.lock`, each package an exact
pin from an index or a `Problem` naming file and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gate.checks.dependencies.pin_model import (
    NAME,
    NOT_AUDITABLE,
    UNREADABLE,
    Pin,
    PinSet,
    Problem,
    ReadText,
    canonical_name,
    excerpt,
    valid_version,
)

MAX_PACKAGES = 50_000


def _load_toml(root: Path, rel: str, out: PinSet, read: ReadText) -> dict[str, Any] | None:
    text = read(root, rel, out)
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        out.problems.append(Problem(UNREADABLE, rel, _toml_line(exc), f"not valid TOML: {excerpt(str(exc))}"))
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
    if not isinstance(name, str) or not NAME.match(name):
        out.problems.append(
            Problem(UNREADABLE, rel, line, "a package without a valid 'name'", text=excerpt(repr(name)))
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
    elif not valid_version(version):
        out.problems.append(
            Problem(
                NOT_AUDITABLE,
                rel,
                line,
                f"'{excerpt(version)}' is not a PEP 440 version",
                name=cname,
                text=f"{name} {version}",
            )
        )
    else:
        out.pins.append(Pin(cname, version, rel, line, tuple(dict.fromkeys(hashes)), f"{name}=={version}"))


def parse_pylock(root: Path, rel: str, out: PinSet, read: ReadText) -> None:
    data = _load_toml(root, rel, out, read)
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


def parse_uv(root: Path, rel: str, out: PinSet, read: ReadText) -> None:
    data = _load_toml(root, rel, out, read)
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


def parse_poetry(root: Path, rel: str, out: PinSet, read: ReadText) -> None:
    data = _load_toml(root, rel, out, read)
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
