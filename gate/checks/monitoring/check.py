"""The `monitoring` check: the model will be watched, verified from the configuration files it ships.

It judges each control of the checklist (gate/data/monitoring-controls.yaml) with its
evaluator, scores each section, and reports one finding per control that is required at
the release's tier and missing or broken, plus findings about the files themselves
(invalid, rejected by promtool, incomplete rules, thresholds out of range, metrics nobody
exports, content logged without redaction, telemetry sent in clear text).
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any

from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.checks.monitoring.config import MonitoringConfig
from gate.checks.monitoring.controls import ControlResult, Status, checklist, required_at, score
from gate.checks.monitoring.evaluators import evaluator
from gate.checks.monitoring.evidence import Evidence, load_evidence
from gate.checks.monitoring.prometheus import promtool_executable, promtool_version, run_promtool
from gate.checks.monitoring.promql import metric_family, unit_scale
from gate.checks.monitoring.rules import CHECK, RULES
from gate.errors import ToolMissingError
from gate.models.finding import Finding, Severity
from gate.risk import is_generative
from gate.wording import count
from gate.yamlsafe import YamlDoc

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


class MonitoringCheck(Check[MonitoringConfig]):
    id = CHECK
    title = "Monitoring"
    description = (
        "The release ships monitoring that works: Prometheus alert rules (checked by promtool when "
        "installed), Alertmanager routing to real and on-call receivers, an OTel collector that redacts "
        "captured content, and monitoring.yaml; each control of the checklist is scored per section."
    )
    rules = RULES

    def run(self, ctx: CheckContext[MonitoringConfig]) -> CheckOutcome:
        cfg = ctx.config
        mon = ctx.manifest.monitoring
        if not (mon.config or mon.prometheus_rules or mon.alertmanager or mon.otel_collector):
            return CheckOutcome(
                summary="release.yaml declares no monitoring configuration (monitoring.config, "
                "monitoring.prometheus_rules, monitoring.alertmanager, monitoring.otel_collector)",
                skipped=True,
            )
        ev = load_evidence(ctx.release.root, ctx.manifest)
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

    # -- promtool -------------------------------------------------------------------------

    def _promtool(
        self, ctx: CheckContext[MonitoringConfig], ev: Evidence, findings: list[Finding]
    ) -> dict[str, Any]:
        cfg = ctx.config
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
            for path, line, what in ev.unredacted()
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

    def _controls(
        self, ctx: CheckContext[MonitoringConfig], ev: Evidence, cfg: MonitoringConfig
    ) -> list[ControlResult]:
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
                evaluator(c.name)(ev, cfg, r)
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
