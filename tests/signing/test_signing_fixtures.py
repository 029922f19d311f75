"""Envelopes, waivers, attestations and policy signatures written by model-gate 0.1.0 still verify.

The fixtures under tests/data/signing/legacy-0.1.0 were produced by the DSSE
code the gate had before it signed through securesystemslib; every one of them
must verify with today's code, and none may verify with another key.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from gate.attest import load_release_digest, verify_attestation
from gate.models.report import WaiverStatus
from gate.policy import load_policy
from gate.protected_policy import verify_policy_signatures
from gate.signing.dsse import verify_envelope
from gate.signing.keys import key_id, public_keys_from
from tests.support import DATA
from tests.support.waiverkit import T0, run

LEGACY = DATA / "signing" / "legacy-0.1.0"
KEYS = ("p256", "p384", "p521", "ed25519")
EXPECTED = json.loads((LEGACY / "expected.json").read_text())


def _key(name: str):  # type: ignore[no-untyped-def]
    return public_keys_from([LEGACY / "keys" / f"{name}.pub"])[0]


@pytest.mark.parametrize("name", KEYS)
def test_legacy_statement_verifies_with_its_key_only(name: str) -> None:
    raw = (LEGACY / f"statement.{name}.dsse.json").read_bytes()
    verified = verify_envelope(raw, [_key(n) for n in KEYS], "legacy")
    assert verified.key_ids == (key_id(_key(name)),)
    st = verified.statement("legacy")
    assert st.subject[0].digest == {"sha256": "ab" * 32}
    others = [_key(n) for n in KEYS if n != name]
    assert verify_envelope(raw, others, "legacy").key_ids == ()


def test_legacy_two_signatures_both_count() -> None:
    raw = (LEGACY / "statement.p256+ed25519.dsse.json").read_bytes()
    got = verify_envelope(raw, [_key("p256"), _key("ed25519")], "legacy").key_ids
    assert set(got) == {key_id(_key("p256")), key_id(_key("ed25519"))}


def test_legacy_raw_payload_keeps_its_bytes_and_type() -> None:
    raw = (LEGACY / "raw-payload.p384.dsse.json").read_bytes()
    verified = verify_envelope(raw, [_key("p384")], "legacy")
    assert verified.key_ids == (key_id(_key("p384")),)
    assert verified.payload == b"not json at all\n" and verified.payload_type == "text/plain"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    rel = tmp_path / "release"
    shutil.copytree(LEGACY / "release", rel)
    waivers = tmp_path / "waivers"
    shutil.copytree(LEGACY / "waivers", waivers)
    return rel, waivers


def test_legacy_waiver_still_applies(tmp_path: Path) -> None:
    rel, waivers = _copy(tmp_path)
    policy = load_policy(str(LEGACY / "policy" / "policy.yaml"))
    report = run(rel, policy, waivers, now=T0 + dt.timedelta(days=1))
    (w,) = report.waivers
    assert w.status is WaiverStatus.APPLIED, w.reason
    assert w.id == EXPECTED["waiver_id"]
    assert set(w.approvers) == {"alice@example.com", "bob@example.com"}
    assert report.verdict.value == EXPECTED["verdict_with_waiver"]
    # Altered by one byte, it no longer applies.
    data = (waivers / "helper.json").read_bytes().replace(b'"payload": "', b'"payload": "e', 1)
    (waivers / "helper.json").write_bytes(data)
    report = run(rel, policy, waivers, now=T0 + dt.timedelta(days=1))
    assert report.waivers[0].status is WaiverStatus.REJECTED
    assert report.verdict.value == EXPECTED["verdict_without_waiver"]


def test_legacy_attestation_still_verifies(tmp_path: Path) -> None:
    rel, _ = _copy(tmp_path)
    digest = load_release_digest(rel)
    assert digest == EXPECTED["release_digest"]
    raw = (LEGACY / "attestation.p521.dsse.json").read_bytes()
    now = T0 + dt.timedelta(days=2)
    check = verify_attestation(raw, release_digest=digest, keys=[_key("p521")], now=now, max_age=None)
    assert check.ok, check.reasons
    assert check.verdict == EXPECTED["verdict_with_waiver"]
    wrong = verify_attestation(raw, release_digest=digest, keys=[_key("p256")], now=now, max_age=None)
    assert not wrong.ok


def test_legacy_policy_signature_still_verifies() -> None:
    policy = load_policy(str(LEGACY / "policy" / "policy.yaml"))
    verify_policy_signatures(policy, _key("ed25519"))
    from gate.errors import PolicyError

    with pytest.raises(PolicyError, match="not signed by the --policy-key key"):
        verify_policy_signatures(policy, _key("p256"))
