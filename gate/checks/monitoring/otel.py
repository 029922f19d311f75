"""OpenTelemetry collector configuration: pipelines, redaction, TLS of exporters, version labels.

The collector refuses to start when a pipeline names a component that is not
defined; we report the same, with the line. For content (prompts and
responses) the question is whether every pipeline that carries logs or traces
out of the collector passes a processor that redacts personal data, following
data through connectors from one pipeline to the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.checks.configfile import ConfigFileError, expect, load_one, problem_at

SIGNALS = frozenset({"traces", "metrics", "logs", "profiles"})
CONTENT_SIGNALS = frozenset({"traces", "logs"})
SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(/[^\s/][^\s]*)?$")
_REDACTING_OTTL = (
    "replace_pattern",
    "replace_all_patterns",
    "replace_match",
    "replace_all_matches",
    "delete_key",
    "delete_matching_keys",
    "keep_keys",
    "keep_matching_keys",
)
_LOOPBACK = re.compile(r"^(?:[a-z+]+://)?(?:localhost|127\.\d+\.\d+\.\d+|\[::1\])(?::\d+)?(?:/|$)", re.I)


@dataclass
class Component:
    id: str
    type: str
    config: dict[str, Any]
    line: int | None


@dataclass
class Pipeline:
    id: str
    signal: str
    receivers: list[str]
    processors: list[str]
    exporters: list[str]
    line: int | None


@dataclass
class OtelConfig:
    path: str
    components: dict[str, dict[str, Component]]  # section -> id -> component
    pipelines: list[Pipeline]
    lines: dict[str, int | None] = field(default_factory=dict)

    def processor(self, pid: str) -> Component:
        return self.components["processors"][pid]

    def redaction_reason(self, pid: str) -> str | None:
        """Why this processor redacts content, or None when it does not."""
        comp = self.components["processors"].get(pid)
        if comp is None:
            return None
        cfg = comp.config
        if comp.type == "redaction":
            if cfg.get("blocked_values") or cfg.get("blocked_key_patterns"):
                return "redaction processor with blocked value patterns"
            if not cfg.get("allow_all_keys", False):
                return "redaction processor removing every attribute not allowed"
            return None
        if comp.type == "transform":
            text = repr(cfg)
            hit = next((f for f in _REDACTING_OTTL if f + "(" in text), None)
            return f"transform processor using {hit}" if hit else None
        if comp.type == "attributes":
            actions = cfg.get("actions") or []
            if any(isinstance(a, dict) and a.get("action") in ("delete", "hash") for a in actions):
                return "attributes processor deleting or hashing attributes"
        return None

    def redacted(self, pipe: Pipeline, seen: frozenset[str] = frozenset()) -> bool:
        """Whether everything this pipeline exports has passed a redacting processor."""
        if any(self.redaction_reason(p) for p in pipe.processors):
            return True
        if pipe.id in seen:
            return False
        connectors = self.components["connectors"]
        if not pipe.receivers or not all(r in connectors for r in pipe.receivers):
            return False
        for r in pipe.receivers:
            upstream = [p for p in self.pipelines if r in p.exporters]
            if not upstream or not all(self.redacted(u, seen | {pipe.id}) for u in upstream):
                return False
        return True

    def exports_out(self, pipe: Pipeline) -> list[str]:
        """Exporters of the pipeline that leave the collector (not connectors)."""
        return [e for e in pipe.exporters if e not in self.components["connectors"]]

    def insecure_exporters(self) -> list[tuple[Component, str]]:
        out: list[tuple[Component, str]] = []
        for comp in self.components["exporters"].values():
            cfg = comp.config
            raw_tls = cfg.get("tls")
            tls: dict[str, Any] = raw_tls if isinstance(raw_tls, dict) else {}
            endpoint = str(cfg.get("endpoint") or "")
            if tls.get("insecure") is True and not _LOOPBACK.match(endpoint):
                out.append((comp, "tls.insecure: true"))
            elif tls.get("insecure_skip_verify") is True:
                out.append((comp, "tls.insecure_skip_verify: true"))
            elif endpoint.lower().startswith("http://") and not _LOOPBACK.match(endpoint):
                out.append((comp, f"plain http endpoint {endpoint[:80]}"))
        return out

    def sets_label(self, label: str) -> list[str]:
        """Processors in metrics pipelines that set the label (or its dotted OTel spelling)."""
        want = {label, label.replace("_", ".")}
        found: list[str] = []
        for pipe in self.pipelines:
            if pipe.signal != "metrics":
                continue
            for pid in pipe.processors:
                comp = self.components["processors"].get(pid)
                if comp is None:
                    continue
                if comp.type in ("resource", "attributes"):
                    for a in comp.config.get("attributes" if comp.type == "resource" else "actions") or []:
                        if (
                            isinstance(a, dict)
                            and a.get("key") in want
                            and a.get("action") in ("insert", "upsert", "update")
                        ):
                            found.append(pid)
                elif comp.type == "transform" and any(
                    f'attributes["{k}"]' in repr(comp.config) for k in want
                ):
                    found.append(pid)
        return sorted(set(found))


def _component_type(cid: str) -> str:
    return cid.split("/", 1)[0]


def parse_otel(root: Path, rel: str) -> OtelConfig:
    doc = load_one(root, rel, allow_aliases=True)
    data = expect(doc, rel, (), doc.data, dict, "an OpenTelemetry collector configuration (a mapping)")
    components: dict[str, dict[str, Component]] = {s: {} for s in SECTIONS}
    for section in SECTIONS:
        raw = data.get(section) or {}
        expect(doc, rel, (section,), raw, dict, f"a mapping of {section}")
        for cid, cfg in raw.items():
            if not isinstance(cid, str) or not _ID.match(cid):
                raise ConfigFileError(problem_at(rel, doc, (section,), f"bad component id {str(cid)[:60]!r}"))
            if cfg is not None and not isinstance(cfg, dict):
                raise ConfigFileError(problem_at(rel, doc, (section, cid), "expected a mapping (or nothing)"))
            components[section][cid] = Component(
                cid, _component_type(cid), cfg or {}, doc.line_of((section, cid))
            )
    service = expect(doc, rel, ("service",), data.get("service"), dict, "a `service` section")
    pipes_raw = expect(
        doc, rel, ("service", "pipelines"), service.get("pipelines"), dict, "a mapping of pipelines"
    )
    pipelines: list[Pipeline] = []
    for pid, spec in pipes_raw.items():
        path = ("service", "pipelines", str(pid))
        signal = _component_type(str(pid))
        if signal not in SIGNALS:
            raise ConfigFileError(problem_at(rel, doc, path, f"unknown pipeline type '{signal}'"))
        expect(doc, rel, path, spec, dict, "a pipeline (a mapping)")
        lists: dict[str, list[str]] = {}
        for key, section, alt in (
            ("receivers", "receivers", "connectors"),
            ("processors", "processors", None),
            ("exporters", "exporters", "connectors"),
        ):
            items = spec.get(key) or []
            expect(doc, rel, (*path, key), items, list, f"a list of {key}")
            for i, item in enumerate(items):
                expect(doc, rel, (*path, key, i), item, str, "a component id")
                if item not in components[section] and (alt is None or item not in components[alt]):
                    raise ConfigFileError(
                        problem_at(rel, doc, (*path, key, i), f"'{item}' is not defined under `{section}`")
                    )
            lists[key] = list(items)
        for key in spec:
            if key not in ("receivers", "processors", "exporters"):
                raise ConfigFileError(problem_at(rel, doc, (*path, key), "unknown field"))
        if not lists["receivers"] or not lists["exporters"]:
            raise ConfigFileError(problem_at(rel, doc, path, "a pipeline needs receivers and exporters"))
        pipelines.append(
            Pipeline(
                str(pid),
                signal,
                lists["receivers"],
                lists["processors"],
                lists["exporters"],
                doc.line_of(path),
            )
        )
    return OtelConfig(rel, components, pipelines, {"pipelines": doc.line_of(("service", "pipelines"))})
