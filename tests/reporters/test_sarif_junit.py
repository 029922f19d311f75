"""SARIF 2.1.0 (validated against the OASIS schema) and JUnit XML (validated against an XSD)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate import engine
from gate.checks import all_rules
from gate.docs import rule_doc
from gate.models.finding import AppliedWaiver, Severity, new_finding
from gate.models.report import CheckStatus, Report
from gate.reporters import sarif as sarif_mod
from gate.reporters.junit import JunitReporter
from gate.reporters.sarif import MAX_RESULTS, SarifReporter
from tests.reporters.test_reporters import stable_report
from tests.support import BAD, DATA, DEMO

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint

SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text("utf-8"))
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)
XSD = xmlschema.XMLSchema(str(DATA / "junit-10.xsd"))

_REPORT: dict[str, Report] = {}  # one release copy for all hypothesis examples

WAIVER = AppliedWaiver(
    id="W-7",
    reason="the code file is documentation only",
    justification="code_not_reachable",
    approvers=("alice", "bob"),
    expires="2026-12-31",
    ticket="https://tracker.example/SEC-1",
)


def sarif(report: Report, root: Path | None = None, *, every_rule: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        SarifReporter(root=root or Path("/repo"), rules=all_rules(), all_rules=every_rule).render(report)
    )
    errors = sorted(VALIDATOR.iter_errors(doc), key=str)
    assert not errors, errors[0]
    return doc


def waived(report: Report, index: int = 0) -> Report:
    fs = list(report.findings)
    fs[index] = fs[index].model_copy(update={"waiver": WAIVER})
    return report.model_copy(update={"findings": tuple(fs)})


# SARIF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("src", [DEMO, BAD], ids=["demo", "bad"])
def test_sarif_describes_the_rules_its_results_name(src: Path, tmp_path: Path) -> None:
    report = stable_report(src, tmp_path)
    run = sarif(report)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    used = {f.rule.code for f in report.findings}
    # only the rules that occur, in catalogue order, each once
    assert [r["id"] for r in rules] == [r.code for r in all_rules() if r.code in used]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    catalogue = {r.code: r for r in all_rules()}
    for desc in rules:
        rule = catalogue[desc["id"]]
        assert desc["help"]["text"] == rule_doc(rule)
        assert rule.fix in desc["help"]["markdown"]
        assert 0.0 <= float(desc["properties"]["security-severity"]) <= 10.0


def test_sarif_all_rules_keeps_the_catalogue(tmp_path: Path) -> None:
    run = sarif(stable_report(BAD, tmp_path), every_rule=True)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.code for r in all_rules()]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    sev = {r["id"]: float(r["properties"]["security-severity"]) for r in rules}
    assert sev["GATE-RI002"] > 9.0 > sev["GATE-RI005"] >= 7.0  # critical, high on GitHub's scale


def test_three_findings_of_two_rules_make_two_rule_descriptors(tmp_path: Path) -> None:
    from gate.checks.release_integrity import RULES

    base = stable_report(BAD, tmp_path)
    a, b = RULES[3], RULES[4]
    fs = (
        new_finding(b, "second rule", path="m/c.py"),
        new_finding(a, "one", path="m/a.bin"),
        new_finding(a, "two", path="m/b.bin"),
    )
    report = base.model_copy(update={"findings": fs})
    run = sarif(report)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert sorted(r["id"] for r in rules) == sorted({a.code, b.code})
    assert [rules[r["ruleIndex"]]["id"] for r in run["results"]] == [b.code, a.code, a.code]
    full = sarif(report, every_rule=True)["runs"][0]
    assert len(full["tool"]["driver"]["rules"]) == len(all_rules())
    assert [full["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] for r in full["results"]] == [
        b.code,
        a.code,
        a.code,
    ]
    # a run with no result describes no rule
    empty = sarif(base.model_copy(update={"findings": ()}))["runs"][0]
    assert empty["tool"]["driver"]["rules"] == [] and empty["results"] == []


def test_sarif_results_point_into_the_repository(tmp_path: Path) -> None:
    report = stable_report(BAD, tmp_path)  # release path examples/bad-release (relative)
    run = sarif(report)["runs"][0]
    assert run["automationDetails"]["id"] == "model-gate/examples/bad-release/"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    loc = by_rule["GATE-RI005"]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {
        "uri": "examples/bad-release/model/modeling_custom.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert "region" not in loc  # no line: the uploader must not hash a "line" of a model file
    manifest = by_rule["GATE-RT002"]["locations"][0]["physicalLocation"]
    assert manifest["artifactLocation"]["uri"] == "examples/bad-release/release.yaml"
    assert manifest["region"] == {"startLine": 16}
    for r, f in zip(run["results"], report.findings, strict=True):
        assert r["partialFingerprints"] == {"modelGateFindingId/v1": f.id}
        assert r["ruleIndex"] == [x["id"] for x in run["tool"]["driver"]["rules"]].index(r["ruleId"])
    assert by_rule["GATE-RI002"]["level"] == "error"
    assert by_rule["GATE-RT002"]["level"] == "note"
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["properties"]["verdict"] == "fail"


def test_sarif_paths_from_an_absolute_release_path(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    rel = repo / "models" / "my model"
    rel.mkdir(parents=True)
    report = stable_report(BAD, tmp_path)
    report = report.model_copy(update={"release": report.release.model_copy(update={"path": str(rel)})})
    run = sarif(report, root=repo)["runs"][0]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert "models/my%20model/model/modeling_custom.py" in uris
    assert run["automationDetails"]["id"] == "model-gate/models/my model/"
    # A release outside the repository: paths relative to the release, and the run says so.
    outside = sarif(report, root=tmp_path / "elsewhere")["runs"][0]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in outside["results"]}
    assert "model/modeling_custom.py" in uris
    notes = [n["message"]["text"] for n in outside["invocations"][0]["toolExecutionNotifications"]]
    assert any("outside the repository" in n for n in notes)


def test_sarif_root_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv(sarif_mod.ROOT_ENV, str(tmp_path))
    assert sarif_mod.repository_root() == tmp_path
    monkeypatch.delenv(sarif_mod.ROOT_ENV)
    assert sarif_mod.repository_root() == tmp_path / "ws"


def test_waived_findings_are_suppressed_not_hidden(tmp_path: Path) -> None:
    report = stable_report(BAD, tmp_path)
    run = sarif(waived(report))["runs"][0]
    sup = [r for r in run["results"] if "suppressions" in r]
    assert len(sup) == 1 and len(run["results"]) == len(report.findings)
    (s,) = sup[0]["suppressions"]
    assert s["kind"] == "external" and s["status"] == "accepted"
    assert s["justification"] == "code_not_reachable: the code file is documentation only"
    assert s["properties"]["waiverId"] == "W-7" and s["properties"]["approvers"] == ["alice", "bob"]
    assert sup[0]["properties"]["blocking"] is False


def test_check_errors_become_notifications(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    r = r.model_copy(
        update={"checks": (r.checks[0].model_copy(update={"status": CheckStatus.ERROR, "summary": "boom"}),)}
    )
    inv = sarif(r)["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert inv["toolExecutionNotifications"][0]["message"]["text"].endswith("could not complete: boom")


def _with_findings(r: Report, n: int) -> Report:
    from gate.checks.release_integrity import RULES

    sev = [Severity.LOW, Severity.MEDIUM, Severity.CRITICAL]
    fs = [new_finding(RULES[3], f"f{i}", path=f"m/{i}.bin", severity=sev[i % 3]) for i in range(n)]
    return r.model_copy(update={"findings": tuple(fs)})


def test_sarif_keeps_the_worst_25000_results_and_says_so(tmp_path: Path) -> None:
    r = _with_findings(stable_report(BAD, tmp_path), MAX_RESULTS + 3)
    doc = SarifReporter(root=Path("/repo"), rules=all_rules()).document(r)
    run = doc["runs"][0]
    assert len(run["results"]) == MAX_RESULTS
    assert run["properties"]["resultsOmitted"] == 3
    # The three left out are lows: every critical and medium is still there.
    levels = [res["properties"]["severity"] for res in run["results"]]
    made = [f.severity.value for f in r.findings]
    assert levels.count("critical") == made.count("critical")
    assert levels.count("medium") == made.count("medium")
    assert levels.count("low") == made.count("low") - 3
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any(n.startswith("3 of 25003 results were left out") and "low" in n for n in notes)


def test_unknown_rules_get_a_descriptor(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    f = r.findings[0].model_copy(
        update={"rule": r.findings[0].rule.model_copy(update={"code": "GATE-ZZ999"})}
    )
    run = sarif(r.model_copy(update={"findings": (f,)}))["runs"][0]
    assert run["tool"]["driver"]["rules"][run["results"][0]["ruleIndex"]]["id"] == "GATE-ZZ999"


# JUnit -----------------------------------------------------------------------------------------


def junit(report: Report) -> ET.Element:
    text = JunitReporter(rules=all_rules()).render(report)
    XSD.validate(text)
    return ET.fromstring(text)


def cases(root: ET.Element) -> dict[str, ET.Element]:
    (suite,) = root.findall("testsuite")  # one suite: the checks
    assert suite.attrib["name"] == "model-gate.checks"
    return {c.attrib["name"]: c for c in suite.findall("testcase")}


def test_junit_has_one_case_per_check_and_none_per_rule(tmp_path: Path) -> None:
    report = stable_report(BAD, tmp_path)
    root = junit(report)
    checks = cases(root)
    assert list(checks) == [c.id for c in report.checks]
    assert root.attrib["tests"] == str(len(report.checks))
    assert not any(n.startswith("GATE-") for n in checks)
    fail = checks["release-integrity"].find("failure")
    assert fail is not None and fail.attrib["message"].startswith("3 blocking")
    assert "GATE-RI005 executable-code-in-release" in (fail.text or "")
    # each blocking finding is in its check's failure, and nowhere else a failure
    failures = {n: c.find("failure") for n, c in checks.items()}
    for f in report.findings:
        owner = f.check if f.check in checks else str(f.evidence.get("check"))
        text = failures[owner].text if failures[owner] is not None else ""
        assert (f"id {f.id}" in (text or "")) == f.effective_blocking, f.id
    # the non-blocking info finding of risk-tier is in its system-out, not a failure
    assert checks["risk-tier"].find("failure") is None
    assert "GATE-RT002" in (checks["risk-tier"].findtext("system-out") or "")
    failed = sum(1 for c in checks.values() if c.find("failure") is not None)
    assert (root.attrib["failures"], root.attrib["errors"]) == (str(failed), "0")
    props = {p.attrib["name"]: p.attrib["value"] for p in root.iter("property")}
    assert props["verdict"] == "fail" and props["tier"] == "high"


def test_junit_a_required_check_that_did_not_run_fails_on_its_own_case(tmp_path: Path) -> None:
    report = stable_report(BAD, tmp_path)  # tier high requires adversarial; no endpoint declared
    adv = cases(junit(report))["adversarial"]
    fail = adv.find("failure")
    assert fail is not None and "GATE-GA001 required-check-skipped" in (fail.text or "")
    assert adv.find("skipped") is None  # it blocks: not shown as merely skipped


def test_junit_demo_release_has_no_failures(tmp_path: Path) -> None:
    root = junit(stable_report(DEMO, tmp_path))
    assert root.attrib["failures"] == "0" and root.attrib["errors"] == "0"


def test_junit_check_error_is_an_error(tmp_path: Path) -> None:
    r = stable_report(DEMO, tmp_path)
    broken = r.checks[0].model_copy(update={"status": CheckStatus.ERROR, "summary": "disk on fire"})
    root = junit(r.model_copy(update={"checks": (broken, *r.checks[1:])}))
    err = cases(root)[broken.id].find("error")
    assert err is not None and "disk on fire" in (err.text or "")
    assert root.attrib["errors"] == "1" and root.attrib["tests"] == str(len(r.checks))


def test_junit_a_skipped_check_is_skipped(tmp_path: Path) -> None:
    r = stable_report(DEMO, tmp_path)
    skipped = [c for c in r.checks if c.status is CheckStatus.SKIPPED]
    assert skipped  # classifier-robustness: the demo declares no classifier
    checks = cases(junit(r))
    for c in skipped:
        case = checks[c.id]
        assert case.find("skipped") is not None and case.find("failure") is None


def test_junit_waived_finding_is_not_a_failure(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    link = next(i for i, f in enumerate(r.findings) if f.rule.code == "GATE-RI002")
    case = cases(junit(waived(r, link)))["release-integrity"]  # the critical link finding
    fail = case.find("failure")
    assert fail is not None and "GATE-RI002" not in (fail.text or "")
    assert fail.attrib["message"].startswith("2 blocking")
    out = case.findtext("system-out") or ""
    assert "GATE-RI002" in out and "waived" in out and "W-7" in out


def test_junit_engine_findings_of_no_check(tmp_path: Path) -> None:
    """A finding the engine raises about no check of the run: listed when it does not block, a
    `model-gate` case when it does (a blocking finding is never only a note)."""
    from gate.rules import UNTRUSTED_BASELINE

    r = stable_report(DEMO, tmp_path)
    note = new_finding(UNTRUSTED_BASELINE, "baseline not trusted", key="baseline", detail="--baseline")
    root = junit(r.model_copy(update={"findings": (*r.findings, note)}))
    assert root.attrib["tests"] == str(len(r.checks))
    suite = root.find("testsuite")
    assert suite is not None and "baseline not trusted" in (suite.findtext("system-out") or "")
    blocking = note.model_copy(update={"blocking": True})
    root = junit(r.model_copy(update={"findings": (*r.findings, blocking)}))
    engine_case = cases(root)["model-gate"]
    assert "baseline not trusted" in (engine_case.findtext("failure") or "")
    assert root.attrib["tests"] == str(len(r.checks) + 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(min_size=1, max_size=200))
def test_hostile_text_keeps_both_formats_valid(title: str, tmp_path: Path) -> None:
    base = _REPORT.get("bad")
    if base is None:
        base = _REPORT.setdefault("bad", stable_report(BAD, tmp_path))
    f = base.findings[0].model_copy(update={"title": title, "mitigation": title})
    r = base.model_copy(update={"findings": (f,)})
    junit(r)
    doc = sarif(r)
    # The message is the title made printable (gate.escape): equal when there was nothing to escape.
    from gate.escape import text

    assert doc["runs"][0]["results"][0]["message"]["text"].startswith(text(title))


def test_junit_very_long_text_is_capped(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    f = r.findings[0].model_copy(update={"title": "x" * 200_000})
    junit = JunitReporter(rules=all_rules())
    short = junit.render(r.model_copy(update={"findings": (f.model_copy(update={"title": "x"}),)}))
    text = junit.render(r.model_copy(update={"findings": (f,)}))
    # The title (in the message and the text, 200,000 characters each) adds at most two capped
    # copies of 64 KiB, whatever the size of the rest of the document.
    assert len(text) - len(short) < 2 * 65_536 + 1_000 and "more characters in the JSON report" in text


def test_formats_from_the_cli(tmp_path: Path) -> None:
    from tests.support import run_cli

    out_s, out_j, out_all = tmp_path / "r.sarif", tmp_path / "r.xml", tmp_path / "all.sarif"
    res = run_cli(
        "check",
        str(BAD),
        "--format",
        "sarif",
        "--output",
        str(out_s),
        "--format",
        "junit",
        "--output",
        str(out_j),
        "--format",
        "text",
    )
    assert res.exit_code == 1
    doc = json.loads(out_s.read_text("utf-8"))
    assert not list(VALIDATOR.iter_errors(doc))
    XSD.validate(str(out_j))
    used = {r["ruleId"] for r in doc["runs"][0]["results"]}
    assert {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]} == used
    res = run_cli("check", str(BAD), "--sarif-all-rules", "--format", "sarif", "--output", str(out_all))
    assert res.exit_code == 1
    full = json.loads(out_all.read_text("utf-8"))
    assert not list(VALIDATOR.iter_errors(full))
    assert len(full["runs"][0]["tool"]["driver"]["rules"]) == len(all_rules())
    assert out_all.stat().st_size > 2 * out_s.stat().st_size


@pytest.mark.parametrize("command", ["check", "redteam", "merge"])
def test_every_command_that_writes_sarif_takes_sarif_all_rules(command: str) -> None:
    from tests.support import run_cli

    assert "--sarif-all-rules" in run_cli(command, "--help").stdout


def test_engine_report_round_trip(tmp_path: Path) -> None:
    # A report read back from JSON (as the action does) renders the same SARIF.
    r = engine.run(engine.RunRequest(release_dir=BAD))
    again = Report.model_validate_json(r.model_dump_json(by_alias=True))
    assert SarifReporter(root=Path("/"), rules=all_rules()).render(again) == SarifReporter(
        root=Path("/"), rules=all_rules()
    ).render(r)
