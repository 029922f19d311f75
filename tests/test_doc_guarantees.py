"""Docs say what the code does: every guarantee table names tests that exist.

Each doc ends with a table naming, for every guarantee it makes, the test that fails when the
guarantee breaks: the tests named there must exist. And the waiver page's `waiver new` example is
run as written (paths and the finding id substituted), at the tier the page shows, and must not
trigger warnings of its own.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import pytest

from tests.support import ROOT, run_cli
from tests.support.waiverkit import code_release, make_keys, write_keys, write_policy

DOCS = (
    "supply-chain.md",
    "waivers-and-attestations.md",
    "monitoring-and-deployment.md",
    "adversarial.md",
    "guarded-stack.md",
    "classifier-robustness.md",
)
SECTION = "## Guarantees and the tests that hold them"
REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("doc", DOCS)
def test_every_guarantee_names_a_test_that_exists(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text("utf-8")
    assert SECTION in text, f"docs/{doc} has no '{SECTION}' table"
    rows = [
        line for line in text.split(SECTION, 1)[1].splitlines() if line.startswith("| ") and "`tests/" in line
    ]
    assert len(rows) >= 5
    for row in rows:
        refs = REF.findall(row)
        assert refs, f"docs/{doc}: a guarantee without a test: {row[:80]}"
        for path, name in refs:
            assert (ROOT / path).is_file(), f"docs/{doc} names {path}, which does not exist"
            assert name in _functions(ROOT / path), f"docs/{doc} names {path}::{name}, which does not exist"


HIGH_TIER = """\
schema_version: 1
name: tiny
version: 1.0.0
model: {path: model/, format: safetensors}
deployment: {exposure: public, data_sensitivity: personal, autonomy: autonomous}
"""


def _documented_waiver_new() -> list[str]:
    text = (ROOT / "docs" / "waivers-and-attestations.md").read_text("utf-8")
    start = text.index("$ model-gate waiver new")
    lines = []
    for line in text[start:].splitlines():
        lines.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(lines).removeprefix("$ model-gate "))


def test_the_documented_waiver_example_applies_without_warnings(tmp_path: Path) -> None:
    keys = make_keys()
    policy = write_policy(tmp_path / "pol", keys)
    private = write_keys(keys, tmp_path / "private")
    rel = code_release(tmp_path / "release", HIGH_TIER)
    report = tmp_path / "report.json"
    out = run_cli("check", str(rel), "--policy", str(policy), "--format", "json", "--offline")
    report.write_text(out.stdout)
    data = json.loads(out.stdout)
    assert data["tier"]["level"] == "high"  # the tier the page's example shows
    (fid,) = [f["id"] for f in data["findings"] if f["rule"]["code"] == "GATE-RI005"]

    args = _documented_waiver_new()
    substitute = {
        "--finding": fid,
        "--release": str(rel),
        "--report": str(report),
        "--requester-key": str(tmp_path / "pol" / "keys" / "carol.pub"),
        "-o": str(tmp_path / "waivers" / "sec-1234.json"),
    }
    for i, arg in enumerate(args[:-1]):
        if arg in substitute:
            args[i + 1] = substitute[arg]
    assert args[:2] == ["waiver", "new"] and "--expires" in args
    res = run_cli(*args, "--policy", str(policy))
    assert res.exit_code == 0, res.output
    waiver = tmp_path / "waivers" / "sec-1234.json"
    assert run_cli("waiver", "sign", str(waiver), "--key", str(private["alice"])).exit_code == 0

    res = run_cli(
        "waiver", "verify", str(waiver), "--policy", str(policy), "--release", str(rel), "--offline"
    )
    assert res.exit_code == 0, res.output
    assert res.output.startswith("applied:") and "at tier high" in res.output
    assert "warning window" not in res.output

    out = run_cli(
        "check",
        str(rel),
        "--policy",
        str(policy),
        "--waivers",
        str(waiver.parent),
        "--format",
        "json",
        "--offline",
    )
    judged = json.loads(out.stdout)
    assert [w["status"] for w in judged["waivers"]] == ["applied"]
    assert not judged["waivers"][0]["expiring_soon"]
    assert not [f for f in judged["findings"] if f["rule"]["code"].startswith("GATE-WV")]
    (waived,) = [f for f in judged["findings"] if f["id"] == fid]
    assert waived["waiver"] is not None
