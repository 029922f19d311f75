"""Sigstore keyless approvals and attestations, verified offline against a pinned trusted root.

A private Sigstore instance (tests/support/sigstore_synth.py) issues real certificates,
SCTs and log entries; sigstore-python's Verifier checks them. Keyless *signing*
needs Fulcio, Rekor and an OIDC token, so it is not exercised here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from gate.attest import build_statement, statement_bytes
from gate.errors import PolicyError
from gate.models.report import WaiverStatus
from gate.policy import load_policy
from gate.risk import Tier
from tests.support import run_cli
from tests.support.sigstore_synth import SyntheticSigstore
from tests.support.waiverkit import (
    T0,
    blocking_ids,
    code_release,
    loaded,
    make_keys,
    pem_public,
    put,
    run,
    signed,
    unsigned_waiver,
)

ISSUER = "https://issuer.test.invalid"


@pytest.fixture(scope="module")
def sigstore() -> SyntheticSigstore:
    return SyntheticSigstore(when=T0)


def _policy(tmp_path: Path, sigstore: SyntheticSigstore, extra: str = "", bob: object = None) -> Path:
    """alice approves keyless (pinned identity, issuer and trusted root); bob with a key."""
    (tmp_path / "pol" / "keys").mkdir(parents=True, exist_ok=True)
    (tmp_path / "pol" / "keys" / "bob.pub").write_text(pem_public(bob or make_keys().bob))
    (tmp_path / "pol" / "sigstore.json").write_text(sigstore.trusted_root())
    p = tmp_path / "pol" / "policy.yaml"
    p.write_text(
        "version: 1\nname: k\nextends: [default]\ndefaults:\n  waivers:\n"
        "    sigstore_trust_root: sigstore.json\n"
        "    reviewers:\n"
        f"      - id: alice\n        sigstore: {{identity: alice@example.com, issuer: '{ISSUER}'}}\n"
        "      - id: bob\n        keys: [keys/bob.pub]\n" + extra
    )
    return p


@pytest.fixture
def world(tmp_path: Path, sigstore: SyntheticSigstore):
    policy = load_policy(str(_policy(tmp_path, sigstore)))
    rel = code_release(tmp_path / "rel")
    release, report = loaded(rel, policy)
    (fid,) = blocking_ids(report)
    return tmp_path, policy, rel, release, fid


def _apply(tmp_path: Path, rel: Path, policy, *files: bytes):
    wdir = tmp_path / "w"
    for i, data in enumerate(files):
        put(wdir, f"{i}.json", data)
    report = run(rel, policy, wdir, now=T0 + dt.timedelta(days=1))
    return report


def test_keyless_approval_applies(world, sigstore: SyntheticSigstore) -> None:
    tmp_path, policy, rel, release, fid = world
    bundle = sigstore.sign_dsse(unsigned_waiver(release, [fid]), "alice@example.com", ISSUER)
    report = _apply(tmp_path, rel, policy, bundle)
    (w,) = report.waivers
    assert w.status is WaiverStatus.APPLIED, w.reason
    assert w.approvers == ("alice",)
    assert fid not in blocking_ids(report)


@pytest.mark.parametrize(
    ("identity", "issuer"),
    [("mallory@example.com", ISSUER), ("alice@example.com", "https://evil.test.invalid")],
)
def test_keyless_wrong_identity_or_issuer_is_untrusted(world, sigstore, identity: str, issuer: str) -> None:
    tmp_path, policy, rel, release, fid = world
    report = _apply(
        tmp_path, rel, policy, sigstore.sign_dsse(unsigned_waiver(release, [fid]), identity, issuer)
    )
    (w,) = report.waivers
    assert w.status is WaiverStatus.REJECTED and "untrusted signer" in w.reason
    assert identity in w.reason
    assert fid in blocking_ids(report)


def test_keyless_from_another_sigstore_instance_is_rejected(world) -> None:
    tmp_path, policy, rel, release, fid = world
    rogue = SyntheticSigstore(when=T0)  # same identity, certificates from a CA nobody pinned
    report = _apply(
        tmp_path, rel, policy, rogue.sign_dsse(unsigned_waiver(release, [fid]), "alice@example.com", ISSUER)
    )
    (w,) = report.waivers
    assert w.status is WaiverStatus.REJECTED and "bad signature" in w.reason
    assert fid in blocking_ids(report)


def test_keyless_bundle_with_changed_payload_is_rejected(world, sigstore) -> None:
    tmp_path, policy, rel, release, fid = world
    bundle = json.loads(sigstore.sign_dsse(unsigned_waiver(release, [fid]), "alice@example.com", ISSUER))
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["expires"] = "2099-01-01T00:00:00Z"
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    report = _apply(tmp_path, rel, policy, json.dumps(bundle).encode())
    (w,) = report.waivers
    assert w.status is WaiverStatus.REJECTED and "bad signature" in w.reason


def test_key_and_keyless_approvals_of_one_statement_combine(tmp_path: Path, sigstore) -> None:
    bob = make_keys().bob
    policy = load_policy(str(_policy(tmp_path, sigstore, "    approvals: 2\n", bob=bob)))
    rel = code_release(tmp_path / "rel")
    release, report = loaded(rel, policy)
    (fid,) = blocking_ids(report)
    statement = unsigned_waiver(release, [fid])
    bundle = sigstore.sign_dsse(statement, "alice@example.com", ISSUER)
    report = _apply(tmp_path, rel, policy, bundle)
    (w,) = report.waivers
    assert w.status is WaiverStatus.REJECTED and "1 of 2 required approvals" in w.reason
    # Bob approves the same statement with his key, in a second file.
    report = _apply(tmp_path, rel, policy, bundle, signed(statement, bob))
    (w,) = report.waivers
    assert w.status is WaiverStatus.APPLIED, w.reason
    assert set(w.approvers) == {"alice", "bob"} and len(w.sha256) == 2


def test_child_policy_cannot_replace_the_trust_root(tmp_path: Path, sigstore) -> None:
    parent = _policy(tmp_path, sigstore)
    rogue = SyntheticSigstore(when=T0)
    (tmp_path / "pol" / "rogue.json").write_text(rogue.trusted_root())
    child = tmp_path / "pol" / "child.yaml"
    child.write_text(
        f"version: 1\nname: c\nextends: [{parent.name}]\n"
        "defaults:\n  waivers:\n    sigstore_trust_root: rogue.json\n"
    )
    # A replaced trust root is an error naming the setting and both files (exit 2), not a silent keep.
    with pytest.raises(PolicyError, match=r"waivers\.sigstore_trust_root") as info:
        load_policy(str(child))
    assert str(child) in info.value.message and str(parent) in info.value.message
    # Repeating the parent's own root is no change.
    child.write_text(f"version: 1\nname: c\nextends: [{parent.name}]\n")
    root = load_policy(str(child)).for_tier(Tier.LOW).waivers.sigstore_trust_root
    assert root is not None and json.loads(root) == json.loads(sigstore.trusted_root())


def test_keyless_attestation_is_verified_offline(tmp_path: Path, sigstore) -> None:
    rel = code_release(tmp_path / "rel", files={"model/w.bin": b"\x00" * 8})
    from gate import engine

    judged = engine.check_release(engine.RunRequest(release_dir=rel, clock=lambda: T0))
    report = judged.report
    statement = build_statement(report, judged.release)
    att = put(
        tmp_path,
        "vsa.sigstore.json",
        sigstore.sign_dsse(statement_bytes(statement), "ci@example.com", ISSUER),
    )
    root = put(tmp_path, "root.json", sigstore.trusted_root().encode())
    args = [
        "verify-attestation",
        str(att),
        "--release",
        str(rel),
        "--sigstore-trust-root",
        str(root),
        "--offline",
    ]
    res = run_cli(*args, "--identity", "ci@example.com", "--issuer", ISSUER, "--max-age", "100000w")
    assert res.exit_code == 0, res.output
    res = run_cli(*args, "--identity", "someone@example.com", "--issuer", ISSUER, "--max-age", "100000w")
    assert res.exit_code == 1 and "untrusted signer" in res.output
    res = run_cli(*args, "--identity", "ci@example.com", "--issuer", ISSUER)
    assert res.exit_code == 1 and "stale" in res.output  # signed at T0, long ago
    res = run_cli("verify-attestation", str(att), "--release", str(rel), "--key", str(root))
    assert res.exit_code == 2  # a trusted root is not a public key
