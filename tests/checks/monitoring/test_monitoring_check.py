"""The monitoring check end to end: controls, scores, cross-checks, hostile files."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from gate.checks.monitoring.controls import checklist
from gate.risk import Tier
from tests.support import BAD, DEMO, run_json
from tests.support.monitoring import FIX, control, demo_with, fixture_text, of, rule_names, run_check

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint


def _swap(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_demo_verifies_every_control_with_score_one() -> None:
    out = run_check(DEMO, "monitoring", tier=Tier.CRITICAL)  # complete enough for any tier
    assert out.findings == []
    assert out.details["score"] == 1.0
    assert {c["status"] for c in out.details["controls"].values()} == {"verified"}
    assert set(out.details["sections"]) == set(checklist().sections)
    assert out.summary.startswith("score 1.00 (lowest section; data 1.00")


def test_not_declared_is_skipped_and_blocks_only_where_required(tmp_path: Path) -> None:
    def strip(t: str) -> str:
        t = re.sub(r"\nmonitoring:\n(  .*\n)+", "\n", t)
        return re.sub(r"  manifests: .*\n", "", t)

    rel = demo_with(tmp_path, manifest=strip)
    out = run_check(rel, "monitoring")
    assert out.skipped and "declares no monitoring configuration" in out.summary
    code, report = run_json("check", str(rel))
    assert code == 0  # tier low: optional
    medium = demo_with(
        tmp_path / "m",
        manifest=lambda t: strip(t).replace("exposure: internal", "exposure: public"),
    )
    code, report = run_json("check", str(medium))
    assert report["tier"]["level"] == "medium" and code == 1
    skipped = {
        f["evidence"]["check"] for f in report["findings"] if f["rule"]["name"] == "required-check-skipped"
    }
    assert skipped == {"monitoring", "deployment"}


def test_missing_alert_commented_out_and_disabled_are_told_apart(tmp_path: Path) -> None:
    alerts = (DEMO / "monitoring/alerts.yaml").read_text()
    alerts = _swap(
        alerts, "      - alert: ModelLatencyHigh", "      # - alert: ModelLatencyHigh\n      - alert: Renamed"
    )
    alerts = _swap(
        alerts,
        'expr: sum by (model_version) (rate(model_invalid_outputs_total{model="demo-tiny-gpt2"}[10m])) > 0',
        "expr: vector(0) > 1",
    )
    alerts = _swap(alerts, "- alert: ModelQualityRegression", "- alert: QualityRenamed")
    rel = demo_with(tmp_path, {"monitoring/alerts.yaml": alerts})
    out = run_check(rel, "monitoring", tier=Tier.MEDIUM)
    by_control = {f.evidence["control"]: f for f in of(out, "monitoring-control-missing")}
    assert set(by_control) == {"MC-03", "MC-04", "MC-05"}
    lat = by_control["MC-05"]
    assert (
        "commented out at monitoring/alerts.yaml:" in lat.title
        and lat.location.path == "monitoring/alerts.yaml"
    )
    assert (
        (rel / "monitoring/alerts.yaml")
        .read_text()
        .splitlines()[lat.location.line - 1]
        .strip()
        .startswith("# - alert")
    )
    assert "is disabled: its expression selects no series" in by_control["MC-04"].title
    assert "no alerting rule named ModelQualityRegression" in by_control["MC-03"].title
    assert control(out, "MC-05")["status"] == "broken"
    assert out.details["sections"]["serving"]["score"] == 0.5
    assert out.details["score"] == 0.0  # the model section lost both its controls


def test_controls_below_their_tier_count_in_the_score_but_raise_no_finding(tmp_path: Path) -> None:
    spec = (DEMO / "monitoring.yaml").read_text()
    spec = re.sub(r"\nextraction_defence:\n(  .*\n)+", "\n", spec)
    rel = demo_with(tmp_path, {"monitoring.yaml": spec})
    low = run_check(rel, "monitoring", tier=Tier.LOW)
    assert low.findings == [] and control(low, "MC-08")["status"] == "missing"
    assert low.details["sections"]["security"]["score"] == 0.5
    high = run_check(rel, "monitoring", tier=Tier.HIGH)
    [f] = of(high, "monitoring-control-missing")
    assert f.evidence["control"] == "MC-08" and f.location.path == "monitoring.yaml" and f.location.line == 5
    required = run_check(rel, "monitoring", tier=Tier.LOW, required_controls=["extraction-defence"])
    assert [x.evidence["control"] for x in of(required, "monitoring-control-missing")] == ["MC-08"]


def test_claims_without_rule_files_score_half(tmp_path: Path) -> None:
    rel = demo_with(
        tmp_path, manifest=lambda t: _swap(t, "  prometheus_rules: [monitoring/alerts.yaml]\n", "")
    )
    out = run_check(rel, "monitoring", tier=Tier.HIGH)
    assert control(out, "MC-05")["status"] == "declared"
    assert out.details["sections"]["serving"]["score"] == 0.5
    declared = [f for f in of(out, "monitoring-control-missing") if f.evidence["status"] == "declared"]
    assert declared and all(f.severity.value == "medium" for f in declared)


def test_null_receiver_and_unpaged_critical_alerts(tmp_path: Path) -> None:
    rel = demo_with(
        tmp_path, {"monitoring/alertmanager.yaml": fixture_text("alertmanager/null-receiver.yaml")}
    )
    out = run_check(rel, "monitoring")
    routing = {f.evidence["control"]: f for f in of(out, "monitoring-control-missing")}
    assert set(routing) == {"MC-11"}  # on-call routing is required from medium only
    assert "route only to receivers with no integration (null)" in routing["MC-11"].title
    assert "ModelLatencyHigh (monitoring/alerts.yaml:" in routing["MC-11"].title
    assert routing["MC-11"].location.path == "monitoring/alertmanager.yaml"
    rel2 = demo_with(
        tmp_path / "2", {"monitoring/alertmanager.yaml": fixture_text("alertmanager/critical-to-chat.yaml")}
    )
    out2 = run_check(rel2, "monitoring", tier=Tier.MEDIUM)
    [f] = of(out2, "monitoring-control-missing")
    assert f.evidence["control"] == "MC-12" and "reach no on-call receiver" in f.title
    assert "ModelErrorRateHigh" in f.title and "-> chat" in f.title


def test_content_capture_without_redaction(tmp_path: Path) -> None:
    rel = demo_with(tmp_path, {"monitoring/otel-collector.yaml": fixture_text("otel/unredacted.yaml")})
    out = run_check(rel, "monitoring")
    [f] = of(out, "content-logged-without-redaction")
    assert f.location.path == "monitoring/otel-collector.yaml" and f.location.line == 18
    assert any("captures message content" in s for s in f.evidence["captured_at"])
    # The control itself is required from tier high only.
    assert control(out, "MC-09")["status"] == "broken" and not of(out, "monitoring-control-missing")
    # Control case: no capture anywhere, the same collector is fine.
    off = demo_with(
        tmp_path / "off",
        {
            "monitoring/otel-collector.yaml": fixture_text("otel/unredacted.yaml"),
            "monitoring.yaml": _swap(
                (DEMO / "monitoring.yaml").read_text(), "capture_content: true", "capture_content: false"
            ),
            "deploy/kubernetes.yaml": _swap(
                (DEMO / "deploy/kubernetes.yaml").read_text(),
                '- name: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT\n              value: "true"',
                '- name: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT\n              value: "false"',
            ),
        },
    )
    assert not of(run_check(off, "monitoring"), "content-logged-without-redaction")


def test_serving_capture_contradicting_monitoring_yaml(tmp_path: Path) -> None:
    spec = _swap((DEMO / "monitoring.yaml").read_text(), "capture_content: true", "capture_content: false")
    out = run_check(demo_with(tmp_path, {"monitoring.yaml": spec}), "monitoring", tier=Tier.HIGH)
    [f] = of(out, "monitoring-control-missing")
    assert "although monitoring.yaml says capture_content: false" in f.title


def test_connector_redaction_counts_and_insecure_exporter_is_reported(tmp_path: Path) -> None:
    ok = demo_with(tmp_path, {"monitoring/otel-collector.yaml": fixture_text("otel/connector-redacted.yaml")})
    assert run_check(ok, "monitoring", tier=Tier.HIGH).findings == []
    bad = demo_with(tmp_path / "b", {"monitoring/otel-collector.yaml": fixture_text("otel/insecure.yaml")})
    [f] = of(run_check(bad, "monitoring"), "telemetry-exported-without-tls")
    assert f.severity.value == "high" and f.location.line == 13  # content goes this way


def test_retention_below_six_months(tmp_path: Path) -> None:
    spec = _swap((DEMO / "monitoring.yaml").read_text(), "retention_days: 190", "retention_days: 180")
    out = run_check(demo_with(tmp_path, {"monitoring.yaml": spec}), "monitoring", tier=Tier.HIGH)
    [f] = of(out, "monitoring-control-missing")
    assert f.evidence["control"] == "MC-09" and "retention 180 days is under 184" in f.title
    assert (
        run_check(
            demo_with(tmp_path / "x", {"monitoring.yaml": spec}),
            "monitoring",
            tier=Tier.HIGH,
            min_log_retention_days=90,
        ).findings
        == []
    )


def test_metric_the_server_does_not_export(tmp_path: Path) -> None:
    k8s = _swap((DEMO / "deploy/kubernetes.yaml").read_text(), "model_invalid_outputs_total, ", "")
    out = run_check(demo_with(tmp_path, {"deploy/kubernetes.yaml": k8s}), "monitoring")
    [f] = of(out, "alert-metric-not-exported")
    assert "ModelInvalidOutputs uses model_invalid_outputs_total" in f.title
    line = (DEMO / "monitoring/alerts.yaml").read_text().splitlines()[f.location.line - 1]
    assert "model_invalid_outputs_total" in line
    # external_metrics covers metrics other services export
    spec = (
        (DEMO / "monitoring.yaml").read_text().replace('["model_eval_*", "guardrail_*"]', '["guardrail_*"]')
    )
    out2 = run_check(demo_with(tmp_path / "2", {"monitoring.yaml": spec}), "monitoring")
    assert [f.evidence["unknown_metrics"] for f in of(out2, "alert-metric-not-exported")] == [
        ["model_eval_quality_score"]
    ]


def test_thresholds_out_of_range(tmp_path: Path) -> None:
    alerts = (DEMO / "monitoring/alerts.yaml").read_text()
    alerts = _swap(alerts, ")\n          ) > 2\n", ")\n          ) > 3600\n")
    alerts = _swap(alerts, "            > 0.05\n", "            > 5\n")
    alerts = _swap(alerts, "for: 1h\n", "for: 6h\n")
    spec = _swap((DEMO / "monitoring.yaml").read_text(), "threshold: 0.2", "threshold: 40")
    out = run_check(
        demo_with(tmp_path, {"monitoring/alerts.yaml": alerts, "monitoring.yaml": spec}), "monitoring"
    )
    titles = sorted(f.title for f in of(out, "monitoring-threshold-out-of-range"))
    assert titles == [
        "alert ModelErrorRateHigh: threshold 5 (a ratio); range [0, 0.25]",
        "alert ModelLatencyHigh: threshold 3600 (3600 s; range (0, 30] s)",
        "alert ModelQualityRegression waits 360 min before firing (over 60 min)",
        "drift.input.threshold 40 is outside (0, 1]",
    ]
    assert (
        run_check(DEMO, "monitoring", max_latency_threshold_s=1)
        .findings[0]
        .title.startswith("alert ModelLatencyHigh: threshold 2")
    )


def test_alert_that_sums_away_the_version(tmp_path: Path) -> None:
    alerts = _swap(
        (DEMO / "monitoring/alerts.yaml").read_text(),
        'expr: max by (model_version) (model_input_drift_score{model="demo-tiny-gpt2"}) > 0.2',
        'expr: max(model_input_drift_score{model="demo-tiny-gpt2"}) > 0.2',
    )
    out = run_check(demo_with(tmp_path, {"monitoring/alerts.yaml": alerts}), "monitoring")
    [f] = of(out, "alert-drops-model-version")
    assert "ModelInputDrift" in f.title and "max(...) without 'by'" in f.title
    assert control(out, "MC-10")["status"] == "broken"
    [c] = of(out, "monitoring-control-missing")
    assert c.evidence["control"] == "MC-10"


def test_incomplete_rules(tmp_path: Path) -> None:
    alerts = _swap(
        (DEMO / "monitoring/alerts.yaml").read_text(),
        "        for: 2m\n        labels:\n          severity: critical\n",
        "        labels:\n",
    )
    alerts = _swap(
        alerts, "          runbook_url: https://runbooks.example.com/demo-tiny-gpt2/server-down\n", ""
    )
    out = run_check(demo_with(tmp_path, {"monitoring/alerts.yaml": alerts}), "monitoring")
    [f] = of(out, "alert-rule-incomplete")
    assert f.title == "alert ModelServerDown has no for, labels.severity, annotations.runbook_url"
    assert alerts.splitlines()[f.location.line - 1].strip() == "- alert: ModelServerDown"


def test_version_label_only_claimed(tmp_path: Path) -> None:
    k8s = (DEMO / "deploy/kubernetes.yaml").read_text().replace("  podTargetLabels: [model_version]\n", "")
    otel = (DEMO / "monitoring/otel-collector.yaml").read_text().replace("resource/model-version, ", "")
    out = run_check(
        demo_with(tmp_path, {"deploy/kubernetes.yaml": k8s, "monitoring/otel-collector.yaml": otel}),
        "monitoring",
    )
    assert control(out, "MC-10")["status"] == "declared"
    [f] = of(out, "monitoring-control-missing")
    assert (
        f.severity.value == "medium"
        and "neither the collector nor the serving configuration sets it" in f.title
    )


def test_guardrail_does_not_apply_to_a_classifier(tmp_path: Path) -> None:
    spec = re.sub(r"\nguardrail:\n(  .*\n)+", "\n", (DEMO / "monitoring.yaml").read_text())
    rel = demo_with(tmp_path, {"monitoring.yaml": spec})
    assert of(run_check(rel, "monitoring", tier=Tier.MEDIUM), "monitoring-control-missing")
    clf = demo_with(
        tmp_path / "c",
        {"monitoring.yaml": spec},
        manifest=lambda t: t.replace("task: text-generation", "task: text-classification"),
    )
    out = run_check(clf, "monitoring", tier=Tier.MEDIUM)
    assert control(out, "MC-07")["status"] == "not-applicable" and out.findings == []


def test_extraction_defence_checked_against_serving(tmp_path: Path) -> None:
    k8s = (DEMO / "deploy/kubernetes.yaml").read_text()
    k8s = _swap(k8s, "            - name: VLLM_API_KEY\n", "            - name: UNUSED_SETTING\n")
    out = run_check(demo_with(tmp_path, {"deploy/kubernetes.yaml": k8s}), "monitoring", tier=Tier.HIGH)
    [f] = of(out, "monitoring-control-missing")
    assert f.evidence["control"] == "MC-08" and "serving manifests show none" in f.title
    no_limit = (
        (DEMO / "deploy/kubernetes.yaml")
        .read_text()
        .replace('    nginx.ingress.kubernetes.io/limit-rpm: "600"\n', "")
    )
    out2 = run_check(
        demo_with(tmp_path / "2", {"deploy/kubernetes.yaml": no_limit}), "monitoring", tier=Tier.HIGH
    )
    assert control(out2, "MC-08")["status"] == "declared"


def test_rollback_procedure_must_exist(tmp_path: Path) -> None:
    rel = demo_with(tmp_path, {"monitoring/rollback.md": None})
    [f] = of(run_check(rel, "monitoring"), "monitoring-control-missing")
    assert f.evidence["control"] == "MC-13" and "neither an https URL nor a file in the release" in f.title


def test_monitoring_yaml_strictness(tmp_path: Path) -> None:
    spec = (DEMO / "monitoring.yaml").read_text()
    for i, (text, at, needle) in enumerate(
        (
            (
                spec.replace("latency:\n  alert:", "latency:\n  alerts:"),
                "  alerts: ModelLatencyHigh",
                "latency.alerts: unknown key",
            ),
            (
                spec.replace("version: 1\n", "version: 2\n"),
                "version: 2",
                "not a supported monitoring.yaml version",
            ),
            (
                spec.replace("  threshold: 0.2\n", "  threshold: high\n", 1),
                "    threshold: high",
                "drift.input.threshold",
            ),
            (
                spec + "\nextra: &x {a: 1}\nmore: *x\n",
                "extra: &x {a: 1}",
                "anchors and aliases are not allowed",
            ),
            (spec + "---\nversion: 1\n", None, "expected one YAML document, found 2"),
        )
    ):
        out = run_check(demo_with(tmp_path / str(i), {"monitoring.yaml": text}), "monitoring")
        [f] = of(out, "monitoring-config-invalid")
        assert needle in f.title and f.location.path == "monitoring.yaml", f.title
        if at is None:
            assert f.location.line is None
        else:
            assert f.location.line is not None, f.title
            assert text.splitlines()[f.location.line - 1] == at, f.title


@pytest.mark.parametrize(
    ("target", "fixture", "needle"),
    [
        ("monitoring/alerts.yaml", "hostile/invalid.yaml", "invalid YAML"),
        ("monitoring/alerts.yaml", "hostile/two-documents.yaml", "expected one YAML document"),
        ("monitoring/alertmanager.yaml", "hostile/billion-laughs.yaml", "document too large"),
        ("monitoring/otel-collector.yaml", "hostile/tabs.yaml", "invalid YAML"),
        ("monitoring/otel-collector.yaml", "hostile/wrong-types.yaml", "expected a `service` section"),
    ],
)
def test_hostile_files_become_findings_through_the_cli(
    tmp_path: Path, target: str, fixture: str, needle: str
) -> None:
    rel = demo_with(tmp_path, {target: (FIX / fixture).read_bytes()})
    start = time.perf_counter()
    code, report = run_json("check", str(rel))
    assert time.perf_counter() - start < 20
    assert code == 1
    [f] = [f for f in report["findings"] if f["rule"]["name"] == "monitoring-config-invalid"]
    assert needle in f["title"] and f["location"]["path"] == target and f["blocking"]


def test_huge_and_binary_files(tmp_path: Path) -> None:
    huge = "groups:\n" + "# padding\n" * 500_000
    rel = demo_with(tmp_path, {"monitoring/alerts.yaml": huge, "monitoring.yaml": b"\xff\xfe\x00garbage"})
    out = run_check(rel, "monitoring")
    titles = sorted(f.title for f in of(out, "monitoring-config-invalid"))
    assert "over the 4194304-byte limit" in titles[1] and "not UTF-8" in titles[0]


def test_bad_release_fails_visibly_for_monitoring() -> None:
    code, report = run_json("check", str(BAD))
    assert code == 1
    mine = [f for f in report["findings"] if f["check"] == "monitoring" and f["blocking"]]
    names = {f["rule"]["name"] for f in mine}
    assert names >= {
        "monitoring-control-missing",
        "content-logged-without-redaction",
        "monitoring-threshold-out-of-range",
    }
    controls = {f["evidence"]["control"] for f in mine if f["rule"]["name"] == "monitoring-control-missing"}
    assert {"MC-05", "MC-11", "MC-12", "MC-09"} <= controls
    result = next(c for c in report["checks"] if c["id"] == "monitoring")
    assert result["status"] == "failed" and result["details"]["score"] == 0.0
    assert all(f["location"]["path"] for f in mine)


def test_report_sections_are_in_json_details() -> None:
    _code, report = run_json("check", str(DEMO))
    result = next(c for c in report["checks"] if c["id"] == "monitoring")
    assert result["status"] == "passed"
    assert result["details"]["sections"]["response"] == {"score": 1.0, "points": 3.0, "controls": 3}
    json.dumps(result["details"])  # serialisable as is
    names = rule_names(run_check(DEMO, "monitoring"))
    assert names == set()


def test_a_directory_where_a_file_is_declared(tmp_path: Path) -> None:
    rel = demo_with(tmp_path, {"monitoring/alertmanager.yaml": None})
    (rel / "monitoring/alertmanager.yaml").mkdir()
    out = run_check(rel, "monitoring")
    [f] = of(out, "monitoring-config-invalid")
    assert f.location.path == "monitoring/alertmanager.yaml" and "not a regular file" in f.title
    assert control(out, "MC-11")["status"] == "broken"


def test_capture_without_any_collector_config_points_at_the_switch(tmp_path: Path) -> None:
    rel = demo_with(
        tmp_path, manifest=lambda t: _swap(t, "  otel_collector: monitoring/otel-collector.yaml\n", "")
    )
    [f] = of(run_check(rel, "monitoring"), "content-logged-without-redaction")
    assert "no OTel collector configuration shows redaction" in f.title
    assert f.location.path == "monitoring.yaml"
    assert (
        (rel / "monitoring.yaml")
        .read_text()
        .splitlines()[(f.location.line or 0) - 1]
        .strip()
        .startswith("capture_content: true")
    )
