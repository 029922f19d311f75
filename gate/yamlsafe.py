"""Safe, bounded YAML loading for every YAML file the gate reads.

Release manifests, policies, waivers and monitoring configs come from people
we do not trust. This loader:

- only builds plain data (the safe constructor: no Python objects);
- rejects anchors and aliases unless a caller opts in, and then bounds the
  expanded size, so a "billion laughs" document fails fast with little memory;
- rejects duplicate mapping keys, which YAML silently collapses otherwise;
- caps the file size and nesting depth;
- remembers the line of every key, so errors can name file, field and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from gate.errors import InputError

# Paths into a document live with the models (which may not import this module); they are part
# of this module's interface too.
from gate.models.yamlpath import YamlPath as YamlPath  # noqa: PLC0414
from gate.models.yamlpath import format_path as format_path  # noqa: PLC0414
from gate.saferead import read_bounded

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlDoc:
    """One YAML document: its data and the line (1-based) of each key or item."""

    data: Any
    source: str
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line_of(self, path: YamlPath) -> int | None:
        # Fall back to the closest ancestor: pydantic may point at a missing key.
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, source: str, allow_aliases: bool) -> None:
        self.loader = loader
        self.source = source
        self.allow_aliases = allow_aliases
        self.count = 0
        self.seen: set[int] = set()
        self.lines: dict[YamlPath, int] = {}

    def fail(self, node: yaml.Node, reason: str) -> InputError:
        return InputError(f"{self.source}:{node.start_mark.line + 1}: {reason}")

    def walk(self, node: yaml.Node, path: YamlPath, stack: tuple[int, ...]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"document too large (more than {MAX_NODES} nodes)")
        if len(stack) > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        if id(node) in stack:
            raise self.fail(node, "recursive YAML alias")
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                raise self.fail(node, f"unsupported value: {_first_line(exc)}") from None
        if not self.allow_aliases and id(node) in self.seen:
            raise self.fail(node, "YAML anchors and aliases are not allowed here")
        self.seen.add(id(node))
        inner = (*stack, id(node))
        if isinstance(node, yaml.SequenceNode):
            out_list = []
            for i, item in enumerate(node.value):
                self.lines[(*path, i)] = item.start_mark.line + 1
                out_list.append(self.walk(item, (*path, i), inner))
            return out_list
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node, "YAML merge keys ('<<') are not supported")
                key = self.walk(key_node, path, inner)
                if isinstance(key, list | dict):
                    raise self.fail(key_node, "mapping keys must be scalars")
                if key in out:
                    raise self.fail(key_node, f"duplicate key '{key}'")
                kp = (*path, key if isinstance(key, str | int) else str(key))
                self.lines[kp] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, kp, inner)
            return out
        raise self.fail(node, "unsupported YAML node")  # pragma: no cover


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_text(path: Path, max_bytes: int) -> str:
    raw = read_bounded(path, max_bytes, "YAML file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _docs(text: str, source: str, allow_aliases: bool) -> Iterator[YamlDoc]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover
                continue
            walker = _Walker(loader, source, allow_aliases)
            data = walker.walk(node, (), ())
            yield YamlDoc(data=data, source=source, lines=walker.lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark else ""
        raise InputError(f"{source}{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: invalid YAML: {_first_line(exc)}") from None
    except RecursionError:
        raise InputError(f"{source}: invalid YAML: nesting too deep") from None
    finally:
        loader.dispose()


def load_text(
    text: str, source: str = "<string>", *, allow_aliases: bool = False, empty_ok: bool = False
) -> YamlDoc:
    """Load exactly one YAML document from text."""
    docs = list(_docs(text, source, allow_aliases))
    if len(docs) > 1:
        raise InputError(f"{source}: expected one YAML document, found {len(docs)}")
    if not docs:
        if empty_ok:
            return YamlDoc(data=None, source=source)
        raise InputError(f"{source}: empty YAML document")
    return docs[0]


def load_file(
    path: Path, *, allow_aliases: bool = False, max_bytes: int = MAX_BYTES, empty_ok: bool = False
) -> YamlDoc:
    """Load exactly one YAML document from a file."""
    return load_text(_read_text(path, max_bytes), str(path), allow_aliases=allow_aliases, empty_ok=empty_ok)


def load_file_all(path: Path, *, allow_aliases: bool = False, max_bytes: int = MAX_BYTES) -> list[YamlDoc]:
    """Load every document of a multi-document YAML file (e.g. Kubernetes manifests)."""
    return [d for d in _docs(_read_text(path, max_bytes), str(path), allow_aliases) if d.data is not None]


def validate_doc(model: type[M], doc: YamlDoc, what: str = "") -> M:
    """Validate a loaded YAML document, raising a one-line InputError on the first problem."""
    from pydantic import ValidationError

    from gate.models.base import describe_validation_error

    if not isinstance(doc.data, dict):
        raise InputError(f"{doc.source}: expected a mapping at the top level{what}")
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems = describe_validation_error(exc, doc.source, doc)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(problems[0] + more) from None
