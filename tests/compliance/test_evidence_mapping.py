"""The framework mappings are data: their ids, checks, rules and report fields are checked here
against the code and against a real report of the demo release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gate.checks import CHECKS, all_rules
from gate.compliance.mapping import Coverage, Framework, frameworks, load_framework, resolve_field
from gate.errors import InputError
from tests.support import DEMO, ROOT, run_cli

TECHNIQUES = ROOT / "gate" / "data" / "redteam" / "techniques.json"


@pytest.fixture(scope="module")
def demo_report(demo_policy: Path, demo_endpoint: str) -> dict[str, Any]:
    # The adversarial check attacks the demo's endpoint: only this fixture needs it.
    result = run_cli(
        "check", str(DEMO), "--policy", str(demo_policy), "--format", "json", "--no-decision-log"
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_every_requirement_id_is_in_its_frameworks_id_list() -> None:
    fws = frameworks()
    assert {f.framework for f in fws} == {
        "eu-ai-act",
        "nist-ai-rmf",
        "sr-11-7",
        "iso-42001",
        "owasp-llm-2025",
        "mitre-atlas",
    }
    for fw in fws:
        assert fw.requirements
        for r in fw.requirements:
            assert r.id in fw.ids, (fw.framework, r.id)


def test_complete_id_lists_have_the_frameworks_own_shape() -> None:
    """The id lists that claim to be a framework's whole list have its published size and structure:
    NIST AI RMF 1.0 has 72 subcategories (GOVERN 19, MAP 18, MEASURE 22, MANAGE 13), ISO/IEC 42001
    Annex A 38 controls in A.2-A.10, OWASP's list ten entries."""
    ids = {fw.framework: fw.ids for fw in frameworks()}
    rmf = ids["nist-ai-rmf"]
    assert len(rmf) == len(set(rmf)) == 72
    per_function = {
        f: sum(i.startswith(f + " ") for i in rmf) for f in ("GOVERN", "MAP", "MEASURE", "MANAGE")
    }
    assert per_function == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}
    iso = ids["iso-42001"]
    assert len(iso) == len(set(iso)) == 38
    assert {i.split(".")[1] for i in iso} == {str(n) for n in range(2, 11)}
    assert list(ids["owasp-llm-2025"]) == [f"LLM{n:02d}:2025" for n in range(1, 11)]


def test_every_registered_check_maps_to_a_requirement() -> None:
    mapped = {c for fw in frameworks() for r in fw.requirements for c in r.checks}
    assert set(CHECKS) - mapped == set()
    assert mapped - set(CHECKS) == set(), "a mapping names a check that does not exist"


def test_named_rules_exist_and_belong_to_named_or_known_checks() -> None:
    rules = {r.code: r for r in all_rules()}
    for fw in frameworks():
        for req in fw.requirements:
            for code in req.rules:
                assert code in rules, (fw.framework, req.id, code)
                assert rules[code].check in req.checks, (fw.framework, req.id, code)


def test_every_technique_carried_by_a_rule_or_probe_is_in_a_framework_id_list() -> None:
    ids = {i for fw in frameworks() if fw.framework in ("owasp-llm-2025", "mitre-atlas") for i in fw.ids}
    carried = {t for r in all_rules() for t in r.technique}
    for cat in json.loads(TECHNIQUES.read_text("utf-8"))["categories"].values():
        carried |= set(cat["owasp"]) | set(cat["atlas"])
    assert carried - ids == set()
    named = {t for fw in frameworks() for r in fw.requirements for t in r.techniques}
    assert named <= ids


@pytest.fixture(scope="module")
def classifier_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo is a language model; the classifier checks' evidence comes from a real classifier
    release (trained here) checked with the packaged default policy."""
    pytest.importorskip("art")
    from tests.support.robustness_models import digits, digits_onnx, write_release

    _, _, x, y = digits()
    rel = write_release(tmp_path_factory.mktemp("classifier") / "r", digits_onnx(True), x[:40], y[:40])
    result = run_cli("check", str(rel), "--format", "json", "--no-decision-log")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


# Checks that only apply to a kind of model the demo is not, and the report that shows them.
OTHER_EVIDENCE = {"classifier-robustness": "classifier_report"}


def test_covered_and_partial_entries_name_evidence_the_demo_report_contains(
    demo_report: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    ran = {c["id"] for c in demo_report["checks"] if c["status"] != "skipped"}
    for check, fixture in OTHER_EVIDENCE.items():
        other = request.getfixturevalue(fixture)
        ran |= {c["id"] for c in other["checks"] if c["id"] == check and c["status"] != "skipped"}
    covered = 0
    for fw in frameworks():
        for req in fw.requirements:
            if req.status is Coverage.PROCESS:
                continue
            assert req.has_evidence
            covered += req.status is Coverage.COVERED
            for check in req.checks:
                assert check in ran, (fw.framework, req.id, check)
            for path in req.fields:
                found, value = resolve_field(demo_report, path)
                assert found, (fw.framework, req.id, path)
                # A list (findings, waivers) may be empty in a passing report; a scalar may not.
                assert isinstance(value, list) or value not in (None, "", {}), (fw.framework, req.id, path)
    assert covered >= 5


def test_a_covered_entry_without_evidence_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text(
        "framework: x\ntitle: X\nsource: s\nids: [A]\nrequirements:\n"
        "  - {id: A, title: t, status: covered, reason: r}\n",
        "utf-8",
    )
    with pytest.raises(InputError, match="names no evidence"):
        load_framework(p)


def test_an_unknown_id_and_a_bad_status_are_rejected_with_file_and_field(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text(
        "framework: x\ntitle: X\nsource: s\nids: [A]\nrequirements:\n"
        "  - {id: B, title: t, status: partial, reason: r, checks: [monitoring]}\n",
        "utf-8",
    )
    with pytest.raises(InputError, match="'B' is not an id of x"):
        load_framework(p)
    p.write_text(
        "framework: x\ntitle: X\nsource: s\nids: [A]\nrequirements:\n"
        "  - {id: A, title: t, status: compliant, reason: r, checks: [monitoring]}\n",
        "utf-8",
    )
    with pytest.raises(InputError, match=r"x.yaml:6: requirements\[0\].status"):
        load_framework(p)


def test_framework_model_is_the_one_the_loader_returns() -> None:
    assert all(isinstance(f, Framework) for f in frameworks())


def test_docs_name_every_outcome_and_framework_file() -> None:
    from gate.compliance.pack import Outcome

    text = (ROOT / "docs" / "compliance.md").read_text("utf-8")
    for o in Outcome:
        assert f"`{o.value}`" in text
    for fw in frameworks():
        assert f"`{fw.framework}.yaml`" in text
