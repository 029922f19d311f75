from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.checks import CHECKS
from gate.errors import InputError, PolicyError
from gate.models.finding import Severity
from gate.policy import lint, load_policy, packaged_policies
from gate.risk import Tier
from tests.support import run_cli


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CHECKS, "fake-findings", "tests.support.fakes:FindingsCheck")


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_packaged_policies_load_and_lint_clean() -> None:
    assert {"default", "strict"} <= set(packaged_policies())
    for name in packaged_policies():
        pol = load_policy(name)
        assert len(pol.sha256) == 64
        for t in Tier:
            assert "release-integrity" in pol.for_tier(t).required
    root = Path(__file__).resolve().parent.parent / "policies"
    for p in sorted(root.glob("*.yaml")):
        assert lint(p) == [], p
    for p in sorted((root.parent / "examples").glob("**/*policy*.yaml")):
        assert lint(p) == [], p


def test_tier_overrides_defaults_within_a_file() -> None:
    pol = load_policy("default")
    assert pol.for_tier(Tier.LOW).block_at is Severity.HIGH
    assert pol.for_tier(Tier.HIGH).block_at is Severity.MEDIUM


def test_extends_stricter_wins(tmp_path: Path, fakes: None) -> None:
    write(
        tmp_path / "org.yaml",
        """\
version: 1
name: org
defaults:
  required: [release-integrity]
  allow_skip: [fake-findings]
  block_at: medium
  rules: {GATE-RI003: {severity: high, blocking: true}}
  checks:
    fake-findings: {threshold: 0.2, allowed: [a, b], label: org}
    release-integrity: {max_file_size_mb: 100}
""",
    )
    write(
        tmp_path / "team.yaml",
        """\
version: 1
name: team
extends: [org.yaml]
defaults:
  required: [fake-findings]
  allow_skip: [fake-findings, release-integrity]
  block_at: critical
  rules: {GATE-RI003: {severity: low, blocking: false}}
  checks:
    fake-findings: {threshold: 0.9, allowed: [b, c], label: team}
    release-integrity: {max_file_size_mb: 10}
""",
    )
    tp = load_policy(str(tmp_path / "team.yaml")).for_tier(Tier.LOW)
    assert set(tp.required) == {"release-integrity", "fake-findings"}  # union
    assert tp.allow_skip == ("fake-findings",)  # intersection
    assert tp.block_at is Severity.MEDIUM  # lower threshold is stricter
    assert tp.rules["GATE-RI003"].severity is Severity.HIGH
    assert tp.rules["GATE-RI003"].blocking is True
    cfg = tp.checks["fake-findings"]
    assert cfg["threshold"] == 0.2  # Stricter.MIN
    assert cfg["allowed"] == ["b"]  # Stricter.INTERSECTION
    assert cfg["label"] == "team"  # TUNING: the child's value
    assert tp.checks["release-integrity"]["max_file_size_mb"] == 10  # MIN, the child is stricter


def test_extends_cycle_and_missing(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "version: 1\nname: a\nextends: [b.yaml]\n")
    write(tmp_path / "b.yaml", "version: 1\nname: b\nextends: [a.yaml]\n")
    with pytest.raises(PolicyError, match="extends cycle"):
        load_policy(str(tmp_path / "a.yaml"))
    write(tmp_path / "c.yaml", "version: 1\nname: c\nextends: [nowhere.yaml]\n")
    with pytest.raises(PolicyError, match="not found"):
        load_policy(str(tmp_path / "c.yaml"))
    with pytest.raises(PolicyError, match="no such packaged policy"):
        load_policy("nonexistent")


def test_policy_digest_changes_with_content(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "version: 1\nname: a\nextends: [default]\n")
    b = write(tmp_path / "b.yaml", "version: 1\nname: a\nextends: [default]\ndefaults: {block_at: low}\n")
    assert load_policy(str(a)).sha256 != load_policy(str(b)).sha256
    # Comments and layout do not change the composed policy, so not its digest either.
    c = write(tmp_path / "c.yaml", "# comment\nversion: 1\nname: a\nextends:\n  - default\n")
    assert load_policy(str(a)).sha256 == load_policy(str(c)).sha256


def test_lint_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    p = write(
        tmp_path / "p.yaml",
        """\
version: 1
name: p
defaults:
  required: [release-integrity, no-such-check]
  rules:
    GATE-XX999: {blocking: true}
  checks:
    release-integrity:
      max_file_size_mb: lots
      colour: blue
""",
    )
    problems = lint(p)
    text = "\n".join(problems)
    assert f"{p}:4: defaults.required[1]: unknown check 'no-such-check'" in text
    assert f"{p}:6: defaults.rules.GATE-XX999: unknown rule" in text
    assert f"{p}:9: defaults.checks.release-integrity.max_file_size_mb" in text
    assert f"{p}:10: defaults.checks.release-integrity.colour: unknown key" in text
    result = run_cli("policy", "lint", str(p))
    assert result.exit_code == 2
    assert "unknown rule" in result.stdout


def test_lint_top_level_unknown_key_and_wrong_type(tmp_path: Path) -> None:
    p = write(tmp_path / "p.yaml", "version: 1\nname: p\nblock_at: low\ntiers: {high: {block_at: severe}}\n")
    text = "\n".join(lint(p))
    assert f"{p}:3: block_at: unknown key" in text
    assert f"{p}:4: tiers.high.block_at" in text
    assert run_cli("policy", "lint", str(policies_dir() / "default.yaml")).exit_code == 0


def policies_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "policies"


def test_check_with_bad_policy_is_exit_2(tmp_path: Path, release: Path) -> None:
    p = write(tmp_path / "p.yaml", "version: 1\nname: p\ndefaults: {required: [nope]}\n")
    result = run_cli("check", str(release), "--policy", str(p))
    assert result.exit_code == 2
    assert "unknown check 'nope'" in result.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["version", "name", "extends", "defaults", "tiers", "other"]),
        st.recursive(
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.text(max_size=12),
                st.sampled_from(["high", "release-integrity", "default", "low"]),
            ),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["required", "block_at", "checks", "rules", "high", "x"]), c, max_size=3
                )
            ),
            max_leaves=12,
        ),
        max_size=5,
    )
)
def test_policy_loader_never_crashes(tmp_path: Path, data: dict[str, object]) -> None:
    p = tmp_path / "h.yaml"
    p.write_text(yaml.safe_dump(data), "utf-8")
    try:
        load_policy(str(p))
    except InputError as exc:
        assert exc.message and "\n" not in exc.message
    for problem in lint(p):
        assert str(p) in problem or problem.startswith("policy")


def test_adversarial_thresholds_compose_per_category(tmp_path: Path) -> None:
    write(
        tmp_path / "org.yaml",
        (
            "version: 1\nname: org\ndefaults:\n  checks:\n    adversarial:\n"
            "      thresholds: {prompt-injection: 0.05, jailbreak: 0.2}\n"
        ),
    )
    write(
        tmp_path / "team.yaml",
        (
            "version: 1\nname: team\nextends: [org.yaml]\ndefaults:\n  checks:\n    adversarial:\n"
            "      thresholds: {prompt-injection: 0.5, toxicity: 0.1}\n"
        ),
    )
    got = load_policy(str(tmp_path / "team.yaml")).for_tier(Tier.LOW).checks["adversarial"]["thresholds"]
    assert got == {"prompt-injection": 0.05, "jailbreak": 0.2, "toxicity": 0.1}
