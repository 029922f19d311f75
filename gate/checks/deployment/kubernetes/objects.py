"""One Kubernetes object and typed access to its fields, each with the line it is on; `List`
objects expanded into their items."""

from __future__ import annotations

from typing import Any

from gate.checks.configfile import ConfigFileError, Problem, first_line
from gate.checks.deployment.view import Where
from gate.yamlsafe import YamlDoc, YamlPath, format_path

MAX_LIST_DEPTH = 8


class KubeObject:
    """One Kubernetes object and where its fields are."""

    def __init__(self, doc: YamlDoc, rel: str, prefix: YamlPath, data: dict[str, Any]) -> None:
        self.doc, self.rel, self.prefix, self.data = doc, rel, prefix, data

    def where(self, *path: str | int) -> Where:
        full = (*self.prefix, *path)
        return Where(self.rel, self.doc.line_of(full), format_path(tuple(path)) if path else None)

    def object_where(self) -> Where:
        """The object itself: the line of its `kind`, no field."""
        return Where(self.rel, self.doc.line_of((*self.prefix, "kind")), None)

    def get(self, *path: str | int) -> Any:
        cur: Any = self.data
        for p in path:
            if isinstance(p, int):
                cur = cur[p] if isinstance(cur, list) and -len(cur) <= p < len(cur) else None
            else:
                cur = cur.get(p) if isinstance(cur, dict) else None
            if cur is None:
                return None
        return cur

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))

    @property
    def name(self) -> str:
        return str(self.get("metadata", "name") or "(unnamed)")

    @property
    def namespace(self) -> str | None:
        ns = self.get("metadata", "namespace")
        return str(ns) if ns is not None else None


def fail(d: KubeObject, path: YamlPath, message: str) -> ConfigFileError:
    w = d.where(*path)
    where = f"{d.kind} {d.name}: {w.field}" if w.field else f"{d.kind} {d.name}"
    return ConfigFileError(Problem(d.rel, w.line, f"{where}: {message}", w.field))


def mapping_at(d: KubeObject, *path: str | int) -> dict[str, Any]:
    v = d.get(*path)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise fail(d, path, "expected a mapping")
    return v


def list_at(d: KubeObject, *path: str | int) -> list[Any]:
    v = d.get(*path)
    if v is None:
        return []
    if not isinstance(v, list):
        raise fail(d, path, "expected a list")
    return v


def strings_at(d: KubeObject, *path: str | int) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in mapping_at(d, *path).items():
        if isinstance(v, dict | list):
            raise fail(d, (*path, k), "expected a string")
        out[str(k)] = "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
    return out


def expand(doc: YamlDoc, rel: str) -> list[KubeObject]:
    """The objects of one YAML document: itself, or the items of a `List` (nested Lists too)."""
    out: list[KubeObject] = []

    def walk(data: dict[str, Any], prefix: YamlPath, depth: int) -> None:
        if data.get("kind") == "List" and isinstance(data.get("items"), list):
            if depth >= MAX_LIST_DEPTH:
                raise ConfigFileError(
                    Problem(rel, doc.line_of(prefix), f"`List` nested more than {MAX_LIST_DEPTH} deep")
                )
            for i, item in enumerate(data["items"]):
                if not isinstance(item, dict):
                    raise ConfigFileError(
                        Problem(rel, doc.line_of((*prefix, "items", i)), "a List item is not an object")
                    )
                walk(item, (*prefix, "items", i), depth + 1)
            return
        out.append(KubeObject(doc, rel, prefix, data))

    if not isinstance(doc.data, dict):
        raise ConfigFileError(Problem(rel, first_line(doc), "expected a Kubernetes object (a mapping)"))
    walk(doc.data, (), 0)
    return out
