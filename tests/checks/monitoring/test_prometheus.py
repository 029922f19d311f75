"""Prometheus rule files: our parser, and promtool where it is installed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gate.checks.configfile import ConfigFileError
from gate.checks.monitoring.prometheus import parse_rule_file
from gate.engine import RunRequest, run
from gate.errors import ToolMissingError
from gate.models.report import CheckStatus
from tests.support import DEMO
from tests.support.monitoring import FIX, demo_with, fixture_text, of, run_check

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint

needs_promtool = pytest.mark.needs_tool("promtool")


def test_demo_rules_parse_with_lines() -> None:
    rf = parse_rule_file(DEMO, "monitoring/alerts.yaml")
    names = [a.name for a in rf.alerts]
    assert "ModelLatencyHigh" in names and len(names) == 9
    latency = next(a for a in rf.alerts if a.name == "ModelLatencyHigh")
    text = (DEMO / "monitoring/alerts.yaml").read_text().splitlines()
    assert text[latency.line - 1].strip() == "- alert: ModelLatencyHigh"
    assert text[latency.line_of("for") - 1].strip().startswith("for:")
    assert latency.for_s == 600 and latency.severity == "warning"


def test_prometheus_rule_object_is_read_from_spec() -> None:
    rf = parse_rule_file(FIX, "prometheus/prometheusrule.yaml")
    assert rf.crd and [a.name for a in rf.alerts] == ["ModelLatencyHigh", "ModelErrorRateHigh"]
    assert rf.alerts[0].line == 11


def test_anchors_in_rule_files_are_allowed() -> None:
    rf = parse_rule_file(FIX, "prometheus/anchors.yaml")
    assert rf.alerts[1].labels == rf.alerts[0].labels == {"severity": "warning", "model": "demo-tiny-gpt2"}


@pytest.mark.parametrize(
    ("fixture", "line", "text"),
    [
        ("prometheus/unknown-field.yaml", 6, "unknown field"),
        ("hostile/invalid.yaml", 6, "invalid YAML"),
        ("hostile/wrong-types.yaml", 1, "expected a list of rule groups"),
    ],
)
def test_broken_rule_files_name_file_and_line(fixture: str, line: int, text: str) -> None:
    with pytest.raises(ConfigFileError) as exc:
        parse_rule_file(FIX, fixture)
    assert exc.value.problem.line == line
    assert text in exc.value.problem.message
    assert exc.value.problem.path == fixture


def test_commented_out_alert_is_remembered(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      # - alert: ModelLatencyHigh\n      #   expr: x > 1\n"
        "      - alert: Other\n        expr: up == 0\n"
    )
    rf = parse_rule_file(tmp_path, "r.yaml")
    assert rf.commented == {"ModelLatencyHigh": 4}


def test_alert_and_record_are_exclusive(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    record: b\n    expr: x\n"
    )
    with pytest.raises(ConfigFileError, match="exactly one of"):
        parse_rule_file(tmp_path, "r.yaml")
    (tmp_path / "r.yaml").write_text(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    for: 10x\n"
    )
    with pytest.raises(ConfigFileError, match="not a valid duration"):
        parse_rule_file(tmp_path, "r.yaml")


# promtool -----------------------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_demo_rules() -> None:
    out = run_check(DEMO, "monitoring")
    pt = out.details["promtool"]
    assert pt["ran"] is True and "promtool" in pt["version"]
    assert pt["files"]["monitoring/alerts.yaml"]["ok"] is True
    assert "SUCCESS: 9 rules found" in pt["files"]["monitoring/alerts.yaml"]["summary"]
    assert not of(out, "promtool-rejects-rules")


@needs_promtool
def test_promtool_rejection_is_a_finding_with_its_line(tmp_path: Path) -> None:
    rel = demo_with(tmp_path, {"monitoring/alerts.yaml": fixture_text("prometheus/syntax-error.yaml")})
    out = run_check(rel, "monitoring")
    found = of(out, "promtool-rejects-rules")
    assert len(found) == 1
    f = found[0]
    # promtool points at the `expr:` key holding the broken expression
    assert f.location.path == "monitoring/alerts.yaml" and f.location.line == 6
    assert "could not parse expression" in f.title and f.severity.value == "high"
    assert out.details["promtool"]["files"]["monitoring/alerts.yaml"]["ok"] is False


@needs_promtool
def test_promtool_lint_warning_is_a_medium_finding(tmp_path: Path) -> None:
    rel = demo_with(
        tmp_path,
        {"monitoring/recording.yaml": fixture_text("prometheus/duplicate-rules.yaml")},
        manifest=lambda t: t.replace(
            "prometheus_rules: [monitoring/alerts.yaml]",
            "prometheus_rules: [monitoring/alerts.yaml, monitoring/recording.yaml]",
        ),
    )
    found = of(run_check(rel, "monitoring"), "promtool-rejects-rules")
    assert len(found) == 1 and found[0].severity.value == "medium"
    assert "duplicate" in found[0].title


@needs_promtool
def test_promtool_checks_a_prometheus_rule_object_through_its_spec(tmp_path: Path) -> None:
    rel = demo_with(
        tmp_path, {"monitoring/alerts.yaml": fixture_text("prometheus/prometheusrule-broken.yaml")}
    )
    found = of(run_check(rel, "monitoring"), "promtool-rejects-rules")
    assert found and "could not parse expression" in found[0].title
    assert found[0].location.line is None  # promtool saw the extracted spec; its lines are not ours


def _without_promtool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_without_promtool_the_report_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _without_promtool(monkeypatch, tmp_path)
    out = run_check(DEMO, "monitoring")
    assert out.details["promtool"] == {
        "ran": False,
        "expressions": "unverified",
        "reason": "promtool not installed: rule files checked by the gate's own parser only",
    }
    assert not out.findings


def test_policy_requiring_promtool_fails_closed_without_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_promtool(monkeypatch, tmp_path)
    with pytest.raises(ToolMissingError, match="promtool is not installed"):
        run_check(DEMO, "monitoring", require_promtool=True)
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nname: p\nextends: [default]\n"
        "defaults:\n  fail_closed: [monitoring]\n  checks:\n    monitoring: {require_promtool: true}\n"
    )
    report = run(RunRequest(release_dir=DEMO, policy=str(policy)))
    result = next(c for c in report.checks if c.id == "monitoring")
    assert result.status is CheckStatus.ERROR and report.exit_code == 3
    assert "promtool" in result.summary
    # Without fail_closed, monitoring is optional at the demo's tier: an error and a warning.
    policy.write_text(policy.read_text().replace("  fail_closed: [monitoring]\n", ""))
    report = run(RunRequest(release_dir=DEMO, policy=str(policy)))
    result = next(c for c in report.checks if c.id == "monitoring")
    assert result.status is CheckStatus.ERROR and report.exit_code == 0
    assert [f.rule.name for f in report.findings if f.evidence.get("check") == "monitoring"] == [
        "optional-check-incomplete"
    ]


@needs_promtool
def test_a_promtool_that_crashes_is_an_error_not_a_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "promtool"
    # A real executable standing in for a broken install: prints a version, then dies on every check.
    script.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "promtool, version 0"; exit 0; fi\nexit 139\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    from gate.errors import CheckError

    with pytest.raises(CheckError, match="exit 139"):
        run_check(DEMO, "monitoring")


def _required_monitoring(release: Path) -> Any:
    from gate.checks import load_check
    from gate.checks.interface import CheckContext, RunOptions
    from gate.release import load_release
    from gate.risk import score

    rel = load_release(release)
    cls = load_check("monitoring")
    ctx = CheckContext(
        release=rel,
        tier=score(rel.manifest),
        config=cls.Config.model_validate({}),
        options=RunOptions(),
        required=True,
    )
    return cls().run(ctx)


def test_without_promtool_expressions_are_unverified_never_verified(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_promtool(monkeypatch, tmp_path)
    out = _required_monitoring(DEMO)
    assert out.details["promtool"]["expressions"] == "unverified"
    (found,) = of(out, "rule-expressions-unverified")
    assert "unverified" in found.title and found.severity.value == "medium"
    # Optional monitoring: said in the details, not a finding.
    assert run_check(DEMO, "monitoring").details["promtool"]["expressions"] == "unverified"


def test_a_promtool_that_accepts_the_rules_verifies_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Benign twin: with promtool (a stand-in that accepts everything) nothing is unverified."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "promtool"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "promtool, version 2.53.0"; exit 0; fi\n'
        'echo "Checking $3"; echo "  SUCCESS: 3 rules found"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    out = _required_monitoring(DEMO)
    assert out.details["promtool"]["expressions"] == "verified"
    assert not of(out, "rule-expressions-unverified")
