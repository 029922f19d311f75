"""Evidence packs of real reports: the demo and bad releases, judged by `check --format json`
with the demo policy, read back by `evidence` in every format; OSCAL validated against the
official schema; outcomes held to the report they came from."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gate.compliance.mapping import frameworks
from gate.compliance.pack import Outcome, build_pack
from tests.support import BAD, DEMO, run_cli
from tests.support.oscal_schema import SCHEMA, SCHEMA_SHA256
from tests.support.oscal_schema import errors as oscal_errors


def _check(release: Path, policy: Path, out: Path) -> dict[str, Any]:
    result = run_cli("check", str(release), "--policy", str(policy), "--format", "json", "--no-decision-log")
    out.write_text(result.stdout, "utf-8")
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == report["exit_code"]
    return report


@pytest.fixture(scope="module")
def demo_report(
    demo_policy: Path, demo_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("ev") / "demo.json"
    report = _check(DEMO, demo_policy, path)
    assert report["verdict"] == "pass"
    return path, report


@pytest.fixture(scope="module")
def bad_report(demo_policy: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("ev") / "bad.json"
    report = _check(BAD, demo_policy, path)
    assert report["exit_code"] in (1, 3)
    return path, report


def _pack_json(path: Path, *extra: str) -> dict[str, Any]:
    result = run_cli("evidence", str(path), "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    pack: dict[str, Any] = json.loads(result.stdout)
    return pack


def _mapped(req: dict[str, Any], f: dict[str, Any]) -> bool:
    if req["rules"] or req["techniques"]:
        return f["rule"]["code"] in req["rules"] or bool(set(f["technique"]) & set(req["techniques"]))
    return f["check"] in {c["id"] for c in req["checks"]}


def _assert_matches_report(pack: dict[str, Any], report: dict[str, Any]) -> None:
    assert pack["release"]["digest"] == report["release"]["digest"]
    assert pack["verdict"] == report["verdict"]
    status = {c["id"]: c["status"] for c in report["checks"]}
    blocking = [f for f in report["findings"] if f["blocking"] and not f.get("waiver")]
    for fw in pack["frameworks"]:
        assert sum(fw["counts"].values()) == len(fw["requirements"])
        for req in fw["requirements"]:
            if req["coverage"] == "out-of-scope (process)":
                assert req["outcome"] == "human-process"
                continue
            hits = {f["id"] for f in blocking if _mapped(req, f)}
            assert {f["id"] for f in req["failed"]} == hits, (fw["framework"], req["id"])
            if hits:
                assert req["outcome"] == "failed"
            for c in req["checks"]:
                assert c["status"] == status.get(c["id"], "not-run")
            if req["outcome"] == "evidenced":
                assert all(status.get(c["id"]) in ("passed", "warned", "failed") for c in req["checks"])


def _assert_oscal(text: str, pack: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    assert oscal_errors(doc) == []
    ar = doc["assessment-results"]
    props = {p["name"]: p["value"] for p in ar["metadata"]["props"]}
    assert props["release-digest"] == pack["release"]["digest"]
    findings = ar["results"][0]["findings"]
    assert len(findings) == sum(len(fw["requirements"]) for fw in pack["frameworks"])
    by_target = {f["target"]["target-id"]: f for f in findings}
    assert len(by_target) == len(findings)
    for f in findings:
        outcome = next(p["value"] for p in f["props"] if p["name"] == "outcome")
        coverage = next(p["value"] for p in f["props"] if p["name"] == "coverage")
        state = f["target"]["status"]["state"]
        # Only a fully covered requirement the gate evidenced is 'satisfied'.
        assert (state == "satisfied") == (outcome == "evidenced" and coverage == "covered")
        if outcome == "failed":
            assert f["target"]["status"]["reason"] == "fail"
    return doc


def test_the_oscal_schema_is_nists_unmodified_and_rejects_what_oscal_forbids(
    demo_report: tuple[Path, dict[str, Any]],
) -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    path, _report = demo_report
    doc = json.loads(run_cli("evidence", str(path), "--format", "oscal").stdout)
    assert oscal_errors(doc) == []
    # The validator is not a rubber stamp: each mutation breaks one OSCAL constraint.
    no_uuid = copy.deepcopy(doc)
    del no_uuid["assessment-results"]["uuid"]
    bad_token = copy.deepcopy(doc)
    bad_token["assessment-results"]["metadata"]["props"][0]["name"] = "has space"
    bad_state = copy.deepcopy(doc)
    bad_state["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "green"
    extra = copy.deepcopy(doc)
    extra["assessment-results"]["metadata"]["colour"] = "red"
    for broken in (no_uuid, bad_token, bad_state, extra):
        assert oscal_errors(broken) != []
    # A Unicode letter is a valid token character (the schema's \p{L}): accepted, as OSCAL says.
    unicode_token = copy.deepcopy(doc)
    unicode_token["assessment-results"]["metadata"]["props"][0]["name"] = "\u00e9tape"
    assert oscal_errors(unicode_token) == []


def test_demo_release_pack_matches_its_report_and_its_oscal_validates(
    demo_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, report = demo_report
    pack = _pack_json(path)
    _assert_matches_report(pack, report)
    outcomes = {r["outcome"] for fw in pack["frameworks"] for r in fw["requirements"]}
    assert "failed" not in outcomes and "evidenced" in outcomes
    out = tmp_path / "demo.oscal.json"
    result = run_cli("evidence", str(path), "--format", "oscal", "--output", str(out))
    assert result.exit_code == 0, result.output
    doc = _assert_oscal(out.read_text("utf-8"), pack)
    # Same report, same document (UUIDs derive from the release digest).
    again = run_cli("evidence", str(path), "--format", "oscal")
    assert json.loads(again.stdout) == doc


def test_bad_release_pack_fails_the_requirements_its_blocking_findings_map_to(
    bad_report: tuple[Path, dict[str, Any]],
) -> None:
    path, report = bad_report
    pack = _pack_json(path)
    _assert_matches_report(pack, report)
    by_id = {(fw["framework"], r["id"]): r for fw in pack["frameworks"] for r in fw["requirements"]}
    supply = by_id[("owasp-llm-2025", "LLM03:2025")]
    assert supply["outcome"] == "failed"
    assert {"GATE-MF001", "GATE-RI002", "GATE-RI005"} <= {f["rule"] for f in supply["failed"]}
    assert by_id[("mitre-atlas", "AML.T0011.000")]["outcome"] == "failed"
    assert by_id[("eu-ai-act", "Art. 10(5)")]["outcome"] == "failed"  # a secret in the training data
    assert by_id[("eu-ai-act", "Art. 13(1)")]["outcome"] == "human-process"
    result = run_cli("evidence", str(path), "--format", "oscal")
    assert result.exit_code == 0, result.output
    _assert_oscal(result.stdout, pack)
    md = run_cli("evidence", str(path)).stdout
    assert "| LLM03:2025 Supply chain | covered | ❌ failed |" in md
    assert "not a statement of compliance" in md


def _variant(report: dict[str, Any], tmp_path: Path, name: str) -> Path:
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(report), "utf-8")
    return p


def test_waiver_makes_mapped_requirements_accepted_risk_with_reviewers_and_expiry(
    demo_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    report = copy.deepcopy(demo_report[1])
    finding = {
        "id": "GATE-MF001-0123456789abcdef",
        "check": "model-files",
        "rule": {"code": "GATE-MF001", "name": "unsafe-pickle-import"},
        "severity": "critical",
        "blocking": True,
        "title": "pickle imports os.system",
        "location": {"path": "model/x.pkl"},
        "technique": ["LLM03:2025", "AML.T0011.000"],
        "waiver": {
            "id": "W-1",
            "reason": "r",
            "justification": "sandboxed loader",
            "approvers": ["alice@example.com", "bob@example.com"],
            "expires": "2027-01-01T00:00:00Z",
        },
    }
    report["findings"] = [*report["findings"], finding]
    pack = build_pack(_variant(report, tmp_path, "waived"))
    req = next(r for fw in pack.frameworks for r in fw.requirements if r.id == "AML.T0011.000")
    assert req.outcome is Outcome.ACCEPTED_RISK
    assert req.accepted[0].approvers == ("alice@example.com", "bob@example.com")
    assert req.accepted[0].expires == "2027-01-01T00:00:00Z"
    # The same finding unwaived blocks: the requirement fails (the benign twin of the test above).
    del finding["waiver"]
    pack = build_pack(_variant(report, tmp_path, "blocking"))
    req = next(r for fw in pack.frameworks for r in fw.requirements if r.id == "AML.T0011.000")
    assert req.outcome is Outcome.FAILED


@pytest.mark.parametrize("how", ["skipped", "error", "absent"])
def test_a_check_that_did_not_run_leaves_its_requirements_not_assessed(
    demo_report: tuple[Path, dict[str, Any]], tmp_path: Path, how: str
) -> None:
    report = copy.deepcopy(demo_report[1])
    if how == "absent":
        report["checks"] = [c for c in report["checks"] if c["id"] != "training-data"]
    else:
        for c in report["checks"]:
            if c["id"] == "training-data":
                c["status"] = how
    pack = build_pack(_variant(report, tmp_path, how))
    for fw in pack.frameworks:
        for r in fw.requirements:
            if r.outcome is not Outcome.HUMAN and "training-data" in {c.id for c in r.checks}:
                assert r.outcome is Outcome.NOT_ASSESSED, (fw.framework, r.id)
                assert any("training-data" in n for n in r.not_assessed)


def test_pack_never_claims_compliance(demo_report: tuple[Path, dict[str, Any]]) -> None:
    text = run_cli("evidence", str(demo_report[0]), "--format", "json").stdout.lower()
    assert "compliant" not in text
    assert text.count("compliance") == text.count("not a statement of compliance")


def test_hostile_strings_cannot_break_the_markdown_matrix(
    demo_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    report = copy.deepcopy(demo_report[1])
    report["findings"] = [
        {
            "id": "GATE-MF001-x",
            "check": "model-files",
            "rule": {"code": "GATE-MF001", "name": "unsafe-pickle-import"},
            "severity": "critical",
            "blocking": True,
            "title": "t",
            "location": {"path": "a|b\n| x | <script>"},
            "technique": ["LLM03:2025"],
        }
    ]
    md = run_cli("evidence", str(_variant(report, tmp_path, "hostile"))).stdout
    line = next(x for x in md.splitlines() if x.startswith("| LLM03:2025"))
    assert "a\\|b" in line and "<script>" not in md


def test_release_digest_binds_the_pack_and_the_decision_log_entries(
    demo_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, report = demo_report
    log = tmp_path / "decisions.jsonl"
    log.write_text(
        json.dumps({"release": {"digest": report["release"]["digest"]}, "verdict": "pass"})
        + "\nnot json\n"
        + json.dumps({"release": {"digest": "sha256:other"}, "verdict": "fail"})
        + "\n",
        "utf-8",
    )
    pack = _pack_json(path, "--decision-log", str(log))
    assert [d["verdict"] for d in pack["decisions"]] == ["pass"]
    kinds = {a["kind"]: a for a in pack["artifacts"]}
    assert kinds["report"]["sha256"].startswith("sha256:") and "decision-log" in kinds


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1]", "expected a JSON object"),
        (b'{"verdict": "pass"}', "model-gate report"),
    ],
)
def test_bad_report_input_is_one_line_exit_2(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "r.json"
    p.write_bytes(content)
    result = run_cli("evidence", str(p))
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    missing = run_cli("evidence", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2 and "nope.json" in missing.stderr


def test_missing_extra_names_it(
    demo_report: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "trestle.oscal.assessment_results", None)
    result = run_cli("evidence", str(demo_report[0]), "--format", "oscal")
    assert result.exit_code == 2
    assert "install the `evidence` extra" in result.stderr
    # JSON and Markdown need no extra.
    assert run_cli("evidence", str(demo_report[0]), "--format", "markdown").exit_code == 0


def test_every_framework_appears_in_the_pack(demo_report: tuple[Path, dict[str, Any]]) -> None:
    pack = _pack_json(demo_report[0])
    assert [f["framework"] for f in pack["frameworks"]] == [f.framework for f in frameworks()]


def test_check_evidence_dir_writes_report_and_pack_bound_to_it(demo_policy: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    log = tmp_path / "decisions.jsonl"
    result = run_cli(
        "check", str(BAD), "--policy", str(demo_policy), "--evidence", str(out),
        "--decision-log", str(log), "--format", "json",
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert result.exit_code == report["exit_code"] != 0
    assert json.loads((out / "report.json").read_text("utf-8"))["release"] == report["release"]
    pack = json.loads((out / "evidence.json").read_text("utf-8"))
    assert pack["release"]["digest"] == report["release"]["digest"]
    assert [d["verdict"] for d in pack["decisions"]] == [report["verdict"]]  # this run's log entry
    _assert_matches_report(pack, json.loads((out / "report.json").read_text("utf-8")))
    _assert_oscal((out / "evidence.oscal.json").read_text("utf-8"), pack)
    assert "| LLM03:2025 Supply chain | covered | ❌ failed |" in (out / "evidence.md").read_text("utf-8")


def test_check_evidence_without_the_extra_stops_before_judging(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "trestle.oscal.assessment_results", None)
    result = run_cli("check", str(BAD), "--evidence", str(tmp_path / "e"), "--no-decision-log")
    assert result.exit_code == 2
    assert "install the `evidence` extra" in result.stderr
    assert not (tmp_path / "e").exists()


def test_hostile_waiver_file_names_stay_valid_oscal(
    demo_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    report = copy.deepcopy(demo_report[1])
    report["waivers"] = [
        {
            "path": "waivers/a b\n<x>|\"'#?.yaml",
            "status": "rejected",
            "reason": "signature invalid\nsecond line",
        }
    ]
    path = _variant(report, tmp_path, "waivers")
    pack = _pack_json(path)
    result = run_cli("evidence", str(path), "--format", "oscal")
    assert result.exit_code == 0, result.output
    doc = _assert_oscal(result.stdout, pack)
    hrefs = [r["rlinks"][0]["href"] for r in doc["assessment-results"]["back-matter"]["resources"]]
    assert any(h.startswith("waivers/a%20b%0A%3Cx%3E") for h in hrefs)
