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

from tests.support.actionrunner import ANY_EXPR, ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
PLACEHOLDER = "MODEL_GATE_SHA"


# Only the release workflow's attest and publish jobs mint an OIDC token (to sign), and only its
# github-release job writes to the repository (the release and the major tag).
SIGNING_JOBS = {
    ("release.yml", "attest"): {("id-token", "write"), ("attestations", "write")},
    ("release.yml", "publish"): {("id-token", "write")},
    ("release.yml", "github-release"): {("contents", "write")},
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


# maintenance conventions ----------------------------------------------------------------------


def test_dependabot_watches_every_pin() -> None:
    config = load(ROOT / ".github" / "dependabot.yml")
    updates = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert updates >= {("github-actions", "/"), ("pip", "/action"), ("pip", "/")}
    for u in config["updates"]:
        assert u["schedule"]["interval"] in ("daily", "weekly")
        assert u.get("cooldown", {}).get("default-days", 0) >= 7


def test_release_notes_come_from_the_changelog_and_the_major_tag_moves() -> None:
    wf = load(ROOT / ".github" / "workflows" / "release.yml")
    assert wf[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as true
    job = wf["jobs"]["github-release"]
    assert job["permissions"] == {"contents": "write"} and "github.ref_type == 'tag'" in job["if"]
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "scripts/changelog_section.py" in runs and "--notes-file" in runs and "--verify-tag" in runs
    assert 'major="${TAG%%.*}"' in runs and "refs/tags/${major}" in runs
    # No credentials are persisted: the tag moves through the API with the job's token.
    assert all(
        s.get("with", {}).get("persist-credentials") is False
        for s in job["steps"]
        if "checkout" in s.get("uses", "")
    )


def test_changelog_section(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import changelog_section as cs
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = "# Changelog\n\n## [Unreleased]\n- next\n\n## [0.2.0] - 2026-12-01\n### Added\n- a\n\n"
    text += "## [0.1.0]\n- first\n"
    assert cs.section(text, "v0.2.0") == "### Added\n- a"
    assert cs.section(text, "0.1.0") == "- first"
    assert cs.section(text, "v0.3.0") is None
    assert cs.section("## [0.2.0]\n\n## [0.1.0]\n- x\n", "v0.2.0") is None  # empty notes: no release
    with pytest.raises(ValueError, match="not a release version"):
        cs.section(text, "main")
    log = tmp_path / "CHANGELOG.md"
    log.write_text(text, "utf-8")
    script = str(ROOT / "scripts" / "changelog_section.py")
    ok = subprocess.run(
        [sys.executable, script, "v0.2.0", str(log)], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and ok.stdout == "### Added\n- a\n"
    missing = subprocess.run(
        [sys.executable, script, "v9.9.9", str(log)], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1 and "no section '## [9.9.9]'" in missing.stderr


def test_self_test_runs_on_three_systems_weekly_and_proves_the_cache() -> None:
    wf = load(ROOT / ".github" / "workflows" / "self-test.yml")
    assert [c["cron"] for c in wf[True]["schedule"]]  # weekly, so upstream changes show
    assert wf["defaults"]["run"]["shell"] == "bash"  # the action's scripts are bash on every OS
    for job in ("demo-release", "bad-release"):
        assert wf["jobs"][job]["strategy"]["matrix"]["os"] == [
            "ubuntu-latest",
            "macos-latest",
            "windows-latest",
        ]
        assert wf["jobs"][job]["runs-on"] == "${{ matrix.os }}"
    second = wf["jobs"]["cache-second"]
    assert second["needs"] == "cache-first"
    checks = "\n".join(s.get("run", "") for s in second["steps"])
    assert 'test "$CACHE_HIT" = true' in checks


def test_ci_lints_with_the_official_actionlint_pinned_by_digest() -> None:
    wf = load(ROOT / ".github" / "workflows" / "ci.yml")
    lint = wf["jobs"]["lint"]["steps"]
    (fetch,) = [s for s in lint if "actionlint" in s.get("name", "")]
    assert re.fullmatch(r"[0-9a-f]{64}", fetch["env"]["ACTIONLINT_SHA256"])
    assert "https://github.com/rhysd/actionlint/releases/download/" in fetch["run"]
    assert "sha256sum --check" in fetch["run"]
    (make,) = [s for s in lint if s.get("run", "").startswith("make lint")]
    assert 'ACTIONLINT="$RUNNER_TEMP/actionlint/actionlint"' in make["run"]
    assert "ACTIONLINT ?=" in (ROOT / "Makefile").read_text("utf-8")
