"""The policy's waivers section: validation, key files, and composition where the stricter side wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.errors import PolicyError
from gate.models.finding import Severity
from gate.policy import lint, load_policy
from gate.risk import Tier
from tests.support.waiverkit import make_keys, pem_public


@pytest.fixture(scope="module")
def pems() -> dict[str, str]:
    k = make_keys()
    return {n: pem_public(getattr(k, n)) for n in ("alice", "bob", "carol")}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _reviewers(*names: str) -> str:
    out = "    reviewers:\n"
    for n in names:
        out += f"      - id: {n}@example.com\n        keys: [keys/{n}.pub]\n"
    return out


def _keys(directory: Path, pems: dict[str, str]) -> None:
    for n, pem in pems.items():
        _write(directory / "keys" / f"{n}.pub", pem)


def test_child_policy_cannot_loosen_waiver_settings(tmp_path: Path, pems: dict[str, str]) -> None:
    _keys(tmp_path / "base", pems)
    _write(
        tmp_path / "base" / "base.yaml",
        "version: 1\nname: base\nextends: [default]\ndefaults:\n  waivers:\n"
        + _reviewers("alice", "bob")
        + "    approvals: 2\n    warn_days: 20\n    unwaivable_rules: [GATE-RI005]\n"
        "    max_days: {high: 10}\n    distinct_requester: true\n",
    )
    _keys(tmp_path / "team", pems)
    child = _write(
        tmp_path / "team" / "child.yaml",
        "version: 1\nname: child\nextends: [../base/base.yaml]\ndefaults:\n  waivers:\n"
        + _reviewers("alice", "carol")
        + "    approvals: 1\n    warn_days: 1\n    unwaivable_rules: [GATE-RI006]\n"
        "    max_days: {high: 300, medium: 5}\n    distinct_requester: false\n    enabled: true\n",
    )
    # Reviewers are a source of truth: naming one the parent does not trust is an error (exit 2)...
    with pytest.raises(PolicyError, match=r"waivers\.reviewers: adds id 'carol@example.com'"):
        load_policy(str(child))
    # ...dropping one narrows.
    child.write_text(child.read_text().replace(_reviewers("alice", "carol"), _reviewers("alice")))
    wp = load_policy(str(child)).for_tier(Tier.LOW).waivers
    assert [r.id for r in wp.reviewers] == ["alice@example.com"]
    assert wp.approvals == 2  # max
    assert wp.warn_days == 20  # a wider warning window is stricter
    assert set(wp.unwaivable_rules) >= {"GATE-RI005", "GATE-RI006", "GATE-MF*"}  # union
    assert wp.max_days[Severity.HIGH] == 10  # min, per severity
    assert wp.max_days[Severity.MEDIUM] == 5
    assert wp.distinct_requester is True


def test_key_paths_resolve_against_the_file_that_names_them(tmp_path: Path, pems: dict[str, str]) -> None:
    _keys(tmp_path / "base", pems)
    _write(
        tmp_path / "base" / "base.yaml",
        "version: 1\nname: base\ndefaults:\n  waivers:\n" + _reviewers("alice"),
    )
    child = _write(
        tmp_path / "elsewhere" / "child.yaml", "version: 1\nname: c\nextends: [../base/base.yaml]\n"
    )
    (r,) = load_policy(str(child)).for_tier(Tier.HIGH).waivers.reviewers
    assert r.keys == (pems["alice"].strip() + "\n",)


def test_inline_pem_and_digest_covers_key_contents(tmp_path: Path, pems: dict[str, str]) -> None:
    inline = "\n".join("            " + line for line in pems["bob"].strip().splitlines())
    path = _write(
        tmp_path / "p.yaml",
        "version: 1\nname: p\ndefaults:\n  waivers:\n    reviewers:\n"
        "      - id: bob@example.com\n        keys:\n          - |\n" + inline + "\n",
    )
    one = load_policy(str(path))
    assert one.for_tier(Tier.LOW).waivers.reviewers[0].keys[0].startswith("-----BEGIN PUBLIC KEY-----")
    # Same policy text, another key file content: another digest.
    _keys(tmp_path / "d", pems)
    p2 = _write(
        tmp_path / "d" / "p.yaml", "version: 1\nname: p\ndefaults:\n  waivers:\n" + _reviewers("alice")
    )
    before = load_policy(str(p2)).sha256
    _write(tmp_path / "d" / "keys" / "alice.pub", pems["carol"])
    assert load_policy(str(p2)).sha256 != before


def test_missing_key_file_names_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.yaml", "version: 1\nname: p\ndefaults:\n  waivers:\n" + _reviewers("zed"))
    with pytest.raises(PolicyError, match=r"p.yaml: defaults.waivers.reviewers\[0\].keys\[0\]: cannot read"):
        load_policy(str(path))


def test_key_file_that_is_not_a_public_key(tmp_path: Path) -> None:
    _write(tmp_path / "keys" / "zed.pub", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    path = _write(tmp_path / "p.yaml", "version: 1\nname: p\ndefaults:\n  waivers:\n" + _reviewers("zed"))
    with pytest.raises(PolicyError, match="not a PEM public key"):
        load_policy(str(path))


def test_tier_section_overlays_defaults_field_by_field(tmp_path: Path, pems: dict[str, str]) -> None:
    _keys(tmp_path, pems)
    path = _write(
        tmp_path / "p.yaml",
        "version: 1\nname: p\ndefaults:\n  waivers:\n"
        + _reviewers("alice", "bob")
        + "tiers:\n  high:\n    waivers:\n      approvals: 2\n      approvers: [bob@example.com]\n",
    )
    pol = load_policy(str(path))
    high, low = pol.for_tier(Tier.HIGH).waivers, pol.for_tier(Tier.LOW).waivers
    assert len(high.reviewers) == 2 and high.approvals == 2
    assert [r.id for r in high.approving_reviewers()] == ["bob@example.com"]
    assert low.approvals == 1 and len(low.approving_reviewers()) == 2


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("    approvals: 0\n", "approvals"),
        ("    max_days: {high: 0}\n", "days must be between"),
        ("    max_days: {severe: 3}\n", "max_days"),
        ("    reviewers:\n      - id: x\n", "a reviewer needs `keys` or a `sigstore` identity"),
        ("    reviewers:\n      - {id: a, sigstore: {identity: a}}\n", "issuer"),
        ("    reviewer: []\n", "unknown key"),
        ("    warn_days: lots\n", "warn_days"),
        (
            "    reviewers:\n      - {id: A, sigstore: {identity: a, issuer: i}}\n"
            "      - {id: a, sigstore: {identity: b, issuer: i}}\n",
            "reviewer ids must be unique",
        ),
    ],
)
def test_lint_reports_bad_waiver_settings_with_line(tmp_path: Path, body: str, problem: str) -> None:
    path = _write(tmp_path / "p.yaml", "version: 1\nname: p\ndefaults:\n  waivers:\n" + body)
    problems = lint(path)
    assert problems, "lint must report the problem"
    assert any(problem in p and "p.yaml:" in p for p in problems), problems


def test_packaged_policies_have_waiver_settings_per_tier() -> None:
    default = load_policy("default")
    assert default.for_tier(Tier.CRITICAL).waivers.approvals == 2
    assert default.for_tier(Tier.PROHIBITED).waivers.enabled is False
    assert default.for_tier(Tier.LOW).waivers.reviewers == ()
    strict = load_policy("strict")
    assert strict.for_tier(Tier.HIGH).waivers.approvals == 2
    assert strict.for_tier(Tier.LOW).waivers.max_days[Severity.HIGH] == 14
