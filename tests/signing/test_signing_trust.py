"""Hostile input for the signature/provenance parsers, the scoped inventory requests, and the examples."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.checks.model_signature import ModelSignatureCheck
from gate.inventory import DigestRequest, build_inventory, merge_requests
from gate.policy import load_policy
from gate.release import load_manifest
from gate.signing.backends.sigstore import _der_utf8
from gate.signing.document import verify_document
from gate.signing.model_format import peek_serialization
from gate.signing.trust import ProblemKind, TrustSettings, VerifyContext
from tests.support import BAD, DEMO, ROOT, run_json
from tests.support.supply_chain_helpers import ec_key, findings, make_release, sign_key, write_key

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint

DEMO_POLICY = ROOT / "examples" / "demo-policy.yaml"


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    d = tmp_path_factory.mktemp("fuzz")
    priv, pub = write_key(ec_key(), d / "k.pem")
    rel = make_release(d / "rel", extra="signature: model.sig\n")
    sign_key(rel / "model", rel / "model.sig", priv)
    return (rel / "model.sig").read_bytes(), pub


def vctx(pub: Path) -> VerifyContext:
    return VerifyContext(
        trust=TrustSettings(trusted_keys=(str(pub),)),
        policy_dir=None,
        offline=True,
        clock=lambda: dt.datetime.now(dt.UTC),
        setting="checks.test",
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_random_bytes_are_malformed(signed_bundle: tuple[bytes, Path], raw: bytes) -> None:
    out = verify_document(raw, "x.sig", vctx(signed_bundle[1]))
    assert out.statement is None
    assert out.problems and out.problems[0].kind in (ProblemKind.MALFORMED, ProblemKind.UNTRUSTED)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_real_bundles_never_verify_and_never_raise(
    signed_bundle: tuple[bytes, Path], data: st.DataObject
) -> None:
    raw, pub = signed_bundle
    pos = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255))
    mutated = raw[:pos] + bytes([byte]) + raw[pos + 1 :]
    out = verify_document(mutated, "x.sig", vctx(pub))
    if mutated != raw and out.statement is not None:
        # Only a change the signature does not cover (JSON whitespace, the unsigned key hint) may pass.
        assert json.loads(mutated)["dsseEnvelope"] == json.loads(raw)["dsseEnvelope"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_wrong_types_inside_a_bundle(signed_bundle: tuple[bytes, Path], junk: object) -> None:
    base = json.loads(signed_bundle[0])
    for key in ("verificationMaterial", "dsseEnvelope"):
        doc = {**base, key: junk}
        out = verify_document(json.dumps(doc).encode(), "x.sig", vctx(signed_bundle[1]))
        assert out.statement is None


def test_huge_document_is_refused_without_parsing(signed_bundle: tuple[bytes, Path]) -> None:
    out = verify_document(b" " * (16 * 1024 * 1024 + 1), "x.sig", vctx(signed_bundle[1]))
    assert out.problems[0].kind is ProblemKind.MALFORMED
    assert "larger than" in out.problems[0].message


@given(st.binary(max_size=300))
def test_der_utf8_decoder_is_total(raw: bytes) -> None:
    value = _der_utf8(raw)
    assert value is None or isinstance(value, str)


def test_der_utf8_long_form() -> None:
    text = "https://github.com/" + "x" * 200
    assert _der_utf8(b"\x0c\x81" + bytes([len(text)]) + text.encode()) == text
    assert _der_utf8(b"\x0c\x05abc") is None


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300))
def test_digest_requests_never_raise_on_garbage(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    d = tmp_path_factory.mktemp("peek")
    rel = make_release(d / "rel", {"w.bin": b"x"}, "signature: model.sig\n")
    (rel / "model.sig").write_bytes(raw)
    manifest = load_manifest(rel).manifest
    assert ModelSignatureCheck().digest_requests(manifest, rel.resolve(), None) == []


def test_digest_requests_refuse_absurd_sharding(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "rel", {"w.bin": b"x" * 300_000}, "signature: model.sig\n")
    payload = {
        "predicate": {
            "serialization": {
                "method": "shards",
                "hash_type": "sha256",
                "shard_size": 1,
                "allow_symlinks": False,
            }
        }
    }
    env = {
        "payload": base64.b64encode(json.dumps(payload).encode()).decode(),
        "payloadType": "x",
        "signatures": [{"sig": ""}],
    }
    (rel / "model.sig").write_text(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "dsseEnvelope": env,
                "verificationMaterial": {},
            }
        )
    )
    manifest = load_manifest(rel).manifest
    assert peek_serialization(manifest, rel.resolve()) is not None
    assert ModelSignatureCheck().digest_requests(manifest, rel.resolve(), None) == []


# --- the inventory's scoped requests -------------------------------------------


def test_scoped_requests_merge_and_apply_only_below_their_paths(tmp_path: Path) -> None:
    for rel, data in {
        "model/a.bin": b"a",
        "model/sub/b.bin": b"b" * 10,
        "data/c.bin": b"c",
        "modelx/d": b"d",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    merged = merge_requests(
        [
            DigestRequest(algorithm="blake2b", paths=("model",)),
            DigestRequest(algorithm="blake2b", paths=("data",)),
            DigestRequest(algorithm="sha256", shard_size=4, paths=("model/sub",)),
            DigestRequest(algorithm="sha256"),
        ]
    )
    assert [(r.key, r.paths) for r in merged] == [
        ("blake2b", ("model", "data")),
        ("sha256/4", ("model/sub",)),
    ]
    inv = build_inventory(tmp_path, merged).by_path()
    assert set(inv["model/a.bin"].digests) == {"blake2b"} and not inv["model/a.bin"].shard_digests
    assert set(inv["data/c.bin"].digests) == {"blake2b"}
    assert inv["modelx/d"].digests == {}  # a sibling with a common prefix is not below 'model'
    assert len(inv["model/sub/b.bin"].shard_digests["sha256/4"]) == 3
    unscoped = merge_requests(
        [DigestRequest(algorithm="blake2b", paths=("model",)), DigestRequest(algorithm="blake2b")]
    )
    assert unscoped[0].paths is None


# --- the examples --------------------------------------------------------------


def test_demo_release_passes_the_demo_policy_with_signature_and_provenance(demo_policy: Path) -> None:
    # demo_policy extends examples/demo-policy.yaml from a temporary directory (pointing the
    # dependency audit at this session's OSV mirror): the demo key still resolves next to it.
    code, report = run_json("check", str(DEMO), "--policy", str(demo_policy), "--offline")
    assert code == 0, report["findings"]
    status = {c["id"]: c["status"] for c in report["checks"]}
    assert status["model-signature"] == "passed" and status["provenance"] == "passed"


def test_bad_release_shows_a_failing_signature(demo_policy: Path) -> None:
    code, report = run_json("check", str(BAD), "--policy", str(demo_policy), "--offline")
    assert code == 1
    got = {
        (f["rule"]["name"], f["location"]["path"])
        for f in findings(report, "model-signature")
        if f["blocking"]
    }
    assert ("model-file-modified", "model/config.json") in got
    assert ("model-file-unsigned", "model/modeling_custom.py") in got
    assert ("symlink-in-model", "model/vocab.txt") in got
    # Under the default policy nobody trusted signed it, and the high tier requires both checks.
    code, report = run_json("check", str(BAD), "--skip", "dependencies")
    assert code == 1
    assert {f["rule"]["name"] for f in report["findings"] if f["blocking"]} >= {
        "signer-not-trusted",
        "provenance-missing",
    }


def test_demo_key_is_clearly_marked_and_only_the_demo_policy_trusts_it() -> None:
    keys = ROOT / "examples" / "keys"
    assert (keys / "DEMO-ONLY-signing-key.pem").exists()
    assert "demo key" in (keys / "README.md").read_text().lower()
    for name in ("default", "strict"):
        tiers = load_policy(name).tiers
        assert all(not t.checks.get("model-signature", {}).get("trusted_keys") for t in tiers.values())


def test_a_fifo_as_signature_does_not_hang(tmp_path: Path) -> None:
    import os

    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    os.mkfifo(rel / "model.sig")
    assert ModelSignatureCheck().digest_requests(load_manifest(rel).manifest, rel.resolve(), None) == []
    code, report = run_json("check", str(rel), "--only", "model-signature", "--offline")
    assert code == 1
    assert any(f["rule"]["name"] == "signature-missing" for f in report["findings"])


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    start = text.index(f"## {title}\n")
    return text[start : text.index("\n## ", start + 1)]


def test_readme_signing_example_signs_and_verifies(tmp_path: Path) -> None:
    """The README's key-signing command, run as written, and its policy snippet verify a release."""
    import re
    import shlex
    import subprocess
    import sys

    from tests.support.supply_chain_helpers import TRUSTED_ROOT

    section = _readme_section("Signing a release")
    sh, policy_yaml = re.findall(r"```(?:sh|yaml)\n(.*?)```", section, re.S)
    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    write_key(ec_key(), rel / "release-key.pem")
    (tmp_path / "keys").mkdir()
    (rel / "release-key.pub").rename(tmp_path / "keys" / "release.pub")
    (tmp_path / "sigstore").mkdir()
    (tmp_path / "sigstore" / "trusted_root.json").write_bytes(TRUSTED_ROOT.read_bytes())
    key_cmd = next(line for line in sh.splitlines() if line.startswith("model_signing sign key"))
    argv = [sys.executable, "-m", "model_signing", *shlex.split(key_cmd)[1:]]
    subprocess.run(argv, cwd=rel, check=True, capture_output=True, timeout=120)
    (rel / "release-key.pem").unlink()  # the release ships no private key
    policy = tmp_path / "readme-policy.yaml"
    policy.write_text(
        "version: 1\nname: readme\nextends: [default]\n"
        + policy_yaml.replace("defaults:\n", "defaults:\n  required: [model-signature]\n", 1),
        "utf-8",
    )
    code, report = run_json(
        "check", str(rel), "--policy", str(policy), "--offline", "--only", "model-signature"
    )
    sig = next(c for c in report["checks"] if c["id"] == "model-signature")
    assert sig["status"] == "passed", report["findings"]
    assert sig["details"]["method"] == "key"
    # Control: a file changed after signing is caught with the same policy.
    (rel / "model" / "config.json").write_text('{"changed": true}', "utf-8")
    code, report = run_json(
        "check", str(rel), "--policy", str(policy), "--offline", "--only", "model-signature"
    )
    assert code == 1 and findings(report, "model-signature")
