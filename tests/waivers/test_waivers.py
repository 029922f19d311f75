"""Signed waivers: every rejection the issue lists is its own test, next to a control that applies.

Keys are generated in the tests; time moves through the injectable clock.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.checks import all_rules
from gate.errors import InputError
from gate.models.finding import fingerprint
from gate.models.report import Verdict, WaiverStatus
from gate.reporters import REPORTERS, get_reporter
from gate.risk import Tier
from gate.signing.dsse import add_signature, sign_envelope
from gate.waivers import WaiverFile, WaiverSet, load_waiver_applier
from tests.support.waiverkit import (
    CRITICAL_MANIFEST,
    T0,
    Keys,
    blocking_ids,
    code_release,
    loaded,
    make_keys,
    policy_from,
    put,
    run,
    signed,
    statement_of,
    unsigned_waiver,
)

DAY = dt.timedelta(days=1)
STATEMENT = "https://in-toto.io/Statement/v1"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def setup(tmp_path: Path, keys: Keys):
    """A release with one blocking finding (executable code), a team policy, its finding id."""
    policy = policy_from(tmp_path / "pol", keys)
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    assert fid.startswith("GATE-RI005-")
    return rel_dir, policy, release, fid


def apply_one(tmp_path: Path, rel_dir: Path, policy, data: bytes, now: dt.datetime = T0):
    wdir = tmp_path / "waivers"
    put(wdir, "w.json", data)
    report = run(rel_dir, policy, wdir, now)
    assert len(report.waivers) == 1
    return report, report.waivers[0]


def assert_rejected(report, outcome, fid: str, reason: str) -> None:
    assert outcome.status is WaiverStatus.REJECTED
    assert reason in outcome.reason
    assert fid in blocking_ids(report), "a rejected waiver must leave its finding blocking"
    assert report.verdict is Verdict.FAIL
    assert report.exit_code == 1
    rejected = [f for f in report.findings if f.rule.code == "GATE-WV001"]
    assert len(rejected) == 1 and reason in rejected[0].title


# ---------------------------------------------------------------------------------------------
# The control: a valid waiver applies, and the finding stays visible


def test_valid_waiver_applies_and_the_finding_is_shown_waived(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    # Six days into a ten-day waiver: inside the warning window, so the expiry warning shows too.
    report, outcome = apply_one(
        tmp_path,
        rel_dir,
        policy,
        signed(unsigned_waiver(release, [fid], ticket="SEC-1"), keys.alice),
        now=T0 + 6 * DAY,
    )
    assert outcome.status is WaiverStatus.APPLIED, outcome.reason
    assert outcome.approvers == ("alice@example.com",)
    assert outcome.findings == (fid,)
    assert report.verdict is Verdict.WARN and report.exit_code == 0
    (waived,) = [f for f in report.findings if f.id == fid]
    assert waived.blocking and not waived.effective_blocking
    assert waived.waiver is not None
    assert waived.waiver.approvers == ("alice@example.com",)
    assert waived.waiver.requester == "erin@example.com"
    assert waived.waiver.ticket == "SEC-1"
    assert waived.waiver.justification == "vulnerable_code_not_in_execute_path"
    # Shown as waived in every format, never hidden.
    for name in REPORTERS:
        rendered = get_reporter(name, rules=all_rules()).render(report)
        assert fid in rendered and outcome.id in rendered, f"{name} hides the waived finding or its waiver"
    text = get_reporter("text").render(report)
    assert fid in text and "(waived)" in text and "approved by alice@example.com" in text
    md = get_reporter("markdown").render(report)
    assert "(waived)" in md and outcome.id in md and "applied" in md
    data = json.loads(get_reporter("json").render(report))
    (jf,) = [f for f in data["findings"] if f["id"] == fid]
    assert jf["waiver"]["id"] == outcome.id and jf["blocking"] is True
    assert data["waivers"][0]["status"] == "applied"


def test_ed25519_and_p384_reviewers_work(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    for who in (keys.dave, keys.bob):
        _, outcome = apply_one(tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), who))
        assert outcome.status is WaiverStatus.APPLIED, outcome.reason


# ---------------------------------------------------------------------------------------------
# Every rejection, each on its own


def test_rejects_bad_signature(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    env = json.loads(signed(unsigned_waiver(release, [fid]), keys.alice))
    st_ = json.loads(base64.b64decode(env["payload"]))
    st_["predicate"]["expires"] = "2099-01-01T00:00:00Z"  # stretch it after signing
    env["payload"] = base64.b64encode(json.dumps(st_).encode()).decode()
    report, outcome = apply_one(tmp_path, rel_dir, policy, json.dumps(env).encode())
    assert_rejected(report, outcome, fid, "bad signature")
    assert "alice@example.com" in outcome.reason


def test_rejects_untrusted_signer(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.mallory)
    )
    assert_rejected(report, outcome, fid, "untrusted signer")


def test_rejects_expired(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], days=10), keys.alice)
    _, ok = apply_one(tmp_path, rel_dir, policy, data, now=T0 + 9 * DAY)
    assert ok.status is WaiverStatus.APPLIED
    report, outcome = apply_one(tmp_path, rel_dir, policy, data, now=T0 + 10 * DAY)
    assert_rejected(report, outcome, fid, "expired on 2025-03-11T12:00:00Z")


def test_rejects_not_yet_valid(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], created=T0 + 2 * DAY), keys.alice, now=T0 + 2 * DAY)
    report, outcome = apply_one(tmp_path, rel_dir, policy, data, now=T0)
    assert_rejected(report, outcome, fid, "not yet valid")
    # A few minutes of clock skew between laptop and runner is tolerated.
    data = signed(unsigned_waiver(release, [fid], created=T0 + dt.timedelta(minutes=3)), keys.alice)
    _, outcome = apply_one(tmp_path, rel_dir, policy, data, now=T0)
    assert outcome.status is WaiverStatus.APPLIED


def test_rejects_another_releases_digest(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid]), keys.alice)
    # The next build: same file names (so the same finding id), one byte changed elsewhere.
    (rel_dir / "model" / "weights.bin").write_bytes(b"\x01" + b"\x00" * 63)
    report, outcome = apply_one(tmp_path, rel_dir, policy, data)
    assert fid in [f.id for f in report.findings]
    assert_rejected(report, outcome, fid, "for another release")


def test_rejects_another_finding(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    other = fingerprint("GATE-RI005", "model/other_tool.py")
    assert other != fid
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [other]), keys.alice)
    )
    assert_rejected(report, outcome, fid, "for another finding")
    assert other in outcome.reason and fid in outcome.reason


def _hand_made(release, rule: str, fid: str, created: dt.datetime = T0, days: int = 5) -> bytes:
    """A waiver statement written by hand: `waiver new` refuses unwaivable rules, an attacker need not."""
    digest = release.digest.split(":", 1)[1]
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {"sha256": digest}}],
        "predicateType": "https://model-gate.dev/waiver/v1",
        "predicate": {
            "rule": rule,
            "findings": [fid],
            "justification": "risk_accepted",
            "reason": "trust me",
            "requester": "erin@example.com",
            "created": created.isoformat(),
            "expires": (created + dt.timedelta(days=days)).isoformat(),
        },
    }
    return json.dumps(statement).encode()


def test_rejects_rule_that_can_never_be_waived(tmp_path: Path, keys: Keys) -> None:
    policy = policy_from(tmp_path / "pol", keys)
    rel_dir = code_release(tmp_path / "rel")
    (rel_dir / "model" / "escape").symlink_to("/etc/hostname")  # GATE-RI002, waivable=False
    release, report = loaded(rel_dir, policy)
    (fid,) = [f.id for f in report.findings if f.rule.code == "GATE-RI002"]
    wdir = tmp_path / "waivers"
    put(wdir, "w.json", sign_envelope(_hand_made(release, "GATE-RI002", fid), keys.alice))
    report = run(rel_dir, policy, wdir)
    (outcome,) = report.waivers
    assert outcome.status is WaiverStatus.REJECTED
    assert "unwaivable rule: GATE-RI002 link-escapes-release can never be waived" in outcome.reason
    assert fid in blocking_ids(report)


def test_rejects_prohibited_use(tmp_path: Path, keys: Keys) -> None:
    policy = policy_from(tmp_path / "pol", keys)
    manifest = CRITICAL_MANIFEST.replace(
        "  user_scale: 5000000", "  user_scale: 5000000\n  domains: [social-scoring]"
    )
    rel_dir = code_release(tmp_path / "rel", manifest)
    release, report = loaded(rel_dir, policy)
    (fid,) = [f.id for f in report.findings if f.rule.code == "GATE-RT001"]
    wdir = tmp_path / "waivers"
    put(wdir, "w.json", signed(sign_envelope(_hand_made(release, "GATE-RT001", fid), keys.alice), keys.bob))
    report = run(rel_dir, policy, wdir)
    (outcome,) = report.waivers
    assert outcome.status is WaiverStatus.REJECTED
    assert "can never be waived" in outcome.reason
    assert "no waivers at tier prohibited" in outcome.reason
    assert fid in blocking_ids(report)


def test_rejects_rule_the_policy_makes_unwaivable(tmp_path: Path, keys: Keys) -> None:
    policy = policy_from(tmp_path / "pol", keys, waivers='unwaivable_rules: ["GATE-RI00*"]')
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.alice)
    )
    assert_rejected(report, outcome, fid, "the policy lists GATE-RI005 as unwaivable ('GATE-RI00*')")


def test_default_policy_keeps_model_file_and_signature_rules_unwaivable(tmp_path: Path, keys: Keys) -> None:
    tp = policy_from(tmp_path / "pol", keys).for_tier(Tier.LOW)
    assert tp.waivers.unwaivable("GATE-MF001", "malicious-pickle") == "GATE-MF*"
    assert tp.waivers.unwaivable("GATE-SG003", "signature-mismatch") == "GATE-SG*"
    assert tp.waivers.unwaivable("GATE-RT001", "prohibited-ai-practice") == "GATE-RT001"
    assert tp.waivers.unwaivable("GATE-RI005", "executable-code-in-release") is None


def test_rejects_lifetime_beyond_policy(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    # Default policy: 30 days for high findings at tier low.
    _, ok = apply_one(tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid], days=30), keys.alice))
    assert ok.status is WaiverStatus.APPLIED
    data = signed(unsigned_waiver(release, [fid], days=31), keys.alice)
    report, outcome = apply_one(tmp_path, rel_dir, policy, data)
    assert_rejected(report, outcome, fid, "lifetime beyond the policy")
    assert "allows 30 days for high findings at tier low" in outcome.reason


def test_rejects_same_signer_counted_twice(tmp_path: Path, keys: Keys) -> None:
    policy = policy_from(tmp_path / "pol", keys, waivers="approvals: 2")
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    once = signed(unsigned_waiver(release, [fid]), keys.alice)
    twice = add_signature(once, keys.alice)  # the same key signs again
    report, outcome = apply_one(tmp_path, rel_dir, policy, twice)
    assert_rejected(report, outcome, fid, "the same signer counted twice toward N-of-M")
    assert "1 of 2 required approvals" in outcome.reason
    # Control: two distinct reviewers.
    _, ok = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.alice, keys.bob)
    )
    assert ok.status is WaiverStatus.APPLIED
    assert set(ok.approvers) == {"alice@example.com", "bob@example.com"}


def test_one_reviewer_with_two_keys_counts_once(tmp_path: Path, keys: Keys) -> None:
    pdir = tmp_path / "pol"
    policy_from(pdir, keys)
    text = (pdir / "policy.yaml").read_text()
    text = text.replace("keys: [keys/alice.pub]", "keys: [keys/alice.pub, keys/carol.pub]")
    text = text.replace("      - id: carol@example.com\n        keys: [keys/carol.pub]\n", "")
    (pdir / "policy.yaml").write_text(text + "    approvals: 2\n")
    from gate.policy import load_policy

    policy = load_policy(str(pdir / "policy.yaml"))
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.alice, keys.carol)
    )
    assert_rejected(report, outcome, fid, "the same signer counted twice toward N-of-M: alice@example.com")


def test_rejects_requester_as_approver(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], requester="Alice@Example.com"), keys.alice)
    report, outcome = apply_one(tmp_path, rel_dir, policy, data)
    assert_rejected(report, outcome, fid, "requester = approver: alice@example.com requested this waiver")


def test_rejects_unsigned(tmp_path: Path, setup) -> None:
    rel_dir, policy, release, fid = setup
    report, outcome = apply_one(tmp_path, rel_dir, policy, unsigned_waiver(release, [fid]))
    assert_rejected(report, outcome, fid, "unsigned")


def test_n_of_m_at_the_critical_tier(tmp_path: Path, keys: Keys) -> None:
    policy = policy_from(tmp_path / "pol", keys)
    rel_dir = code_release(tmp_path / "rel", CRITICAL_MANIFEST)
    release, report = loaded(rel_dir, policy)
    assert report.tier.level.value == "critical"
    fid = next(f for f in blocking_ids(report) if f.startswith("GATE-RI005"))
    base = unsigned_waiver(release, [fid], days=3, ticket="SEC-7")
    report, one = apply_one(tmp_path, rel_dir, policy, signed(base, keys.alice))
    assert one.status is WaiverStatus.REJECTED and "1 of 2 required approvals" in one.reason
    _, two = apply_one(tmp_path, rel_dir, policy, signed(base, keys.alice, keys.dave))
    assert two.status is WaiverStatus.APPLIED, two.reason
    # Approvals may also arrive as separate files carrying the same signed statement.
    wdir = tmp_path / "split"
    put(wdir, "a.json", signed(base, keys.alice))
    put(wdir, "b.json", signed(base, keys.bob))
    report = run(rel_dir, policy, wdir)
    (joined,) = report.waivers
    assert joined.status is WaiverStatus.APPLIED and len(joined.sha256) == 2
    # The default policy limits critical-tier waivers of high findings to 7 days and wants a ticket.
    _, long = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid], days=8), keys.alice, keys.bob)
    )
    assert "allows 7 days" in long.reason and "requires a ticket" in long.reason


def test_rejects_approver_not_allowed_at_tier(tmp_path: Path, keys: Keys) -> None:
    policy = policy_from(tmp_path / "pol", keys, tiers="low:\n  waivers:\n    approvers: [bob@example.com]")
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.alice)
    )
    assert_rejected(report, outcome, fid, "alice@example.com may not approve waivers at tier low")
    _, ok = apply_one(tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.bob))
    assert ok.status is WaiverStatus.APPLIED


def test_waiver_naming_its_approvers_counts_only_them(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], approvers=["bob@example.com"]), keys.alice)
    report, outcome = apply_one(tmp_path, rel_dir, policy, data)
    assert_rejected(report, outcome, fid, "alice@example.com is not among the approvers the waiver names")


def test_rejects_without_ticket_when_required(tmp_path: Path, keys: Keys) -> None:
    policy = policy_from(tmp_path / "pol", keys, waivers="require_ticket: true")
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.alice)
    )
    assert_rejected(report, outcome, fid, "requires a ticket")


def test_policy_without_reviewers_accepts_no_waiver(tmp_path: Path, keys: Keys) -> None:
    from gate.policy import load_policy

    rel_dir = code_release(tmp_path / "rel")
    policy = load_policy("default")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.alice)
    )
    assert_rejected(report, outcome, fid, "trusted: nobody")


# ---------------------------------------------------------------------------------------------
# Reported but not rejected


def test_waiver_matching_no_finding_is_reported(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    # A waiver for a dataset rule that this release does not trigger at all.
    other = fingerprint("GATE-RI003", "model/weights.bin")
    data = signed(unsigned_waiver(release, [other]), keys.alice)
    report, outcome = apply_one(tmp_path, rel_dir, policy, data)
    assert outcome.status is WaiverStatus.UNUSED
    assert "matches no finding" in outcome.reason
    assert fid in blocking_ids(report)
    (unused,) = [f for f in report.findings if f.rule.code == "GATE-WV002"]
    assert not unused.blocking


def test_expiring_soon_warns(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], days=30), keys.alice)
    report, early = apply_one(tmp_path, rel_dir, policy, data, now=T0 + DAY)
    assert early.status is WaiverStatus.APPLIED and not early.expiring_soon
    assert not [f for f in report.findings if f.rule.code == "GATE-WV003"]
    report, late = apply_one(tmp_path, rel_dir, policy, data, now=T0 + 20 * DAY)
    assert late.status is WaiverStatus.APPLIED and late.expiring_soon
    assert "14-day warning window" in late.reason
    (warning,) = [f for f in report.findings if f.rule.code == "GATE-WV003"]
    assert warning.severity.value == "low" and not warning.blocking
    assert report.verdict is Verdict.WARN
    assert "expires soon" in get_reporter("text").render(report)


@pytest.mark.parametrize("days", [1, 7, 14])
def test_a_waiver_never_warns_about_its_expiry_on_the_day_it_is_written(
    tmp_path: Path, setup, keys: Keys, days: int
) -> None:
    """A waiver shorter than the warning window warns only once half its lifetime is used."""
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], days=days), keys.alice)
    report, first = apply_one(tmp_path, rel_dir, policy, data, now=T0 + dt.timedelta(hours=1))
    assert first.status is WaiverStatus.APPLIED and not first.expiring_soon
    assert not [f for f in report.findings if f.rule.code == "GATE-WV003"]
    _report, late = apply_one(tmp_path, rel_dir, policy, data, now=T0 + dt.timedelta(days=days * 0.75))
    assert late.expiring_soon  # the benign twin: the warning still comes, in the second half


def test_two_waivers_for_one_finding(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    wdir = tmp_path / "two"
    put(wdir, "a.json", signed(unsigned_waiver(release, [fid], days=5), keys.alice))
    put(wdir, "b.json", signed(unsigned_waiver(release, [fid], days=6), keys.bob))
    report = run(rel_dir, policy, wdir)
    assert sorted(w.status.value for w in report.waivers) == ["applied", "unused"]
    assert "already waived" in next(w.reason for w in report.waivers if w.status is WaiverStatus.UNUSED)


# ---------------------------------------------------------------------------------------------
# Byte flips and hostile files


def test_every_byte_flip_is_rejected_or_changes_nothing_signed(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    _, report = loaded(rel_dir, policy)
    findings = list(report.findings)
    tp = policy.for_tier(report.tier.level)
    good = signed(unsigned_waiver(release, [fid]), keys.alice)
    good_payload = statement_of(good)
    applied = 0
    for i in range(len(good)):
        flipped = bytearray(good)
        flipped[i] ^= 0x01
        ws = WaiverSet([WaiverFile(Path("w.json"), bytes(flipped))])
        (decision,) = ws.decide(findings, release, tp, T0)
        if decision.status is WaiverStatus.APPLIED:
            # Only flips outside the signed bytes may pass: the keyid hint, JSON whitespace
            # equivalents, or base64 padding bits that decode to the same signature.
            assert statement_of(bytes(flipped)) == good_payload, f"flip at {i} applied a changed waiver"
            applied += 1
    assert applied < len(good) // 10


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
            max_leaves=30,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_hostile_waiver_files_are_rejected_never_applied(setup, data: bytes) -> None:
    _rel_dir, policy, release, _fid = setup
    tp = policy.for_tier(Tier.LOW)
    (decision,) = WaiverSet([WaiverFile(Path("h.json"), data)]).decide([], release, tp, T0)
    assert decision.status is WaiverStatus.REJECTED
    assert decision.reason and "\n" not in decision.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "payload is not JSON"),
        (
            json.dumps({"_type": STATEMENT, "subject": [], "predicateType": "x", "predicate": {}}).encode(),
            "not a waiver",
        ),
        (b"[" * 5000 + b"]" * 5000, "payload is not JSON"),
    ],
)
def test_signed_garbage_is_not_a_waiver(
    tmp_path: Path, setup, keys: Keys, payload: bytes, reason: str
) -> None:
    rel_dir, policy, _release, fid = setup
    report, outcome = apply_one(tmp_path, rel_dir, policy, sign_envelope(payload, keys.alice))
    assert_rejected(report, outcome, fid, reason)


def test_signed_waiver_with_wrong_field_types(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    st_ = json.loads(_hand_made(release, "GATE-RI005", fid))
    st_["predicate"]["findings"] = "GATE-RI005-0000000000000000"
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, sign_envelope(json.dumps(st_).encode(), keys.alice)
    )
    assert_rejected(report, outcome, fid, "predicate.findings")
    st_["predicate"]["findings"] = [fid]
    st_["predicate"]["created"] = "yesterday"
    report, outcome = apply_one(
        tmp_path, rel_dir, policy, sign_envelope(json.dumps(st_).encode(), keys.alice)
    )
    assert_rejected(report, outcome, fid, "predicate.created")


def test_truncated_envelope_is_rejected(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    good = signed(unsigned_waiver(release, [fid]), keys.alice)
    report, outcome = apply_one(tmp_path, rel_dir, policy, good[: len(good) // 2])
    assert_rejected(report, outcome, fid, "not JSON")


def test_huge_waiver_file_is_bad_input(tmp_path: Path) -> None:
    wdir = tmp_path / "w"
    put(wdir, "big.json", b" " * (1024 * 1024 + 1))
    with pytest.raises(InputError, match="over the 1048576-byte limit"):
        load_waiver_applier(wdir)


def test_waivers_directory_inside_the_release_is_refused(tmp_path: Path, setup, keys: Keys) -> None:
    rel_dir, policy, release, fid = setup
    inside = rel_dir / "waivers"
    put(inside, "w.json", signed(unsigned_waiver(release, [fid]), keys.alice))
    with pytest.raises(InputError, match="inside the release directory"):
        run(rel_dir, policy, inside)


def test_missing_waivers_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such waivers directory"):
        load_waiver_applier(tmp_path / "nope")


def test_non_json_files_are_ignored(tmp_path: Path, setup) -> None:
    rel_dir, policy, _release, fid = setup
    wdir = tmp_path / "w"
    put(wdir, "README.md", b"# waivers\n")
    report = run(rel_dir, policy, wdir)
    assert report.waivers == () and fid in blocking_ids(report)
