"""A newcomer's team policy: `extends: [default]` plus keys behaves as `default` plus keys.

Judged through `model-gate check` on examples/demo-release: the team policy that extends the
default and the default policy with the same keys written into it give the same composed policy
(same digest), the same verdict, exit code and check results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gate.policy import load_policy
from tests.support import DEMO, ROOT, run_json

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint

DEFAULT_YAML = ROOT / "gate" / "policies" / "default.yaml"
# What a team adds: a stricter warning level, a smaller file limit, a stricter high tier,
# its own OSV mirror (a setting the default delegates) and a raised rule severity.
TEAM_KEYS = """\
defaults:
  warn_at: info
  rules:
    GATE-RI003: {{severity: high}}
  checks:
    release-integrity:
      max_file_size_mb: 1024
    dependencies:
      osv_url: {mirror}
tiers:
  high:
    block_at: low
"""


def _summary(report: dict[str, Any]) -> tuple[Any, ...]:
    return (
        report["verdict"],
        report["exit_code"],
        report["policy"]["sha256"],
        tuple((c["id"], c["status"]) for c in report["checks"]),
        tuple(sorted((f["rule"]["code"], f["severity"], f["blocking"]) for f in report["findings"])),
    )


def test_extends_default_plus_keys_is_default_plus_keys(tmp_path: Path, osv_mirror: str) -> None:
    team = tmp_path / "team.yaml"
    team.write_text("version: 1\nname: default\nextends: [default]\n" + TEAM_KEYS.format(mirror=osv_mirror))
    # The same keys written into a copy of the default policy itself.
    text = DEFAULT_YAML.read_text("utf-8")
    edits = {
        "  warn_at: low\n": "  warn_at: info\n  rules:\n    GATE-RI003: {severity: high}\n",
        "      max_file_size_mb: 51200   # 50 GiB per file\n": "      max_file_size_mb: 1024\n",
        "      # osv_url: http://osv-mirror.internal:8765": f"      osv_url: {osv_mirror}\n      #",
        "    allow_skip: [training-data]  # skipped only when no dataset has a path\n    block_at: medium\n"
        "    checks:\n      dependencies:\n        max_cvss: 3.9           # medium and above block\n": (
            "    allow_skip: [training-data]  # skipped only when no dataset has a path\n    block_at: low\n"
            "    checks:\n      dependencies:\n        max_cvss: 3.9           # medium and above block\n"
        ),
    }
    for old, new in edits.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    copy = tmp_path / "default-plus-keys.yaml"
    copy.write_text(text, "utf-8")
    assert load_policy(str(team)).tiers == load_policy(str(copy)).tiers
    code_team, team_report = run_json("check", str(DEMO), "--policy", str(team), "--no-decision-log")
    code_copy, copy_report = run_json("check", str(DEMO), "--policy", str(copy), "--no-decision-log")
    assert code_team == code_copy == 0
    assert _summary(team_report) == _summary(copy_report)


def test_extends_default_alone_checks_as_default(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text("version: 1\nname: default\nextends: [default]\n")
    code_team, team_report = run_json("check", str(DEMO), "--policy", str(team), "--no-decision-log")
    code_default, default_report = run_json("check", str(DEMO), "--no-decision-log")
    assert code_team == code_default == 0
    assert _summary(team_report) == _summary(default_report)
