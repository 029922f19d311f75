"""Check `monitoring`: the model will be watched, verified from the configuration files it ships.

Reads what release.yaml declares under `monitoring` (the gate's monitoring.yaml,
Prometheus rule files, an Alertmanager configuration, an OpenTelemetry
collector configuration) and, for cross-checks, the serving manifests. It
judges each control of the checklist (gate/data/monitoring-controls.yaml),
scores each section, and reports one finding per control that is required at
the release's tier and missing or broken, plus findings about the files
themselves (invalid, rejected by promtool, incomplete rules, thresholds out of
range, metrics nobody exports, content logged without redaction).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from gate.checks.configfile import ConfigFileError, Problem, load_one
from gate.checks.deployment.load import load_serving
from gate.checks.deployment.view import ServingView
from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.checks.monitoring.alertmanager import AlertmanagerConfig, parse_alertmanager
from gate.checks.monitoring.controls import (
    Control,
    ControlResult,
    Status,
    checklist,
    required_at,
    score,
)
from gate.checks.monitoring.otel import OtelConfig, parse_otel
from gate.checks.monitoring.prometheus import (
    AlertRule,
    RuleFile,
    parse_rule_file,
    promtool_executable,
    promtool_version,
    run_promtool,
)
from gate.checks.monitoring.promql import BUILTIN_SERIES, metric_family, unit_scale
from gate.checks.monitoring.spec import MonitoringSpec
from gate.errors import ToolMissingError
from gate.models.base import StrictModel, describe_validation_error
from gate.models.finding import Finding, Severity, rule_maker
from gate.models.policy import Stricter
from gate.risk import is_generative
from gate.wording import count
from gate.yamlsafe import YamlDoc

CHECK = "monitoring"


_rule = rule_maker(CHECK)


RULES = (
    _rule(
        "GATE-MO001",
        "monitoring-config-invalid",
        Severity.HIGH,
        "A monitoring configuration file cannot be read or does not have the structure its tool expects.",
        "Prometheus, Alertmanager or the collector would refuse it (so nothing is watched), or the gate "
        "cannot verify any control it should show.",
        "An Alertmanager route naming an undefined receiver; monitoring.yaml with an unknown key; a rule "
        "file with two YAML documents.",
        "Fix the file at the line given; `promtool check rules`, `amtool check-config` and "
        "`otelcol validate` check the third-party formats.",
    ),
    _rule(
        "GATE-MO002",
        "monitoring-control-missing",
        Severity.HIGH,
        "A monitoring control required at the release's risk tier is missing, broken, or only claimed.",
        "Each control closes a way a model fails silently in production: drift, quality loss, abuse, "
        "extraction, unrouted alerts, no way back. The checklist says from which tier each is required.",
        "No alert for latency (MC-05), or monitoring.yaml naming an alert that is commented out "
        "in the rule file.",
        "Add the control (see the checklist in docs/monitoring-and-deployment.md) or fix what the finding "
        "names; a control that only monitoring.yaml claims needs the configuration that shows it.",
        technique=("LLM10:2025",),
    ),
    _rule(
        "GATE-MO003",
        "promtool-rejects-rules",
        Severity.HIGH,
        "promtool (Prometheus' own checker) rejects or warns about a rule file.",
        "Prometheus will not load a file promtool rejects: none of its alerts would ever fire.",
        "`for: 10x`, or a PromQL syntax error in `expr`.",
        "Run `promtool check rules FILE` and fix what it reports.",
    ),
    _rule(
        "GATE-MO004",
        "alert-rule-incomplete",
        Severity.MEDIUM,
        "An alerting rule lacks `for`, `labels.severity` or `annotations.runbook_url`.",
        "Without `for` one noisy sample pages; without a severity the alert cannot be routed by "
        "urgency; without a runbook the person paged at 3 a.m. does not know what to do.",
        "`- alert: ModelLatencyHigh` with only `expr`.",
        "Add `for: 5m` (or similar), `labels: {severity: warning|critical}` and `annotations: {runbook_url: https://...}`.",
    ),
    _rule(
        "GATE-MO005",
        "alert-metric-not-exported",
        Severity.HIGH,
        "An alert uses a metric that the serving configuration does not export.",
        "A selector that matches no series yields nothing, and an alert on nothing never fires: the "
        "control exists on paper only.",
        "`rate(model_errors_total[5m])` while the server exports `vllm:request_failure_total`.",
        "Use the metric names the server exports, add the metric to the server, or list metrics that "
        "other services export under `external_metrics` in monitoring.yaml.",
    ),
    _rule(
        "GATE-MO006",
        "monitoring-threshold-out-of-range",
        Severity.HIGH,
        "A threshold is not a finite number in a sane range (drift, latency, error rate, alert delay).",
        "An alert at a latency of an hour, an error ratio above 1 or a drift score no method reaches "
        "never fires; the control is disabled in all but name.",
        "`expr: ... error_ratio > 5` (a ratio cannot exceed 1), `for: 6h`, `drift.input.threshold: 40`.",
        "Set the threshold within the range in the finding; ranges are policy settings of this check.",
    ),
    _rule(
        "GATE-MO007",
        "alert-drops-model-version",
        Severity.MEDIUM,
        "An alert aggregates away the model-version label.",
        "When two versions run side by side (canary, rollback) the alert cannot say which one misbehaves, "
        "and the one to roll back is a guess.",
        "`sum(rate(errors_total[5m])) / sum(rate(requests_total[5m])) > 0.05`.",
        "Keep the label: `sum by (model_version) (...)`.",
    ),
    _rule(
        "GATE-MO008",
        "content-logged-without-redaction",
        Severity.HIGH,
        "Prompts and responses are captured, but a pipeline carries them out of the collector without "
        "a processor that redacts personal data.",
        "Prompts hold whatever users type: names, e-mail addresses, health and account data. Logged "
        "unredacted they become a second, unreviewed store of personal data (GDPR Art. 5 and 32).",
        "`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` on the server, and a logs pipeline "
        "with processors [batch] only.",
        "Add a `redaction` processor (blocked_values for e-mail, phone, card and id patterns) or a "
        "`transform` processor with replace_pattern to every logs and traces pipeline; or stop "
        "capturing content.",
        technique=("LLM02:2025",),
    ),
    _rule(
        "GATE-MO009",
        "telemetry-exported-without-tls",
        Severity.MEDIUM,
        "The collector exports telemetry without TLS (insecure: true, or an http:// endpoint off the host).",
        "Telemetry carries prompts, user ids and hostnames; in clear text anyone on the path reads it.",
        "`exporters: {otlphttp: {endpoint: http://logs.example.com:4318}}`.",
        "Use an https endpoint and remove `insecure: true` / `insecure_skip_verify: true`.",
        technique=("LLM02:2025",),
    ),
    _rule(
        "GATE-MO015",
        "rule-expressions-unverified",
        Severity.MEDIUM,
        "Without promtool, the alert rules' expressions were checked by the gate's own parser only.",
        "The gate's parser finds the metrics and labels an expression uses, but only Prometheus "
        "itself knows every function, type and modifier rule: an expression it rejects makes the "
        "whole file fail to load, and no alert in it ever fires. Unverified is not verified.",
        "monitoring/alerts.yaml checked on a runner without promtool.",
        "Install promtool (Debian's 'prometheus' package) where the gate runs, or set "
        "`require_promtool: true` in the policy to make its absence an error.",
    ),
)

DEFAULT_PAGING = ("pagerduty_configs", "opsgenie_configs", "victorops_configs", "incidentio_configs")


class MonitoringConfig(StrictModel):
    required_controls: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        (), description="Controls (ids or names) required at every tier, beyond the checklist's tiers."
    )
    min_log_retention_days: Annotated[int, Stricter.MAX] = Field(
        184, ge=0, description="Shortest interaction-log retention (six months is at most 184 days)."
    )
    max_latency_threshold_s: Annotated[float, Stricter.MIN] = Field(
        30.0, gt=0, description="Largest latency threshold an alert may use, in seconds."
    )
    max_error_rate_threshold: Annotated[float, Stricter.MIN] = Field(
        0.25, gt=0, le=1, description="Largest error ratio an error-rate alert may wait for."
    )
    max_drift_threshold: Annotated[float, Stricter.MIN] = Field(
        1.0, gt=0, description="Largest drift threshold in monitoring.yaml."
    )
    max_alert_for_minutes: Annotated[float, Stricter.MIN] = Field(
        60.0, gt=0, description="Longest `for` of an alerting rule."
    )
    critical_severities: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        ("critical", "page"), description="`labels.severity` values that must page on-call."
    )
    paging_integrations: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        DEFAULT_PAGING, description="Alertmanager receiver integrations that page a human."
    )
    always_available_metrics: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        tuple(sorted(BUILTIN_SERIES)), description="Series that exist without an exporter (globs)."
    )
    require_promtool: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False, description="Error (fail closed) when promtool is not installed, instead of noting it."
    )
    promtool_timeout_s: Annotated[float, Stricter.MAX] = Field(60.0, gt=0, le=600)

    @field_validator("required_controls")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for key in v:
            if checklist().find(key) is None:
                raise ValueError(f"unknown monitoring control '{key}'")
        return v


# Where each control is declared in monitoring.yaml, for the finding's line.
ANCHORS: dict[str, tuple[str, ...]] = {
    "input-drift": ("drift", "input"),
    "output-drift": ("drift", "output"),
    "quality-regression-alert": ("quality",),
    "invalid-output-alert": ("invalid_outputs",),
    "latency-alert": ("latency",),
    "error-rate-alert": ("errors",),
    "input-guardrail": ("guardrail",),
    "extraction-defence": ("extraction_defence",),
    "interaction-log-retention": ("logging",),
    "model-version-label": ("model_version_label",),
    "rollback-procedure": ("rollback",),
}


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


def _disabled(alert: AlertRule) -> str | None:
    """Why an alerting rule can never fire, or None."""
    facts = alert.facts()
    if facts.constant:
        return "its expression selects no series (a constant)"
    for key in ("disabled", "enabled"):
        value = (alert.labels.get(key) or alert.annotations.get(key) or "").lower()
        if (key == "disabled" and value in ("true", "yes", "1")) or (
            key == "enabled" and value in ("false", "no", "0")
        ):
            return f"it is marked {key}: {value}"
    if alert.severity.lower() in ("none", "off", "disabled"):
        return f"its severity is '{alert.severity}'"
    return None


class MonitoringCheck(Check):
    id = CHECK
    title = "Monitoring"
    description = (
        "The release ships monitoring that works: Prometheus alert rules (checked by promtool when "
        "installed), Alertmanager routing to real and on-call receivers, an OTel collector that redacts "
        "captured content, and monitoring.yaml; each control of the checklist is scored per section."
    )
    rules = RULES
    Config = MonitoringConfig

    def run(self, ctx: CheckContext) -> CheckOutcome:
        cfg: MonitoringConfig = ctx.config
        mon = ctx.manifest.monitoring
        if not (mon.config or mon.prometheus_rules or mon.alertmanager or mon.otel_collector):
            return CheckOutcome(
                summary="release.yaml declares no monitoring configuration (monitoring.config, "
                "monitoring.prometheus_rules, monitoring.alertmanager, monitoring.otel_collector)",
                skipped=True,
            )
        ev = self._load(ctx)
        findings: list[Finding] = [
            self.finding(
                "monitoring-config-invalid",
                f"{p.path}: {p.message}",
                path=p.path,
                line=p.line,
                detail=p.field,
                key=p.message[:80],
            )
            for p in ev.problems
        ]
        promtool_details = self._promtool(ctx, ev, findings)
        findings += self._rule_hygiene(ev, cfg)
        findings += self._metrics_exported(ev, cfg)
        findings += self._thresholds(ev, cfg)
        findings += self._version_label(ev)
        findings += self._redaction(ev)
        findings += self._exporter_tls(ev)
        results = self._controls(ctx, ev, cfg)
        for r in results:
            if not r.required or r.status in (Status.VERIFIED, Status.NOT_APPLICABLE):
                continue
            c = r.control
            findings.append(
                self.finding(
                    "monitoring-control-missing",
                    f"{c.id} {c.name} is {r.status.value}: {'; '.join(r.reasons) or c.title}",
                    path=r.path,
                    line=r.line,
                    key=c.id,
                    detail=c.id,
                    evidence={
                        "control": c.id,
                        "name": c.name,
                        "status": r.status.value,
                        "reasons": r.reasons,
                    },
                    severity=Severity.MEDIUM if r.status is Status.DECLARED else None,
                    mitigation=f"{c.title}. Verified by: {c.verified_by}",
                )
            )
        overall, sections = score(results)
        details: dict[str, Any] = {
            "score": overall,
            "sections": {
                s.name: {"score": s.score, "points": s.points, "controls": s.possible} for s in sections
            },
            "controls": {
                r.control.id: {
                    "name": r.control.name,
                    "section": r.control.section,
                    "status": r.status.value,
                    "required": r.required,
                    "reasons": r.reasons,
                    "evidence": r.evidence,
                }
                for r in results
            },
            "promtool": promtool_details,
            "files": {
                "config": ev.spec_rel,
                "prometheus_rules": [rf.path for rf in ev.rule_files],
                "alertmanager": ev.am.path if ev.am else None,
                "otel_collector": ev.otel.path if ev.otel else None,
                "invalid": sorted(ev.invalid),
            },
        }
        counts = {s: sum(1 for r in results if r.status is s) for s in Status}
        section_text = ", ".join(f"{s.name} {s.score:.2f}" for s in sections)
        summary = (
            f"score {overall:.2f} (lowest section; {section_text}); "
            if overall is not None
            else "no applicable control; "
        ) + (
            f"{counts[Status.VERIFIED]} verified, {counts[Status.DECLARED]} declared, "
            f"{counts[Status.BROKEN]} broken, {counts[Status.MISSING]} missing; "
            f"{count(len(findings), 'problem')}"
        )
        return CheckOutcome(findings=findings, summary=summary, details=details)

    # -- loading --------------------------------------------------------------------------

    def _load(self, ctx: CheckContext) -> Evidence:
        root = ctx.release.root
        mon = ctx.manifest.monitoring
        ev = Evidence(root=root)

        def present(rel: str) -> bool:
            # A missing declared file is reported once, by release-integrity (declared-path-missing).
            path = root / rel
            if path.exists() and not path.is_file():
                ev.problems.append(Problem(rel, None, "declared in release.yaml but not a regular file"))
                ev.invalid.add(rel)
                return False
            return path.is_file()

        def parsed(rel: str, parse: Callable[[Path, str], Any]) -> Any:
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
        if ctx.manifest.serving.manifests:
            # Problems in these files are the deployment check's to report; we only read what parses.
            ev.serving = load_serving(root, ctx.manifest.serving.manifests)
        return ev

    # -- promtool -------------------------------------------------------------------------

    def _promtool(self, ctx: CheckContext, ev: Evidence, findings: list[Finding]) -> dict[str, Any]:
        cfg: MonitoringConfig = ctx.config
        if not ev.rule_files:
            return {"ran": False, "reason": "no readable Prometheus rule file"}
        exe = promtool_executable()
        if exe is None:
            if cfg.require_promtool:
                raise ToolMissingError(
                    "promtool is not installed and the policy requires it (require_promtool)",
                    hint=(
                        "Install Debian's 'prometheus' package (apt-get install prometheus) or "
                        "put promtool on PATH."
                    ),
                )
            if ctx.required:
                # Monitoring is required here: an expression nobody verified is a finding.
                findings.append(
                    self.finding(
                        "rule-expressions-unverified",
                        f"promtool is not installed: the expressions of {len(ev.alerts)} alert rule(s) "
                        f"in {len(ev.rule_files)} file(s) are unverified",
                        path=ev.rule_files[0].path,
                        key="promtool",
                        evidence={"files": [rf.path for rf in ev.rule_files]},
                    )
                )
            return {
                "ran": False,
                "expressions": "unverified",
                "reason": "promtool not installed: rule files checked by the gate's own parser only",
            }
        version = promtool_version(exe)
        files: dict[str, Any] = {}
        for rf in ev.rule_files:
            res = run_promtool(exe, ev.root, rf, cfg.promtool_timeout_s)
            files[rf.path] = {
                "ok": res.ok,
                "summary": res.summary,
                "messages": [m.text for m in res.messages],
            }
            for m in res.messages:
                findings.append(
                    self.finding(
                        "promtool-rejects-rules",
                        f"promtool: {rf.path}: {m.text}"
                        if not res.ok
                        else f"promtool lint: {rf.path}: {m.text}",
                        path=rf.path,
                        line=m.line,
                        key=m.text[:120],
                        severity=None if not res.ok else Severity.MEDIUM,
                        evidence={"promtool": version, "crd": rf.crd},
                    )
                )
        ok = all(f["ok"] for f in files.values())
        return {
            "ran": True,
            "expressions": "verified" if ok else "rejected",
            "version": version,
            "executable": exe,
            "files": files,
        }

    # -- findings about the files ----------------------------------------------------------

    def _rule_hygiene(self, ev: Evidence, cfg: MonitoringConfig) -> list[Finding]:
        out: list[Finding] = []
        for a in ev.alerts:
            missing = []
            if "for" not in a.lines:
                missing.append("for")
            if not a.labels.get("severity"):
                missing.append("labels.severity")
            if not a.annotations.get("runbook_url"):
                missing.append("annotations.runbook_url")
            if missing:
                out.append(
                    self.finding(
                        "alert-rule-incomplete",
                        f"alert {a.name} has no {', '.join(missing)}",
                        path=a.path,
                        line=a.line,
                        key=f"{a.group}/{a.name}",
                        evidence={"alert": a.name, "missing": missing},
                    )
                )
            if a.for_s is not None and a.for_s > cfg.max_alert_for_minutes * 60:
                out.append(
                    self.finding(
                        "monitoring-threshold-out-of-range",
                        f"alert {a.name} waits {a.for_s / 60:g} min before firing (over "
                        f"{cfg.max_alert_for_minutes:g} min)",
                        path=a.path,
                        line=a.line_of("for"),
                        key=f"{a.group}/{a.name}/for",
                        evidence={"for_seconds": a.for_s, "max_seconds": cfg.max_alert_for_minutes * 60},
                    )
                )
        return out

    def _available(self, ev: Evidence, cfg: MonitoringConfig) -> list[str] | None:
        if ev.serving is None:
            return None
        exported = ev.serving.exported_metrics()
        if exported is None:
            return None
        extra = list(ev.spec.external_metrics) if ev.spec else []
        return [*exported, *extra, *cfg.always_available_metrics, *sorted(ev.records)]

    def _metrics_exported(self, ev: Evidence, cfg: MonitoringConfig) -> list[Finding]:
        available = self._available(ev, cfg)
        if available is None:
            return []
        out: list[Finding] = []
        for a in ev.alerts:
            facts = a.facts()
            unknown = sorted(
                m
                for m in facts.metrics
                if not any(fnmatch.fnmatchcase(name, pat) for name in metric_family(m) for pat in available)
            )
            if unknown:
                out.append(
                    self.finding(
                        "alert-metric-not-exported",
                        f"alert {a.name} uses {', '.join(unknown)}, which the serving "
                        "configuration does not export",
                        path=a.path,
                        line=a.line_of("expr"),
                        key=f"{a.group}/{a.name}",
                        evidence={"alert": a.name, "unknown_metrics": unknown},
                    )
                )
        return out

    def _thresholds(self, ev: Evidence, cfg: MonitoringConfig) -> list[Finding]:
        out: list[Finding] = []
        spec = ev.spec
        kinds: dict[str, str] = {}
        if spec is not None:
            for section, section_kind in ((spec.latency, "latency"), (spec.errors, "error-rate")):
                if section is not None:
                    for name in section.alert:
                        kinds[name] = section_kind
            if spec.drift is not None:
                for side_name in ("input", "output"):
                    side = getattr(spec.drift, side_name)
                    if side is None:
                        continue
                    t = side.threshold
                    if not math.isfinite(t) or t <= 0 or t > cfg.max_drift_threshold:
                        line = ev.spec_doc.line_of(("drift", side_name, "threshold")) if ev.spec_doc else None
                        out.append(
                            self.finding(
                                "monitoring-threshold-out-of-range",
                                f"drift.{side_name}.threshold {t:g} is outside (0, "
                                f"{cfg.max_drift_threshold:g}]",
                                path=ev.spec_rel,
                                line=line,
                                key=f"drift/{side_name}",
                                evidence={
                                    "threshold": t if math.isfinite(t) else str(t),
                                    "max": cfg.max_drift_threshold,
                                },
                            )
                        )
        for a in ev.alerts:
            facts = a.facts()
            bad: list[str] = [f"{t:g}" for t in facts.thresholds if not math.isfinite(t)]
            kind = kinds.get(a.name)
            finite = [t for t in facts.thresholds if math.isfinite(t)]
            if kind == "latency" and finite:
                scales = {unit_scale(m) for m in facts.metrics} - {None}
                if len(scales) == 1:
                    scale = scales.pop() or 1.0
                    for t in finite:
                        seconds = t * scale
                        if seconds <= 0 or seconds > cfg.max_latency_threshold_s:
                            bad.append(f"{t:g} ({seconds:g} s; range (0, {cfg.max_latency_threshold_s:g}] s)")
            elif kind == "error-rate" and finite:
                top = cfg.max_error_rate_threshold * (100 if facts.percent else 1)
                for t in finite:
                    if t < 0 or t > top:
                        unit = "%" if facts.percent else " (a ratio)"
                        bad.append(f"{t:g}{unit}; range [0, {top:g}]")
            if bad:
                out.append(
                    self.finding(
                        "monitoring-threshold-out-of-range",
                        f"alert {a.name}: threshold {', '.join(bad)}",
                        path=a.path,
                        line=a.line_of("expr"),
                        key=f"{a.group}/{a.name}/expr",
                        evidence={
                            "alert": a.name,
                            "thresholds": [str(t) for t in facts.thresholds],
                            "kind": kind,
                        },
                    )
                )
        return out

    def _version_label(self, ev: Evidence) -> list[Finding]:
        if ev.spec is None:
            return []
        label = ev.spec.model_version_label
        out: list[Finding] = []
        for a in ev.alerts:
            facts = a.facts(label)
            if facts.dropped_by and not facts.constant:
                out.append(
                    self.finding(
                        "alert-drops-model-version",
                        f"alert {a.name} drops the '{label}' label: "
                        f"{', '.join(dict.fromkeys(facts.dropped_by[:5]))}",
                        path=a.path,
                        line=a.line_of("expr"),
                        key=f"{a.group}/{a.name}",
                        evidence={"alert": a.name, "label": label, "clauses": facts.dropped_by[:10]},
                    )
                )
        return out

    def _unredacted(self, ev: Evidence) -> list[tuple[str, int | None, str]]:
        """(path, line, what) for each way captured content leaves without redaction."""
        sites = ev.capture_sites()
        if not sites:
            return []
        if ev.otel is None:
            if ev.otel_declared:
                return []  # invalid collector config: reported as such
            path, line, _what = ev.capture_at()[0]
            return [
                (
                    path,
                    line,
                    f"content is captured ({sites[0]}) and no OTel collector configuration shows redaction",
                )
            ]
        out: list[tuple[str, int | None, str]] = []
        for pipe in ev.otel.pipelines:
            if pipe.signal not in ("logs", "traces") or not ev.otel.exports_out(pipe):
                continue
            if not ev.otel.redacted(pipe):
                out.append(
                    (
                        ev.otel.path,
                        pipe.line,
                        f"pipeline {pipe.id} exports to {', '.join(ev.otel.exports_out(pipe))} "
                        "without a redacting processor",
                    )
                )
        return out

    def _redaction(self, ev: Evidence) -> list[Finding]:
        return [
            self.finding(
                "content-logged-without-redaction",
                what,
                path=path,
                line=line,
                key=what[:80],
                evidence={"captured_at": ev.capture_sites()[:5]},
            )
            for path, line, what in self._unredacted(ev)
        ]

    def _exporter_tls(self, ev: Evidence) -> list[Finding]:
        if ev.otel is None:
            return []
        used = {e for p in ev.otel.pipelines for e in p.exporters}
        content = {e for p in ev.otel.pipelines if p.signal in ("logs", "traces") for e in p.exporters}
        captured = bool(ev.capture_sites())
        out = []
        for comp, why in ev.otel.insecure_exporters():
            if comp.id not in used:
                continue
            out.append(
                self.finding(
                    "telemetry-exported-without-tls",
                    f"exporter {comp.id}: {why}",
                    path=ev.otel.path,
                    line=comp.line,
                    key=comp.id,
                    severity=Severity.HIGH if captured and comp.id in content else None,
                )
            )
        return out

    # -- the controls -------------------------------------------------------------------------

    def _controls(self, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig) -> list[ControlResult]:
        generative = is_generative(ctx.manifest)
        results = []
        for c in checklist().controls:
            r = ControlResult(control=c, status=Status.MISSING)
            r.required = required_at(c, ctx.tier.level, cfg.required_controls)
            if c.applies == "generative" and not generative:
                r.status = Status.NOT_APPLICABLE
                r.reasons = ["the model does not generate content"]
                r.required = False
            else:
                _EVALUATORS[c.name](self, ctx, ev, cfg, r)
            if r.path is None:
                anchor = ANCHORS.get(c.name)
                if ev.spec_rel:
                    r.path = ev.spec_rel
                    # A missing section has no line of its own: point at the document's head.
                    head = ("version",)
                    r.line = (
                        ev.spec_doc.line_of(anchor if anchor and _has(ev.spec_doc, anchor) else head)
                        if ev.spec_doc
                        else None
                    )
                else:
                    r.path, r.line = "release.yaml", ctx.release.line_of("monitoring")
            results.append(r)
        return results


def _has(doc: YamlDoc, path: tuple[str, ...]) -> bool:
    return path in doc.lines


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


# -- evaluators: one per control name ---------------------------------------------------------


def _alerts(ev: Evidence, names: tuple[str, ...], r: ControlResult) -> bool:
    """Judge the alerts a control names; True when at least one is there and enabled."""
    if not ev.rule_files:
        if ev.rules_declared:
            r.status = Status.BROKEN
            r.reasons.append("the Prometheus rule files cannot be read")
        else:
            r.status = Status.DECLARED
            r.reasons.append(
                f"alert {', '.join(names)} is named, but the release ships no Prometheus rule file"
            )
        return False
    ok = False
    for name in names:
        found = ev.alerts_named(name)
        if found:
            why = _disabled(found[0])
            if why:
                r.reasons.append(f"alert {name} at {found[0].path}:{found[0].line} is disabled: {why}")
                r.path, r.line = found[0].path, found[0].line
            else:
                ok = True
                r.evidence.append(f"alert {name} at {found[0].path}:{found[0].line}")
            continue
        commented = ev.commented(name)
        if commented:
            r.reasons.append(f"alert {name} is commented out at {commented[0]}:{commented[1]}")
            r.path, r.line = commented
        else:
            r.reasons.append(f"no alerting rule named {name} in {', '.join(rf.path for rf in ev.rule_files)}")
    r.status = Status.VERIFIED if ok else Status.BROKEN
    if ok:
        r.reasons = []
    return ok


def _need_spec(ev: Evidence, r: ControlResult, what: str) -> bool:
    if ev.spec is None:
        r.status = Status.BROKEN if ev.spec_rel else Status.MISSING
        r.reasons.append(
            f"{ev.spec_rel} cannot be read"
            if ev.spec_rel
            else f"no monitoring.yaml (monitoring.config) declaring {what}"
        )
        return False
    return True


def _section(ev: Evidence, r: ControlResult, attr: str) -> Any:
    """The monitoring.yaml section `attr`, or None with the reason recorded on `r`."""
    if not _need_spec(ev, r, attr):
        return None
    section = getattr(ev.spec, attr)
    if section is None:
        r.reasons.append(f"monitoring.yaml has no {attr}")
    return section


def _need_alertmanager(ev: Evidence, r: ControlResult) -> bool:
    if ev.am is None:
        r.status = Status.BROKEN if ev.am_declared else Status.MISSING
        r.reasons.append(
            "the Alertmanager configuration cannot be read"
            if ev.am_declared
            else "no Alertmanager configuration (monitoring.alertmanager)"
        )
        return False
    return True


def _drift(side_name: str) -> Any:
    def evaluate(
        check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
    ) -> None:
        if not _need_spec(ev, r, f"drift.{side_name}"):
            return
        assert ev.spec is not None
        drift = ev.spec.drift
        side = getattr(drift, side_name) if drift else None
        if drift is None or side is None:
            r.reasons.append(f"monitoring.yaml has no drift.{side_name}")
            return
        ref = drift.reference_dataset
        if not (ref.uri or ref.path):
            r.status = Status.BROKEN
            r.reasons.append("drift.reference_dataset names neither a uri nor a path")
            return
        if ref.path and not (ctx.release.root / ref.path).exists():
            r.status = Status.BROKEN
            r.reasons.append(f"drift.reference_dataset.path '{ref.path}' is not in the release")
            return
        r.evidence.append(
            f"reference dataset {ref.uri or ref.path}; {side.method} threshold {side.threshold:g}"
        )
        _alerts(ev, side.alert, r)

    return evaluate


def _alert_section(attr: str) -> Any:
    def evaluate(
        check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
    ) -> None:
        section = _section(ev, r, attr)
        if section is not None:
            _alerts(ev, section.alert, r)

    return evaluate


def _guardrail(
    check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
) -> None:
    g = _section(ev, r, "guardrail")
    if g is None:
        return
    r.evidence.append(f"guardrail {g.name} on {g.position} ({g.mode})")
    _alerts(ev, g.alert, r)


def _extraction(
    check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
) -> None:
    x = _section(ev, r, "extraction_defence")
    if x is None:
        return
    gaps = [
        what
        for ok, what in (
            (x.authentication, "authentication: false"),
            (x.per_key_quota, "no per_key_quota"),
            (x.rate_limit, "no rate_limit"),
        )
        if not ok
    ]
    if not _alerts(ev, x.alert, r) and r.status is Status.BROKEN:
        r.reasons += gaps
        return
    if gaps:
        r.status = Status.BROKEN
        r.reasons += gaps
        return
    view = ev.serving
    if view is None or not view.workloads:
        if r.status is Status.VERIFIED:
            r.status = Status.DECLARED
            r.reasons.append("authentication and rate limits are claimed; no serving manifest shows them")
        return
    auth = [a for w in view.workloads for a in w.auth] + [a for e in view.endpoints for a in e.auth]
    limits = [x for w in view.workloads for x in w.rate_limits] + [
        x for e in view.endpoints for x in e.rate_limits
    ]
    if not auth:
        r.status = Status.BROKEN
        r.reasons.append("monitoring.yaml claims authentication, but the serving manifests show none")
    elif not limits and r.status is Status.VERIFIED:
        r.status = Status.DECLARED
        r.reasons.append("the rate limit is claimed; no serving manifest shows one")
    r.evidence += [f"authentication: {a}" for a in auth[:3]] + [f"rate limit: {x}" for x in limits[:3]]


def _retention(
    check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
) -> None:
    if not _need_spec(ev, r, "logging"):
        return
    assert ev.spec is not None
    log = ev.spec.logging
    if log is None or not log.interaction_logs:
        r.reasons.append("monitoring.yaml declares no interaction logs (logging)")
        return
    r.status = Status.VERIFIED
    if log.retention_days < cfg.min_log_retention_days:
        r.status = Status.BROKEN
        r.reasons.append(
            f"retention {log.retention_days} days is under {cfg.min_log_retention_days} (six "
            "months, EU AI Act Art. 19)"
        )
    sites = ev.capture_sites()
    if sites and not log.capture_content and ev.spec.logging:
        r.status = Status.BROKEN
        r.reasons.append(
            f"content is captured ({sites[0]}) although monitoring.yaml says capture_content: false"
        )
    if sites:
        gaps = check._unredacted(ev)
        if gaps:
            r.status = Status.BROKEN
            r.reasons.append(f"captured content leaves unredacted: {gaps[0][2]}")
        elif ev.otel is None:
            r.status = Status.BROKEN if ev.otel_declared else r.status
        else:
            r.evidence.append("every content pipeline of the collector redacts")
    r.evidence.append(f"retention {log.retention_days} days")


def _version_label(
    check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
) -> None:
    if not _need_spec(ev, r, "model_version_label"):
        return
    assert ev.spec is not None
    label = ev.spec.model_version_label
    attached: list[str] = []
    if ev.otel is not None:
        attached += [f"OTel processor {p} sets {label}" for p in ev.otel.sets_label(label)]
    if ev.serving is not None:
        attached += [
            f"{w.kind} {w.name} labels its metrics with {label}"
            for w in ev.serving.workloads
            if label in w.metric_labels
        ]
        attached += [f"{m} adds {label}" for m, labels in ev.serving.monitors if label in labels]
    dropping = [a.name for a in ev.alerts if a.facts(label).dropped_by and not a.facts(label).constant]
    r.evidence += attached
    if dropping:
        r.status = Status.BROKEN
        r.reasons.append(f"{len(dropping)} alert(s) aggregate '{label}' away: {', '.join(dropping[:5])}")
    elif attached:
        r.status = Status.VERIFIED
    else:
        r.status = Status.DECLARED
        r.reasons.append(
            f"'{label}' is named, but neither the collector nor the serving configuration sets it"
        )


def _routing(
    check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
) -> None:
    if not _need_alertmanager(ev, r):
        return
    assert ev.am is not None
    r.path, r.line = ev.am.path, ev.am.route.line
    if not ev.alerts:
        r.reasons.append("no alerting rules to route")
        return
    nowhere = []
    for a in ev.alerts:
        targets = ev.am.receivers_for({**a.labels, "alertname": a.name})
        if all(rec.is_null for _route, rec in targets):
            nowhere.append(
                f"{a.name} ({a.path}:{a.line}) -> {', '.join(sorted({rec.name for _r, rec in targets}))}"
            )
            if len(nowhere) == 1:
                route = targets[0][0]
                r.line = route.line
    if nowhere:
        r.status = Status.BROKEN
        r.reasons.append(
            f"{len(nowhere)} alert(s) route only to receivers with no integration (null): "
            f"{'; '.join(nowhere[:5])}"
        )
    else:
        r.status = Status.VERIFIED
        r.evidence.append(f"{len(ev.alerts)} alert(s) reach a receiver with an integration")


def _oncall(
    check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
) -> None:
    if not _need_alertmanager(ev, r):
        return
    assert ev.am is not None
    r.path, r.line = ev.am.path, ev.am.route.line
    crit = {s.lower() for s in cfg.critical_severities}
    critical = [a for a in ev.alerts if a.severity.lower() in crit]
    if not critical:
        r.reasons.append(
            f"no alerting rule has a critical severity ({', '.join(sorted(crit))}): nothing pages on-call"
        )
        return
    oncall_names = set(ev.spec.alerting.oncall_receivers) if ev.spec else set()
    unknown = oncall_names - set(ev.am.receivers)
    if unknown:
        r.reasons.append(
            "alerting.oncall_receivers names receivers Alertmanager does not define: "
            f"{', '.join(sorted(unknown))}"
        )
    paging = set(cfg.paging_integrations)
    not_paged = []
    for a in critical:
        targets = ev.am.receivers_for({**a.labels, "alertname": a.name})
        pages = [
            rec.name
            for _route, rec in targets
            if (set(rec.integrations) & paging) or (rec.name in oncall_names and not rec.is_null)
        ]
        if not pages:
            not_paged.append(
                f"{a.name} ({a.path}:{a.line}) -> {', '.join(sorted({rec.name for _r, rec in targets}))}"
            )
        else:
            r.evidence.append(f"{a.name} pages via {', '.join(pages)}")
    if not_paged:
        r.status = Status.BROKEN
        r.reasons.append(
            f"{len(not_paged)} critical alert(s) reach no on-call receiver: {'; '.join(not_paged[:5])}"
        )
    elif not unknown:
        r.status = Status.VERIFIED
        r.reasons = []
    else:
        r.status = Status.BROKEN


def _rollback(
    check: MonitoringCheck, ctx: CheckContext, ev: Evidence, cfg: MonitoringConfig, r: ControlResult
) -> None:
    if not _need_spec(ev, r, "rollback"):
        return
    assert ev.spec is not None
    rb = ev.spec.rollback
    if rb is None or not (rb.procedure or rb.kill_switch):
        r.reasons.append("monitoring.yaml has no rollback.procedure or rollback.kill_switch")
        return
    if rb.procedure:
        proc = rb.procedure.strip()
        if proc.startswith("https://"):
            r.evidence.append(f"rollback procedure {proc[:120]}")
        elif "://" in proc:
            r.status = Status.BROKEN
            r.reasons.append(f"rollback.procedure {proc[:80]} is not an https URL")
            return
        elif (
            (ctx.release.root / proc).is_file()
            and ".." not in Path(proc).parts
            and not Path(proc).is_absolute()
        ):
            r.evidence.append(f"rollback procedure in the release: {proc}")
        else:
            r.status = Status.BROKEN
            r.reasons.append(
                f"rollback.procedure '{proc[:80]}' is neither an https URL nor a file in the release"
            )
            return
    if rb.kill_switch:
        r.evidence.append(f"kill switch: {rb.kill_switch[:120]}")
    r.status = Status.VERIFIED


_EVALUATORS: dict[str, Any] = {
    "input-drift": _drift("input"),
    "output-drift": _drift("output"),
    "quality-regression-alert": _alert_section("quality"),
    "invalid-output-alert": _alert_section("invalid_outputs"),
    "latency-alert": _alert_section("latency"),
    "error-rate-alert": _alert_section("errors"),
    "input-guardrail": _guardrail,
    "extraction-defence": _extraction,
    "interaction-log-retention": _retention,
    "model-version-label": _version_label,
    "alert-routing": _routing,
    "oncall-routing": _oncall,
    "rollback-procedure": _rollback,
}


def evaluators() -> dict[str, Any]:
    return dict(_EVALUATORS)


__all__ = ["RULES", "Control", "MonitoringCheck", "MonitoringConfig", "evaluators"]
