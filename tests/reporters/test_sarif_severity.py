"""SARIF: each result's security-severity comes from its own score when it has one."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gate.checks import all_rules
from gate.models.report import Report
from gate.reporters.sarif import RULES_HELP_URI, SECURITY_SEVERITY, SarifReporter
from tests.support import GOLDEN


def results(report: Report, tmp_path: Path) -> list[dict[str, Any]]:
    doc = SarifReporter(root=tmp_path, rules=all_rules()).document(report)
    out: list[dict[str, Any]] = doc["runs"][0]["results"]
    return out


def bad_report() -> Report:
    return Report.model_validate_json((GOLDEN / "bad-release.json").read_text("utf-8"))


def test_advisories_keep_their_own_cvss(tmp_path: Path) -> None:
    report = bad_report()
    by_id = {r["properties"]["findingId"]: r for r in results(report, tmp_path)}
    scored = [f for f in report.findings if "cvss_score" in f.evidence]
    assert len({f.evidence["cvss_score"] for f in scored}) >= 2  # two advisories, two scores
    for f in scored:
        assert by_id[f.id]["properties"]["security-severity"] == f"{f.evidence['cvss_score']:.1f}"
    # a finding without a score of its own keeps its severity's default
    other = next(f for f in report.findings if "cvss_score" not in f.evidence)
    assert by_id[other.id]["properties"]["security-severity"] == SECURITY_SEVERITY[other.severity]


@pytest.mark.parametrize("bogus", [True, "9.8", 11.0, -1.0, math.nan, math.inf, None, [9.8]])
def test_a_bogus_score_falls_back_to_the_severity(bogus: object, tmp_path: Path) -> None:
    report = bad_report()
    f = next(f for f in report.findings if "cvss_score" in f.evidence)
    bad = f.model_copy(update={"evidence": {**f.evidence, "cvss_score": bogus}})
    report = report.model_copy(update={"findings": (bad,)})
    (result,) = results(report, tmp_path)
    assert result["properties"]["security-severity"] == SECURITY_SEVERITY[bad.severity]


def test_rules_have_a_help_uri(tmp_path: Path) -> None:
    doc = SarifReporter(root=tmp_path, rules=all_rules()).document(bad_report())
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rules and all(r["helpUri"] == RULES_HELP_URI for r in rules)
    assert RULES_HELP_URI.startswith("https://")
    json.dumps(doc, allow_nan=False)  # still strict JSON
