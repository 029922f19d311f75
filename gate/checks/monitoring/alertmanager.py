"""Alertmanager configuration: the routing tree, evaluated the way Alertmanager does.

We only read what routing needs (`route`, `receivers`) and validate that part
as strictly as Alertmanager would (every route names a known receiver, every
matcher parses). Regex matchers come from an untrusted file: patterns with
nested quantifiers are refused rather than run, so a hostile pattern cannot
make the gate backtrack for hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.checks.configfile import ConfigFileError, expect, load_one, problem_at
from gate.yamlsafe import YamlDoc, YamlPath

MAX_ROUTE_DEPTH = 32
MAX_REGEX_CHARS = 1000
_LABEL = r"[A-Za-z_][A-Za-z0-9_]*"
_MATCHER = re.compile(
    rf"^\s*(?P<name>{_LABEL}|\"(?:[^\"\\]|\\.)*\")\s*(?P<op>=~|!~|!=|=)\s*(?P<value>\"(?:[^\"\\]|\\.)*\"|[^\"]*?)\s*$",
    re.S,
)
# A quantified group that itself contains a quantifier: the shape of catastrophic backtracking.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d)")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        assert self.pattern is not None
        hit = self.pattern.fullmatch(have) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


@dataclass
class Route:
    receiver: str
    matchers: list[Matcher]
    cont: bool
    line: int | None
    routes: list[Route] = field(default_factory=list)
    muted: bool = False  # has mute_time_intervals: silent at times

    def match(self, labels: dict[str, str], root: bool = False) -> list[Route]:
        if not root and not all(m.matches(labels) for m in self.matchers):
            return []
        out: list[Route] = []
        for child in self.routes:
            got = child.match(labels)
            out += got
            if got and not child.cont:
                break
        return out or [self]


@dataclass
class Receiver:
    name: str
    integrations: list[str]  # e.g. ["pagerduty_configs"]
    line: int | None

    @property
    def is_null(self) -> bool:
        return not self.integrations


@dataclass
class AlertmanagerConfig:
    path: str
    route: Route
    receivers: dict[str, Receiver]

    def receivers_for(self, labels: dict[str, str]) -> list[tuple[Route, Receiver]]:
        return [(r, self.receivers[r.receiver]) for r in self.route.match(labels, root=True)]


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])
    return text


def compile_regex(value: str) -> re.Pattern[str] | str:
    """The anchored pattern, or why it is refused."""
    if len(value) > MAX_REGEX_CHARS:
        return f"regex longer than {MAX_REGEX_CHARS} characters"
    if _NESTED_QUANTIFIER.search(value):
        return "regex with nested quantifiers (catastrophic backtracking) is not evaluated"
    try:
        return re.compile(f"(?:{value})", re.S)
    except re.error as exc:
        return f"invalid regex: {exc}"
    except RecursionError:
        return "invalid regex: nested too deeply"


def make_matcher(name: str, op: str, value: str) -> Matcher | str:
    if op in ("=~", "!~"):
        pat = compile_regex(value)
        if isinstance(pat, str):
            return pat
        return Matcher(name, op, value, pat)
    return Matcher(name, op, value)


def _split_matchers(text: str) -> list[str]:
    """'{a="b", c=~"d,e"}' or 'a="b"' -> one string per matcher (commas in quotes kept)."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    parts, cur, quoted, esc = [], "", False, False
    for ch in body:
        if esc:
            cur, esc = cur + ch, False
        elif ch == "\\":
            cur, esc = cur + ch, True
        elif ch == '"':
            cur, quoted = cur + ch, not quoted
        elif ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def _route_matchers(doc: YamlDoc, rel: str, path: YamlPath, node: dict[str, Any]) -> list[Matcher]:
    out: list[Matcher] = []
    for key, op in (("match", "="), ("match_re", "=~")):
        if key in node:
            mapping = expect(doc, rel, (*path, key), node[key], dict, "a mapping of label to value")
            for name, value in mapping.items():
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    raise ConfigFileError(problem_at(rel, doc, (*path, key, name), "expected a string"))
                m = make_matcher(str(name), op, str(value))
                if isinstance(m, str):
                    raise ConfigFileError(problem_at(rel, doc, (*path, key, name), m))
                out.append(m)
    if "matchers" in node:
        items = expect(doc, rel, (*path, "matchers"), node["matchers"], list, "a list of matcher strings")
        for i, item in enumerate(items):
            expect(
                doc, rel, (*path, "matchers", i), item, str, 'a matcher string such as severity="critical"'
            )
            if len(item) > MAX_REGEX_CHARS:
                raise ConfigFileError(problem_at(rel, doc, (*path, "matchers", i), "matcher string too long"))
            for piece in _split_matchers(item):
                mm = _MATCHER.match(piece)
                if not mm:
                    raise ConfigFileError(
                        problem_at(rel, doc, (*path, "matchers", i), f"bad matcher {piece.strip()!r}")
                    )
                m = make_matcher(
                    _unquote(mm.group("name")), mm.group("op"), _unquote(mm.group("value").strip())
                )
                if isinstance(m, str):
                    raise ConfigFileError(problem_at(rel, doc, (*path, "matchers", i), m))
                out.append(m)
    return out


def _route(
    doc: YamlDoc,
    rel: str,
    path: YamlPath,
    node: Any,
    parent_receiver: str | None,
    depth: int,
    known: set[str],
) -> Route:
    if depth > MAX_ROUTE_DEPTH:
        raise ConfigFileError(problem_at(rel, doc, path, f"routes nested deeper than {MAX_ROUTE_DEPTH}"))
    expect(doc, rel, path, node, dict, "a route (a mapping)")
    receiver = node.get("receiver", parent_receiver)
    if receiver is None:
        raise ConfigFileError(problem_at(rel, doc, path, "the root route needs a `receiver`"))
    expect(doc, rel, (*path, "receiver"), receiver, str, "a receiver name")
    if receiver not in known:
        raise ConfigFileError(problem_at(rel, doc, (*path, "receiver"), f"undefined receiver '{receiver}'"))
    cont = node.get("continue", False)
    expect(doc, rel, (*path, "continue"), cont, bool, "true or false")
    route = Route(
        receiver=receiver,
        matchers=_route_matchers(doc, rel, path, node),
        cont=cont,
        line=doc.line_of(path) if path else doc.line_of(("route",)),
        muted=bool(node.get("mute_time_intervals")),
    )
    children = node.get("routes") or []
    expect(doc, rel, (*path, "routes"), children, list, "a list of routes")
    route.routes = [
        _route(doc, rel, (*path, "routes", i), child, receiver, depth + 1, known)
        for i, child in enumerate(children)
    ]
    return route


def parse_alertmanager(root: Path, rel: str) -> AlertmanagerConfig:
    doc = load_one(root, rel, allow_aliases=True)
    data = expect(doc, rel, (), doc.data, dict, "an Alertmanager configuration (a mapping)")
    receivers_raw = expect(doc, rel, ("receivers",), data.get("receivers"), list, "a list of receivers")
    receivers: dict[str, Receiver] = {}
    for i, rec in enumerate(receivers_raw):
        expect(doc, rel, ("receivers", i), rec, dict, "a receiver (a mapping)")
        name = expect(doc, rel, ("receivers", i, "name"), rec.get("name"), str, "a receiver name")
        if name in receivers:
            raise ConfigFileError(
                problem_at(rel, doc, ("receivers", i, "name"), f"receiver '{name}' is defined twice")
            )
        integrations = []
        for key, value in rec.items():
            if isinstance(key, str) and key.endswith("_configs"):
                expect(doc, rel, ("receivers", i, key), value, list, "a list")
                if value:
                    integrations.append(key)
        receivers[name] = Receiver(name, integrations, doc.line_of(("receivers", i)))
    route = _route(doc, rel, ("route",), data.get("route"), None, 0, set(receivers))
    return AlertmanagerConfig(rel, route, receivers)
