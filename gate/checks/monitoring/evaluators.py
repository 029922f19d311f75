"""The evaluators of the `monitoring` check: one function per control of the checklist.

Each evaluator reads the parsed evidence and the policy settings and records on its
`ControlResult` whether the control is verified, only declared, broken or missing, with
the reasons and the evidence that decided it. Evaluators report nothing themselves: the
check turns the results of required controls into findings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

from gate.checks.monitoring.config import MonitoringConfig
from gate.checks.monitoring.controls import ControlResult, Status
from gate.checks.monitoring.evidence import Evidence
from gate.checks.monitoring.prometheus import AlertRule
from gate.checks.monitoring.spec import AlertOnly, DriftSide, MonitoringSpec

Evaluator = Callable[[Evidence, MonitoringConfig, ControlResult], None]
"""Judges one control: reads the evidence and the settings, writes the result."""

S = TypeVar("S")


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


def _section(
    ev: Evidence, r: ControlResult, attr: str, get: Callable[[MonitoringSpec], S | None]
) -> S | None:
    """The monitoring.yaml section `attr` (read by `get`), or None with the reason recorded on `r`."""
    if not _need_spec(ev, r, attr):
        return None
    assert ev.spec is not None
    section = get(ev.spec)
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


def _drift(side_name: Literal["input", "output"]) -> Evaluator:
    def evaluate(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
        if not _need_spec(ev, r, f"drift.{side_name}"):
            return
        assert ev.spec is not None
        drift = ev.spec.drift
        side: DriftSide | None = None
        if drift is not None:
            side = drift.input if side_name == "input" else drift.output
        if drift is None or side is None:
            r.reasons.append(f"monitoring.yaml has no drift.{side_name}")
            return
        ref = drift.reference_dataset
        if not (ref.uri or ref.path):
            r.status = Status.BROKEN
            r.reasons.append("drift.reference_dataset names neither a uri nor a path")
            return
        if ref.path and not (ev.root / ref.path).exists():
            r.status = Status.BROKEN
            r.reasons.append(f"drift.reference_dataset.path '{ref.path}' is not in the release")
            return
        r.evidence.append(
            f"reference dataset {ref.uri or ref.path}; {side.method} threshold {side.threshold:g}"
        )
        _alerts(ev, side.alert, r)

    return evaluate


def _alert_section(attr: str, get: Callable[[MonitoringSpec], AlertOnly | None]) -> Evaluator:
    def evaluate(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
        section = _section(ev, r, attr, get)
        if section is not None:
            _alerts(ev, section.alert, r)

    return evaluate


def _guardrail(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
    g = _section(ev, r, "guardrail", lambda s: s.guardrail)
    if g is None:
        return
    r.evidence.append(f"guardrail {g.name} on {g.position} ({g.mode})")
    _alerts(ev, g.alert, r)


def _extraction(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
    x = _section(ev, r, "extraction_defence", lambda s: s.extraction_defence)
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


def _retention(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
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
        gaps = ev.unredacted()
        if gaps:
            r.status = Status.BROKEN
            r.reasons.append(f"captured content leaves unredacted: {gaps[0][2]}")
        elif ev.otel is None:
            r.status = Status.BROKEN if ev.otel_declared else r.status
        else:
            r.evidence.append("every content pipeline of the collector redacts")
    r.evidence.append(f"retention {log.retention_days} days")


def _version_label(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
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


def _routing(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
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


def _oncall(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
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


def _rollback(ev: Evidence, cfg: MonitoringConfig, r: ControlResult) -> None:
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
        elif (ev.root / proc).is_file() and ".." not in Path(proc).parts and not Path(proc).is_absolute():
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


_EVALUATORS: dict[str, Evaluator] = {
    "input-drift": _drift("input"),
    "output-drift": _drift("output"),
    "quality-regression-alert": _alert_section("quality", lambda s: s.quality),
    "invalid-output-alert": _alert_section("invalid_outputs", lambda s: s.invalid_outputs),
    "latency-alert": _alert_section("latency", lambda s: s.latency),
    "error-rate-alert": _alert_section("errors", lambda s: s.errors),
    "input-guardrail": _guardrail,
    "extraction-defence": _extraction,
    "interaction-log-retention": _retention,
    "model-version-label": _version_label,
    "alert-routing": _routing,
    "oncall-routing": _oncall,
    "rollback-procedure": _rollback,
}


def evaluator(control_name: str) -> Evaluator:
    """The evaluator of the control named `control_name` (every checklist control has one)."""
    return _EVALUATORS[control_name]


def evaluators() -> dict[str, Evaluator]:
    """Control name -> its evaluator (a copy: the table itself stays fixed)."""
    return dict(_EVALUATORS)
