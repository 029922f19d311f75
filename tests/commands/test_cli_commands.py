from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gate.checks import all_rules
from tests.support import BAD, DEMO, ROOT, run_cli

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint


def test_tier_command_shows_factors() -> None:
    result = run_cli("tier", str(BAD))
    assert result.exit_code == 0
    assert "tier: high" in result.stdout
    assert "exposure" in result.stdout and "+3" in result.stdout
    data = json.loads(run_cli("tier", str(BAD), "--format", "json").stdout)
    assert data["level"] == "high" and data["annex_iii"] == ["employment"]


def test_explain_every_rule_by_code_and_name() -> None:
    for rule in all_rules():
        by_code = run_cli("explain", rule.code)
        assert by_code.exit_code == 0
        for section in ("What it does", "Why it matters", "Example", "How to fix"):
            assert section in by_code.stdout
        assert run_cli("explain", rule.name).stdout == by_code.stdout
    unknown = run_cli("explain", "GATE-XX999")
    assert unknown.exit_code == 2 and "unknown rule" in unknown.stderr


def test_init_writes_a_template_that_loads(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    result = run_cli("init", str(tmp_path))
    assert result.exit_code == 0
    text = (tmp_path / "release.yaml").read_text()
    assert "path: weights/" in text and "format: safetensors" in text
    checked = run_cli("check", str(tmp_path))
    assert checked.exit_code in (0, 1), checked.output  # valid manifest: judged, not rejected
    again = run_cli("init", str(tmp_path))
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_several_formats_from_one_run(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    result = run_cli(
        "check",
        str(DEMO),
        "--format",
        "json",
        "--format",
        "markdown",
        "--format",
        "text",
        "--output",
        str(out_json),
        "--output",
        str(out_md),
    )
    assert result.exit_code == 0
    assert "PASS" in result.stdout
    assert json.loads(out_json.read_text())["verdict"] == "pass"
    assert "model-gate: **PASS**" in out_md.read_text()
    two_stdout = run_cli("check", str(DEMO), "--format", "json", "--format", "text")
    assert two_stdout.exit_code == 2


def test_json_report_validates_against_committed_schema() -> None:
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text())
    for rel in (DEMO, BAD):
        report = json.loads(run_cli("check", str(rel), "--format", "json").stdout)
        jsonschema.validate(report, schema)
        assert report["schema"].endswith("/report/v1")
        for f in report["findings"]:
            assert set(f) >= {
                "id",
                "check",
                "rule",
                "severity",
                "blocking",
                "title",
                "location",
                "technique",
                "evidence",
                "reproduction",
                "mitigation",
                "waiver",
            }


def test_docs_are_generated_from_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    readme = (ROOT / "README.md").read_text()
    for rule in all_rules():
        assert f"`{rule.code}`" in readme


def test_python_m_gate_and_no_color(tmp_path: Path) -> None:
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    env["MODEL_GATE_OSV_URL"] = os.environ["MODEL_GATE_OSV_URL"]  # the demo audits its dependencies
    env["MODEL_GATE_DECISION_LOG"] = str(tmp_path / "decisions.jsonl")  # never the user's log
    result = subprocess.run(
        [sys.executable, "-m", "gate", "check", str(DEMO)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout


def test_check_rejects_a_bad_shard_before_judging() -> None:
    result = run_cli("check", str(DEMO), "--shard", "3/2", "--no-decision-log")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
