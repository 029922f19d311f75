"""The evidence of the `monitoring` check: every monitoring file the release ships, parsed once.

`load_evidence` reads what release.yaml declares under `monitoring` (monitoring.yaml,
Prometheus rule files, an Alertmanager configuration, an OpenTelemetry collector
configuration) and, for cross-checks, the serving manifests. A file that cannot be read
becomes a `Problem` and is left out; nothing here judges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from gate.checks.configfile import ConfigFileError, Problem, load_one
from gate.checks.deployment.load import load_serving
from gate.checks.deployment.view import ServingView
from gate.checks.monitoring.alertmanager import AlertmanagerConfig, parse_alertmanager
from gate.checks.monitoring.otel import OtelConfig, parse_otel
from gate.checks.monitoring.prometheus import AlertRule, RuleFile, parse_rule_file
from gate.checks.monitoring.spec import MonitoringSpec
from gate.models.base import describe_validation_error
from gate.models.manifest import Manifest
from gate.yamlsafe import YamlDoc

T = TypeVar("T")


@dataclass
class Evidence:
    """Everything the release ships for monitoring, parsed."""

    root: Path
    spec: MonitoringSpec | None = None
    spec_doc: YamlDoc | None = None
    spec_rel: str | None = None
    rule_files: list[RuleFile] = field(default_factory=list)
    rules_declared: bool = False
    am: AlertmanagerConfig | None = None
    am_declared: bool = False
    otel: OtelConfig | None = None
    otel_declared: bool = False
    serving: ServingView | None = None
    problems: list[Problem] = field(default_factory=list)
    invalid: set[str] = field(default_factory=set)  # files that could not be parsed

    @property
    def alerts(self) -> list[AlertRule]:
        return [a for rf in self.rule_files for a in rf.alerts]

    def alerts_named(self, name: str) -> list[AlertRule]:
        return [a for a in self.alerts if a.name == name]

    def commented(self, name: str) -> tuple[str, int] | None:
        for rf in self.rule_files:
            if name in rf.commented:
                return rf.path, rf.commented[name]
        return None

    @property
    def records(self) -> set[str]:
        return {r.name for rf in self.rule_files for r in rf.records}

    def capture_at(self) -> list[tuple[str, int | None, str]]:
        """Where prompt and response capture is switched on: (path, line, what)."""
        sites: list[tuple[str, int | None, str]] = []
        if self.spec and self.spec.logging and self.spec.logging.capture_content and self.spec_rel:
            line = self.spec_doc.line_of(("logging", "capture_content")) if self.spec_doc else None
            sites.append((self.spec_rel, line, "logging.capture_content: true"))
        if self.serving:
            for w in self.serving.workloads:
                for where in w.capture_content:
                    sites.append((where.path, where.line, f"{w.kind} {w.name} captures message content"))
        return sites

    def capture_sites(self) -> list[str]:
        return [f"{path}:{line}: {what}" for path, line, what in self.capture_at()]

    def unredacted(self) -> list[tuple[str, int | None, str]]:
        """(path, line, what) for each way captured content leaves without redaction."""
        sites = self.capture_sites()
        if not sites:
            return []
        if self.otel is None:
            if self.otel_declared:
                return []  # invalid collector config: reported as such
            path, line, _what = self.capture_at()[0]
            return [
                (
                    path,
                    line,
                    f"content is captured ({sites[0]}) and no OTel collector configuration shows redaction",
                )
            ]
        out: list[tuple[str, int | None, str]] = []
        for pipe in self.otel.pipelines:
            if pipe.signal not in ("logs", "traces") or not self.otel.exports_out(pipe):
                continue
            if not self.otel.redacted(pipe):
                out.append(
                    (
                        self.otel.path,
                        pipe.line,
                        f"pipeline {pipe.id} exports to {', '.join(self.otel.exports_out(pipe))} "
                        "without a redacting processor",
                    )
                )
        return out


def load_evidence(root: Path, manifest: Manifest) -> Evidence:
    """Parse every monitoring file `manifest` declares; unreadable ones become problems."""
    mon = manifest.monitoring
    ev = Evidence(root=root)

    def present(rel: str) -> bool:
        # A missing declared file is reported once, by release-integrity (declared-path-missing).
        path = root / rel
        if path.exists() and not path.is_file():
            ev.problems.append(Problem(rel, None, "declared in release.yaml but not a regular file"))
            ev.invalid.add(rel)
            return False
        return path.is_file()

    def parsed(rel: str, parse: Callable[[Path, str], T]) -> T | None:
        """The parsed file, or None with its problem recorded (an unreadable file is invalid)."""
        try:
            return parse(root, rel)
        except ConfigFileError as exc:
            ev.problems.append(exc.problem)
            ev.invalid.add(rel)
            return None

    def spec(root: Path, rel: str) -> MonitoringSpec:
        ev.spec_doc = load_one(root, rel, allow_aliases=False)
        return _validate_spec(ev.spec_doc, rel)

    if mon.config and present(mon.config):
        ev.spec_rel = mon.config
        ev.spec = parsed(mon.config, spec)
    ev.rules_declared = bool(mon.prometheus_rules)
    for rel in mon.prometheus_rules:
        if present(rel) and (rule_file := parsed(rel, parse_rule_file)) is not None:
            ev.rule_files.append(rule_file)
    ev.am_declared = bool(mon.alertmanager)
    if mon.alertmanager and present(mon.alertmanager):
        ev.am = parsed(mon.alertmanager, parse_alertmanager)
    ev.otel_declared = bool(mon.otel_collector)
    if mon.otel_collector and present(mon.otel_collector):
        ev.otel = parsed(mon.otel_collector, parse_otel)
    if manifest.serving.manifests:
        # Problems in these files are the deployment check's to report; we only read what parses.
        ev.serving = load_serving(root, manifest.serving.manifests)
    return ev


def _validate_spec(doc: YamlDoc, rel: str) -> MonitoringSpec:
    if not isinstance(doc.data, dict):
        raise ConfigFileError(Problem(rel, None, "expected a mapping at the top level"))
    version = doc.data.get("version")
    if version != 1:
        raise ConfigFileError(
            Problem(
                rel,
                doc.line_of(("version",)),
                f"version: {str(version)[:20]!r} is not a supported monitoring.yaml version (1)",
            )
        )
    try:
        return MonitoringSpec.model_validate(doc.data)
    except ValidationError as exc:
        problems = describe_validation_error(exc, rel, doc)
        first = problems[0]
        m = re.match(rf"^{re.escape(rel)}(?::(\d+))?: (.*)$", first, re.S)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        if m:
            raise ConfigFileError(
                Problem(rel, int(m.group(1)) if m.group(1) else None, m.group(2) + more)
            ) from None
        raise ConfigFileError(Problem(rel, None, first + more)) from None
