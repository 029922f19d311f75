"""One Sigstore verifier: where keyless signatures are anchored is decided once, for model
signatures, waivers and attestations alike, and offline without a trust root nothing passes."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gate.cli import main
from gate.errors import CheckError
from gate.models.report import WaiverStatus
from gate.policy import load_policy
from gate.signing.backends.sigstore import SigstoreTrust, approve, sigstore_verifier, verify_bundle
from gate.signing.trust import SigstoreIdentity
from gate.waivers import WaiverFile, WaiverSet
from tests.support import DATA, ROOT
from tests.support.sigstore_synth import SyntheticSigstore
from tests.support.waiverkit import T0, blocking_ids, code_release, loaded, put, run, unsigned_waiver

ISSUER = "https://issuer.test.invalid"
GATE = ROOT / "gate"
ALICE = {"alice": SigstoreIdentity(identity="alice@example.com", issuer=ISSUER)}


@pytest.fixture(scope="module")
def sigstore() -> SyntheticSigstore:
    return SyntheticSigstore(when=T0)


def _trust(root: bytes | None, offline: bool) -> SigstoreTrust:
    return SigstoreTrust(root, offline, "test", "the test root", "a trust root")


def test_offline_without_a_trust_root_is_refused(sigstore: SyntheticSigstore) -> None:
    with pytest.raises(CheckError, match="offline needs a trust root file") as info:
        sigstore_verifier(_trust(None, offline=True))
    assert info.value.hint is not None and "a trust root" in info.value.hint
    bundle = sigstore.sign_dsse(b"{}", "alice@example.com", ISSUER)
    refused = approve(bundle, ALICE, _trust(None, offline=True))
    assert isinstance(refused, str) and "needs a trust root file" in refused
    # The benign twin: the same bundle with its trust root verifies, offline.
    ok = approve(bundle, ALICE, _trust(sigstore.trusted_root().encode(), offline=True))
    assert not isinstance(ok, str) and ok.signers == ["alice"] and ok.payload == b"{}"


@pytest.mark.parametrize(
    "root", [b"not json", b"[]", b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json"}']
)
def test_an_unusable_trust_root_is_named_and_refused(sigstore: SyntheticSigstore, root: bytes) -> None:
    with pytest.raises(CheckError, match="the test root is not a Sigstore trust root"):
        sigstore_verifier(_trust(root, offline=False))
    refused = approve(sigstore.sign_dsse(b"{}", "alice@example.com", ISSUER), ALICE, _trust(root, False))
    assert isinstance(refused, str) and "is not a Sigstore trust root" in refused


def test_a_given_trust_root_is_used_online_too(sigstore: SyntheticSigstore) -> None:
    """A pinned root is never swapped for the public good because the network is there."""
    rogue = SyntheticSigstore(when=T0)
    bundle = rogue.sign_dsse(b"{}", "alice@example.com", ISSUER)
    got = verify_bundle(bundle, _trust(sigstore.trusted_root().encode(), offline=False))
    assert not hasattr(got, "payload")
    refused = approve(bundle, ALICE, _trust(sigstore.trusted_root().encode(), offline=False))
    assert isinstance(refused, str) and refused.startswith("bad signature")


def test_waivers_offline_without_a_trust_root_are_rejected(tmp_path: Path, sigstore) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        "version: 1\nname: k\nextends: [default]\ndefaults:\n  waivers:\n    reviewers:\n"
        f"      - id: alice\n        sigstore: {{identity: alice@example.com, issuer: '{ISSUER}'}}\n"
    )
    policy = load_policy(str(pol))
    rel = code_release(tmp_path / "rel")
    release, report = loaded(rel, policy)
    (fid,) = blocking_ids(report)
    bundle = sigstore.sign_dsse(unsigned_waiver(release, [fid]), "alice@example.com", ISSUER)
    ws = WaiverSet([WaiverFile(path=tmp_path / "w.json", raw=bundle)], offline=True)
    report = run(rel, policy, ws, now=T0 + dt.timedelta(days=1))
    (w,) = report.waivers
    assert w.status is WaiverStatus.REJECTED and "needs a trust root file" in w.reason
    assert fid in blocking_ids(report)


def test_attestations_offline_without_a_trust_root_are_refused(tmp_path: Path, sigstore) -> None:
    rel = code_release(tmp_path / "rel", files={"model/w.bin": b"\x00" * 8})
    att = put(tmp_path, "vsa.sigstore.json", sigstore.sign_dsse(b"{}", "ci@example.com", ISSUER))
    args = ["verify-attestation", str(att), "--release", str(rel), "--offline"]
    args += ["--identity", "ci@example.com", "--issuer", ISSUER]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 1, res.output
    assert "needs a trust root file" in res.output


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_one_sigstore_verifier_and_one_place_that_tells_bundles_apart() -> None:
    verifying = {"sigstore.verify", "sigstore.verify.policy", "sigstore.sign", "sigstore.dsse"}
    users = sorted(str(p.relative_to(GATE)) for p in GATE.rglob("*.py") if _imports(p) & verifying)
    assert users == ["signing/backends/sigstore.py"]
    media = sorted(
        str(p.relative_to(GATE))
        for p in GATE.rglob("*.py")
        if "application/vnd.dev.sigstore.bundle" in p.read_text()
    )
    assert media == ["signing/document.py"]
    # The libraries of the signing wing never reach up into checks, the engine or the commands.
    for p in (GATE / "signing").rglob("*.py"):
        bad = {
            m
            for m in _imports(p)
            if m.startswith(("gate.checks", "gate.engine", "gate.cli", "gate.commands"))
        }
        assert not bad, (p, bad)


def test_recorded_public_good_bundle_verifies_offline_with_its_root() -> None:
    data = DATA / "sigstore"
    bundle = (data / "conformance-happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json").read_bytes()
    root = (data / "trusted_root.json").read_bytes()
    got = verify_bundle(bundle, _trust(root, offline=True))
    assert hasattr(got, "payload"), got
    assert json.loads(got.payload)["predicateType"] == "https://slsa.dev/provenance/v1"  # type: ignore[union-attr]
    assert got.found["issuer"] == "https://token.actions.githubusercontent.com"  # type: ignore[union-attr]
