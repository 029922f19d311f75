"""The workflows, the example workflow and action.yml: pinned, least privilege, no script injection."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.actionrunner import ANY_EXPR, ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
PLACEHOLDER = "MODEL_GATE_SHA"


# Only the release workflow's attest and publish jobs mint an OIDC token (to sign).
SIGNING_JOBS = {
    ("release.yml", "attest"): {("id-token", "write"), ("attestations", "write")},
    ("release.yml", "publish"): {("id-token", "write")},
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return data


def steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "self-test.yml"}
    assert EXAMPLES


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit(path: Path) -> None:
    text = path.read_text("utf-8")
    for step in steps(load(path)):
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        if PLACEHOLDER in uses and path in EXAMPLES:
            continue  # the reader fills in the SHA of the model-gate release they adopt
        assert SHA_PIN.match(uses), f"{path.name}: {uses} is not pinned by a full commit SHA"
        # A comment names the version the SHA stands for, so that updates are reviewable.
        assert re.search(re.escape(uses) + r" # v\d", text), f"{path.name}: {uses} has no version comment"


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=lambda p: p.name)
def test_least_privilege_and_no_expressions_in_scripts(path: Path) -> None:
    wf = load(path)
    assert "permissions" in wf, f"{path.name}: no top-level permissions"
    top = wf["permissions"]
    assert top in ({}, {"contents": "read"}), f"{path.name}: top-level permissions {top}"
    for name, job in wf["jobs"].items():
        allowed = {("contents", "read"), ("security-events", "write")} | SIGNING_JOBS.get(
            (path.name, name), set()
        )
        for perm, level in (job.get("permissions") or {}).items():
            assert (perm, level) in allowed, (name, perm)
    for step in steps(wf):
        if "run" in step:
            assert not ANY_EXPR.search(step["run"]), f"{path.name}: ${{{{ }}}} inside run: {step['run'][:60]}"
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False


def test_release_builds_attests_and_publishes_only_when_the_name_is_claimed() -> None:
    wf = load(ROOT / ".github" / "workflows" / "release.yml")
    jobs = wf["jobs"]
    build = " ".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert "python -m build --sdist --wheel" in build
    assert jobs["build"]["permissions"] == {"contents": "read"}
    attest = [s for s in jobs["attest"]["steps"] if "attest-build-provenance" in s.get("uses", "")]
    assert attest and "dist/*.whl" in attest[0]["with"]["subject-path"]
    publish = jobs["publish"]
    # Gated: nothing is published until a maintainer claims the name and sets the variable.
    assert "vars.PUBLISH_TO_PYPI == 'true'" in publish["if"]
    assert publish["environment"]["name"] == "pypi"
    [upload] = [s for s in publish["steps"] if "pypa/gh-action-pypi-publish" in s.get("uses", "")]
    assert upload["with"] == {"attestations": True}  # trusted publishing: no password, no token


def test_ci_runs_lint_types_and_tests_on_every_python() -> None:
    wf = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert wf["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    runs = "\n".join(s.get("run", "") for s in steps(wf))
    assert "make lint" in runs and "make unit" in runs


def test_self_test_uses_the_action_on_both_examples() -> None:
    wf = load(ROOT / ".github" / "workflows" / "self-test.yml")
    uses = [s for s in steps(wf) if s.get("uses") == "./"]
    releases = {s["with"]["release"] for s in uses}
    assert releases == {"examples/demo-release", "examples/bad-release"}
    bad = next(
        s for s in uses if s["with"]["release"] == "examples/bad-release" and s.get("continue-on-error")
    )
    asserts = [s for s in wf["jobs"]["bad-release"]["steps"] if "run" in s]
    assert any(f"steps.{bad['id']}.outcome" in v for s in asserts for v in s.get("env", {}).values())


def test_example_workflow_shards_and_merges() -> None:
    wf = load(EXAMPLES[0])
    gate = wf["jobs"]["gate"]
    with_ = next(s for s in gate["steps"] if s.get("id") == "gate")["with"]
    assert "policy-ref" in with_
    upload = next(s for s in gate["steps"] if "upload-sarif" in s.get("uses", ""))
    assert "head.repo.full_name == github.repository" in upload["if"]  # skipped on forks
    shards = wf["jobs"]["redteam"]["strategy"]["matrix"]["shard"]
    shard_with = next(s for s in wf["jobs"]["redteam"]["steps"] if s.get("id") == "gate")["with"]
    assert (
        shard_with["redteam"] == "broad"
        and shard_with["redteam-shard"] == f"${{{{ matrix.shard }}}}/{len(shards)}"
    )
    assert shard_with["summary"] == "false"  # the merged report writes the one summary
    # The merge runs through the action (its pinned install), not a hand-written one.
    verdict = wf["jobs"]["verdict"]["steps"]
    assert not [s for s in verdict if "run" in s]
    (merge,) = [s for s in verdict if "merge" in s.get("with", {})]
    assert merge["uses"] == gate["steps"][2]["uses"] and merge["with"]["merge"] == "shards/*/report.json"
    assert merge["with"]["policy"] == with_["policy"]
    download = next(s for s in verdict if "download-artifact" in s.get("uses", ""))
    assert download["with"]["pattern"] == "redteam-shard-*" and download["with"]["path"] == "shards"


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def test_actionlint_is_clean() -> None:
    proc = subprocess.run(
        [_tool("actionlint"), *map(str, WORKFLOWS + EXAMPLES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_is_clean() -> None:
    proc = subprocess.run(
        [_tool("zizmor"), "--offline", "--config", ".github/zizmor.yml", ".", *map(str, EXAMPLES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "completed ./action.yml" in proc.stderr  # the composite action is audited too


def test_zizmor_catches_a_script_injection(tmp_path: Path) -> None:
    # The control case: the same linter, on an action that interpolates an input into run:.
    bad = tmp_path / "action.yml"
    bad.write_text(
        (ROOT / "action.yml")
        .read_text("utf-8")
        .replace('exec "$MODEL_GATE_PY" -m gate.action', 'echo "${{ inputs.release }}"'),
        "utf-8",
    )
    proc = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-config", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0 and "template-injection" in proc.stdout
