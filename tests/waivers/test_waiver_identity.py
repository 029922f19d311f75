"""Waiver requesters and approvers are identities, not strings.

Identities are compared after Unicode NFKC, stripping and case folding, control and invisible
characters are refused, and a requester can be tied to a key: `distinct_requester` then refuses
an approval by the same person under any spelling, and by the same key under any reviewer id.
Each attack is paired with the benign twin that still applies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.errors import InputError
from gate.models.report import WaiverStatus
from gate.policy import load_policy
from gate.signing.dsse import sign_envelope
from gate.waivers import identity_key
from tests.support.waiverkit import (
    T0,
    Keys,
    blocking_ids,
    code_release,
    loaded,
    make_keys,
    pem_public,
    policy_from,
    put,
    run,
    signed,
    unsigned_waiver,
)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def setup(tmp_path: Path, keys: Keys):  # type: ignore[no-untyped-def]
    policy = policy_from(tmp_path / "pol", keys)
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    return rel_dir, policy, release, fid


def outcome(tmp_path: Path, rel_dir: Path, policy, data: bytes):  # type: ignore[no-untyped-def]
    wdir = tmp_path / "waivers"
    put(wdir, "w.json", data)
    report = run(rel_dir, policy, wdir, T0)
    return report.waivers[0]


def test_identity_key_normalises() -> None:
    same = ["alice@example.com", "alice@example.com ", " ALICE@Example.COM", "ａｌｉｃｅ@example.com"]
    assert {identity_key(s) for s in same} == {"alice@example.com"}
    assert identity_key("bob@example.com") != identity_key("alice@example.com")


def test_control_benign_requester(tmp_path: Path, setup, keys: Keys) -> None:  # type: ignore[no-untyped-def]
    rel_dir, policy, release, fid = setup
    got = outcome(tmp_path, rel_dir, policy, signed(unsigned_waiver(release, [fid]), keys.alice))
    assert got.status is WaiverStatus.APPLIED, got.reason


@pytest.mark.parametrize(
    "requester",
    ["alice@example.com ", "Alice@Example.com", "ａｌｉｃｅ@example.com", "\talice@example.com"],
    ids=["trailing-space", "case", "fullwidth", "leading-tab"],
)
def test_requester_spelled_differently_is_still_the_approver(
    tmp_path: Path,
    setup,  # type: ignore[no-untyped-def]
    keys: Keys,
    requester: str,
) -> None:
    rel_dir, policy, release, fid = setup
    if requester.startswith("\t"):
        with pytest.raises(InputError, match="control"):
            unsigned_waiver(release, [fid], requester=requester)
        return
    data = signed(unsigned_waiver(release, [fid], requester=requester), keys.alice)
    got = outcome(tmp_path, rel_dir, policy, data)
    assert got.status is WaiverStatus.REJECTED
    assert "requester = approver" in got.reason
    assert fid in blocking_ids(run(rel_dir, policy, tmp_path / "waivers", T0))


def test_requester_key_equal_to_an_approver_key_is_the_same_person(
    tmp_path: Path,
    setup,  # type: ignore[no-untyped-def]
    keys: Keys,
) -> None:
    """erin asks, naming her key; that key is also listed as reviewer alice's: alice cannot approve."""
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], requester_key=keys.alice.public_key()), keys.alice)
    got = outcome(tmp_path, rel_dir, policy, data)
    assert got.status is WaiverStatus.REJECTED and "requester = approver" in got.reason
    # The benign twin: erin's key is not alice's, so alice's approval counts.
    twin = signed(unsigned_waiver(release, [fid], requester_key=keys.mallory.public_key()), keys.alice)
    assert outcome(tmp_path, rel_dir, policy, twin).status is WaiverStatus.APPLIED


def test_invisible_characters_in_a_signed_waiver_make_it_invalid(
    tmp_path: Path,
    setup,  # type: ignore[no-untyped-def]
    keys: Keys,
) -> None:
    """Written by hand (waiver new refuses it): 'alice\\u200b' must not pass as another person."""
    rel_dir, policy, release, fid = setup
    st = json.loads(unsigned_waiver(release, [fid]))
    st["predicate"]["requester"] = "alice@example.com\u200b"
    data = sign_envelope(json.dumps(st).encode(), keys.alice)
    got = outcome(tmp_path, rel_dir, policy, data)
    assert got.status is WaiverStatus.REJECTED and "not a valid waiver" in got.reason


def test_approvers_named_in_another_spelling_still_count(
    tmp_path: Path,
    setup,  # type: ignore[no-untyped-def]
    keys: Keys,
) -> None:
    rel_dir, policy, release, fid = setup
    data = signed(unsigned_waiver(release, [fid], approvers=["ALICE@example.com "]), keys.alice)
    assert outcome(tmp_path, rel_dir, policy, data).status is WaiverStatus.APPLIED


def test_one_person_under_two_spellings_counts_once(tmp_path: Path, keys: Keys) -> None:
    """Two reviewer entries that are one identity (case, space) with two keys: one approval, not two."""
    d = tmp_path / "pol"
    d.mkdir()
    (d / "a1.pub").write_text(pem_public(keys.alice))
    (d / "a2.pub").write_text(pem_public(keys.carol))
    (d / "b.pub").write_text(pem_public(keys.bob))
    (d / "policy.yaml").write_text(
        "version: 1\nname: team\nextends: [default]\ndefaults:\n  waivers:\n    approvals: 2\n"
        "    reviewers:\n"
        "      - {id: alice@example.com, keys: [a1.pub]}\n"
        "      - {id: 'Alice@Example.com ', keys: [a2.pub]}\n"
        "      - {id: bob@example.com, keys: [b.pub]}\n"
    )
    policy = load_policy(str(d / "policy.yaml"))
    rel_dir = code_release(tmp_path / "rel")
    release, report = loaded(rel_dir, policy)
    (fid,) = blocking_ids(report)
    twice = signed(unsigned_waiver(release, [fid]), keys.alice, keys.carol)
    got = outcome(tmp_path, rel_dir, policy, twice)
    assert got.status is WaiverStatus.REJECTED and "counted twice" in got.reason
    two_people = signed(unsigned_waiver(release, [fid]), keys.alice, keys.bob)
    assert outcome(tmp_path, rel_dir, policy, two_people).status is WaiverStatus.APPLIED
