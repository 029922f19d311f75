from __future__ import annotations

from pathlib import Path

import pytest

from gate import engine
from gate.checks import CHECKS, load_check
from gate.errors import InputError
from gate.models.report import CheckStatus, Verdict
from tests.support import run_cli, write_release


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    for cid, cls in {
        "fake-raise": "RaisingCheck",
        "fake-findings": "FindingsCheck",
        "fake-skip": "SkippingCheck",
    }.items():
        monkeypatch.setitem(CHECKS, cid, f"tests.support.fakes:{cls}")


def policy(tmp_path: Path, body: str) -> str:
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\nname: t\n" + body, "utf-8")
    return str(p)


def test_registry_ids_match_classes() -> None:
    for cid in CHECKS:
        assert load_check(cid).id == cid
        for rule in load_check(cid).rules:
            assert rule.check == cid


def test_raising_check_is_error_exit_3(fakes: None, release: Path, tmp_path: Path) -> None:
    pol = policy(tmp_path, "defaults:\n  required: [fake-raise]\n")
    report = engine.run(engine.RunRequest(release_dir=release, policy=pol))
    status = {c.id: c for c in report.checks}
    assert status["fake-raise"].status is CheckStatus.ERROR
    assert "RuntimeError: boom" in status["fake-raise"].summary
    assert report.verdict is Verdict.ERROR and report.exit_code == 3
    result = run_cli("check", str(release), "--policy", pol)
    assert result.exit_code == 3
    assert "Traceback" not in result.output


def test_severity_threshold_decides_blocking(fakes: None, release: Path, tmp_path: Path) -> None:
    warn = engine.run(
        engine.RunRequest(
            release_dir=release,
            policy=policy(tmp_path, "defaults:\n  required: [fake-findings]\n  block_at: high\n"),
        )
    )
    assert warn.verdict is Verdict.WARN and warn.exit_code == 0
    assert [f.blocking for f in warn.findings if f.check == "fake-findings"] == [False]
    fail = engine.run(
        engine.RunRequest(
            release_dir=release,
            policy=policy(tmp_path, "defaults:\n  required: [fake-findings]\n  block_at: medium\n"),
        )
    )
    assert fail.verdict is Verdict.FAIL and fail.exit_code == 1
    # A per-rule override wins over the threshold, by code or by name.
    over = engine.run(
        engine.RunRequest(
            release_dir=release,
            policy=policy(
                tmp_path,
                (
                    "defaults:\n  required: [fake-findings]\n  block_at: medium\n"
                    "  rules:\n    fake-problem: {blocking: false}\n"
                ),
            ),
        )
    )
    assert over.verdict is Verdict.WARN


def test_finding_ids_are_stable_across_runs(fakes: None, release: Path, tmp_path: Path) -> None:
    pol = policy(tmp_path, "defaults:\n  required: [fake-findings]\n")
    a = engine.run(engine.RunRequest(release_dir=release, policy=pol))
    b = engine.run(engine.RunRequest(release_dir=release, policy=pol))
    assert [f.id for f in a.findings] == [f.id for f in b.findings]
    assert a.release.digest == b.release.digest


def test_skipping_required_check_blocks_unless_allowed(fakes: None, release: Path, tmp_path: Path) -> None:
    pol = policy(tmp_path, "defaults:\n  required: [fake-findings]\n  block_at: critical\n")
    r = engine.run(engine.RunRequest(release_dir=release, policy=pol, skip=("fake-findings",)))
    assert r.verdict is Verdict.FAIL
    assert any(f.rule.name == "required-check-skipped" and f.blocking for f in r.findings)
    allowed = policy(
        tmp_path,
        ("defaults:\n  required: [fake-findings]\n  allow_skip: [fake-findings]\n  block_at: critical\n"),
    )
    r2 = engine.run(engine.RunRequest(release_dir=release, policy=allowed, skip=("fake-findings",)))
    assert r2.verdict is Verdict.PASS
    assert {c.id: c.status for c in r2.checks}["fake-findings"] is CheckStatus.SKIPPED


def test_required_check_that_does_not_apply_blocks(fakes: None, release: Path, tmp_path: Path) -> None:
    r = engine.run(
        engine.RunRequest(
            release_dir=release, policy=policy(tmp_path, "defaults:\n  required: [fake-skip]\n")
        )
    )
    assert r.verdict is Verdict.FAIL
    opt = engine.run(
        engine.RunRequest(
            release_dir=release, policy=policy(tmp_path, "defaults:\n  optional: [fake-skip]\n")
        )
    )
    assert opt.verdict is Verdict.PASS


def test_only_runs_named_checks_and_risk_tier(fakes: None, release: Path, tmp_path: Path) -> None:
    pol = policy(tmp_path, "defaults:\n  optional: [fake-findings]\n")
    r = engine.run(engine.RunRequest(release_dir=release, policy=pol, only=("release-integrity",)))
    ran = {c.id for c in r.checks if c.status is not CheckStatus.SKIPPED}
    assert ran == {"release-integrity", "risk-tier"}
    # What the policy lists and --only left out is recorded as such, and the report is partial.
    assert r.partial and r.left_out == ("fake-findings",)


def test_unknown_only_is_usage_error(release: Path) -> None:
    with pytest.raises(InputError, match="unknown check 'nope'"):
        engine.run(engine.RunRequest(release_dir=release, only=("nope",)))
    assert run_cli("check", str(release), "--skip", "nope").exit_code == 2


def test_prohibited_tier_always_blocks_even_if_policy_says_not(tmp_path: Path) -> None:
    rel = write_release(
        tmp_path / "r",
        """\
        name: scorer
        version: '1'
        model: {path: model/, format: safetensors}
        deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory,
                     domains: [social-scoring]}
        """,
    )
    pol = policy(
        tmp_path,
        (
            "defaults:\n  required: [risk-tier]\n  block_at: critical\n"
            "  rules:\n    GATE-RT001: {blocking: false, severity: low}\n"
        ),
    )
    r = engine.run(engine.RunRequest(release_dir=rel, policy=pol, skip=("risk-tier",)))
    assert r.tier.level.value == "prohibited"
    assert r.verdict is Verdict.FAIL
    assert any(f.rule.code == "GATE-RT001" and f.blocking for f in r.findings)
