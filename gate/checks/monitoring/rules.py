"""The rules of the `monitoring` check: what each finding means, why it matters, how to fix it."""

from __future__ import annotations

from gate.models.finding import Severity, rule_maker

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
