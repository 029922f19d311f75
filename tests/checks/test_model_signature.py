"""`model-signature`: real model-signing signatures (key, certificate, keyless) and the tampering matrix.

Every attack case is paired with the untampered control that passes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import model_signing
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from gate.checks.interface import CheckContext, RunOptions
from gate.checks.model_signature import ModelSignatureCheck, ModelSignatureConfig
from gate.release import load_release
from gate.risk import score
from gate.signing.model_format import item_key, root_digest
from tests.support import reachable
from tests.support.supply_chain_helpers import (
    MT_IDENTITY,
    PKI,
    TRUSTED_ROOT,
    check,
    copy_keyless_release,
    ec_key,
    findings,
    make_release,
    model_files,
    result,
    sign_key,
    write_key,
    write_policy,
)

MS = "model-signature"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = write_key(ec_key(), d / "release.pem")
    other, other_pub = write_key(ec_key(), d / "other.pem")
    return {"priv": priv, "pub": pub, "other": other, "other_pub": other_pub}


@pytest.fixture
def signed(tmp_path: Path, keys: dict[str, Path]) -> tuple[Path, Path]:
    """A key-signed release and a policy that trusts the key."""
    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    sign_key(rel / "model", rel / "model.sig", keys["priv"])
    pol = write_policy(tmp_path / "policy.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}})
    return rel, pol


def blocked_by(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in findings(report, MS) if f["rule"]["name"] == rule and f["blocking"]]


# --- control cases -------------------------------------------------------------


def test_key_signed_release_passes(signed: tuple[Path, Path], keys: dict[str, Path]) -> None:
    code, report = check(*signed, MS)
    assert code == 0, report["findings"]
    res = result(report, MS)
    assert res["status"] == "passed"
    assert res["details"]["method"] == "key"
    assert res["details"]["files"] == 3
    assert "3 files match" in res["summary"]


@pytest.mark.parametrize(
    "make_config",
    [
        lambda: model_signing.hashing.Config().use_file_serialization(hashing_algorithm="blake2"),
        lambda: model_signing.hashing.Config().use_file_serialization(hashing_algorithm="blake3"),
        lambda: model_signing.hashing.Config().use_shard_serialization(shard_size=256),
        lambda: model_signing.hashing.Config().use_shard_serialization(
            hashing_algorithm="blake2", shard_size=300
        ),
    ],
    ids=["blake2b", "blake3", "sha256-shards", "blake2b-shards"],
)
def test_other_hash_types_and_shards_verify_and_detect_a_flip(
    tmp_path: Path, keys: dict[str, Path], make_config: Any
) -> None:
    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    sign_key(rel / "model", rel / "model.sig", keys["priv"], make_config())
    pol = write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}})
    code, report = check(rel, pol, MS)
    assert code == 0, report["findings"]
    assert (
        result(report, MS)["details"]["recomputed_root_digest"]
        == result(report, MS)["details"]["root_digest"]
    )
    w = rel / "model" / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0x01
    w.write_bytes(bytes(data))
    code, report = check(rel, pol, MS)
    assert code == 1
    assert blocked_by(report, "model-file-modified")[0]["location"]["path"] == "model/model.safetensors"


def test_root_digest_uses_model_signings_path_order(tmp_path: Path, keys: dict[str, Path]) -> None:
    # 'a.b' < 'a/b' as strings, but model-signing sorts by path components: ('a','b') < ('a.b',).
    files = {"a.b": b"one", "a/b": b"two", "a-c": b"three", "model.safetensors": b"w"}
    rel = make_release(tmp_path / "rel", files, "signature: model.sig\n")
    sign_key(rel / "model", rel / "model.sig", keys["priv"])
    payload = json.loads(
        base64.b64decode(json.loads((rel / "model.sig").read_text())["dsseEnvelope"]["payload"])
    )
    listed = [r["name"] for r in payload["predicate"]["resources"]]
    assert listed == sorted(listed, key=lambda n: item_key(n, "files"))
    assert listed != sorted(listed)
    import hashlib

    ours = root_digest(
        hashlib.sha256(files[n]).hexdigest() for n in sorted(files, key=lambda n: item_key(n, "files"))
    )
    assert ours == payload["subject"][0]["digest"]["sha256"]
    code, report = check(
        rel, write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}}), MS
    )
    assert code == 0, report["findings"]


# --- tampering matrix: files ---------------------------------------------------


def test_one_flipped_byte_in_a_weight_file(signed: tuple[Path, Path]) -> None:
    rel, pol = signed
    w = rel / "model" / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0x80
    w.write_bytes(bytes(data))
    code, report = check(rel, pol, MS)
    assert code == 1
    (f,) = blocked_by(report, "model-file-modified")
    assert f["location"]["path"] == "model/model.safetensors"
    assert f["evidence"]["expected"] != f["evidence"]["found"]


def test_file_added(signed: tuple[Path, Path]) -> None:
    rel, pol = signed
    (rel / "model" / "modeling_evil.py").write_text("import os\n")
    code, report = check(rel, pol, MS)
    assert code == 1
    assert [f["location"]["path"] for f in blocked_by(report, "model-file-unsigned")] == [
        "model/modeling_evil.py"
    ]


def test_file_removed(signed: tuple[Path, Path]) -> None:
    rel, pol = signed
    (rel / "model" / "tokenizer.json").unlink()
    code, report = check(rel, pol, MS)
    assert code == 1
    assert [f["location"]["path"] for f in blocked_by(report, "signed-file-missing")] == [
        "model/tokenizer.json"
    ]


def test_file_renamed(signed: tuple[Path, Path]) -> None:
    rel, pol = signed
    (rel / "model" / "config.json").rename(rel / "model" / "config.backup.json")
    code, report = check(rel, pol, MS)
    assert code == 1
    (f,) = blocked_by(report, "model-file-renamed")
    assert f["evidence"] == {"signed_name": "model/config.json", "found_name": "model/config.backup.json"}
    assert not blocked_by(report, "signed-file-missing") and not blocked_by(report, "model-file-unsigned")


def test_signature_taken_from_another_model(tmp_path: Path, keys: dict[str, Path]) -> None:
    other = make_release(tmp_path / "other", model_files(seed=7), "signature: model.sig\n")
    sign_key(other / "model", other / "model.sig", keys["priv"])
    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    shutil.copyfile(other / "model.sig", rel / "model.sig")
    pol = write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}})
    code, report = check(rel, pol, MS)
    assert code == 1
    assert [f["location"]["path"] for f in blocked_by(report, "model-file-modified")] == [
        "model/model.safetensors"
    ]


def test_symlink_in_model_is_rejected(signed: tuple[Path, Path]) -> None:
    rel, pol = signed
    os.symlink("model.safetensors", rel / "model" / "alias.safetensors")
    code, report = check(rel, pol, MS)
    assert code == 1
    assert blocked_by(report, "symlink-in-model")[0]["location"]["path"] == "model/alias.safetensors"


def test_ignore_paths_hiding_tokenizer_and_code(tmp_path: Path, keys: dict[str, Path]) -> None:
    files = {**model_files(), "modeling_x.py": b"print(1)\n"}
    rel = make_release(tmp_path / "rel", files, "signature: model.sig\n")
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=["tokenizer.json", "modeling_x.py"])
    sign_key(rel / "model", rel / "model.sig", keys["priv"], hashing)
    pol = write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}})
    # model-signing itself accepts this model, unsigned files and all.
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=keys["pub"]).verify(
        rel / "model", rel / "model.sig"
    )
    code, report = check(rel, pol, MS)
    assert code == 1
    hidden = {
        f["evidence"]["ignore_path"]: f["evidence"]["kinds"]
        for f in blocked_by(report, "signature-ignores-sensitive-files")
    }
    assert hidden == {"tokenizer.json": ["tokenizer"], "modeling_x.py": ["code"]}
    unsigned = {f["location"]["path"] for f in blocked_by(report, "model-file-unsigned")}
    assert unsigned == {"model/tokenizer.json", "model/modeling_x.py"}


def test_git_metadata_ignored_by_default_is_allowed(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(
        tmp_path / "rel",
        {**model_files(), ".gitattributes": b"*.safetensors filter=lfs\n"},
        "signature: model.sig\n",
    )
    sign_key(rel / "model", rel / "model.sig", keys["priv"])
    code, report = check(
        rel, write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}}), MS
    )
    assert code == 0, report["findings"]
    assert result(report, MS)["details"]["unsigned_but_allowed"] == [".gitattributes"]


# --- tampering matrix: signature and signer -----------------------------------


def test_key_the_policy_does_not_trust(
    signed: tuple[Path, Path], keys: dict[str, Path], tmp_path: Path
) -> None:
    rel, _ = signed
    pol = write_policy(tmp_path / "other.yaml", {MS: {"trusted_keys": [str(keys["other_pub"])]}})
    code, report = check(rel, pol, MS)
    assert code == 1
    (f,) = blocked_by(report, "signer-not-trusted")
    assert "does not trust" in f["title"]


def test_no_trusted_signer_configured_blocks(signed: tuple[Path, Path], tmp_path: Path) -> None:
    rel, _ = signed
    code, report = check(rel, write_policy(tmp_path / "none.yaml", {MS: {}}), MS)
    assert code == 1
    assert "trusts no public key" in blocked_by(report, "signer-not-trusted")[0]["title"]


def test_edited_signed_manifest_is_invalid(signed: tuple[Path, Path]) -> None:
    rel, pol = signed
    bundle = json.loads((rel / "model.sig").read_text())
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    # Make the signed list match a tampered weight file: the signature no longer holds.
    w = rel / "model" / "model.safetensors"
    w.write_bytes(w.read_bytes() + b"\x00")
    import hashlib

    for r in payload["predicate"]["resources"]:
        if r["name"] == "model.safetensors":
            r["digest"] = hashlib.sha256(w.read_bytes()).hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    (rel / "model.sig").write_text(json.dumps(bundle))
    code, report = check(rel, pol, MS)
    assert code == 1
    assert blocked_by(report, "signature-invalid")
    assert not findings(report, MS)[0]["rule"]["name"].startswith("model-file")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: b"",
        lambda raw: b"[]",
        lambda raw: b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
        lambda raw: raw.replace(b'"dsseEnvelope"', b'"messageSignature"'),
        lambda raw: b"[" * 100_000,
        lambda raw: json.dumps({**json.loads(raw), "verificationMaterial": 5}).encode(),
    ],
    ids=["truncated", "empty", "array", "no-material", "message-signature", "deep", "wrong-type"],
)
def test_malformed_signature_is_a_blocking_finding_not_a_traceback(
    signed: tuple[Path, Path], mangle: Any
) -> None:
    rel, pol = signed
    sig = rel / "model.sig"
    sig.write_bytes(mangle(sig.read_bytes()))
    code, report = check(rel, pol, MS)
    assert code == 1
    assert blocked_by(report, "signature-malformed")


def test_signature_missing(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel")
    pol = write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}})
    code, report = check(rel, pol, MS)
    assert code == 1
    assert blocked_by(report, "signature-missing")


def test_unreadable_policy_key_is_a_policy_error(signed: tuple[Path, Path], tmp_path: Path) -> None:
    from tests.support import run_cli

    rel, _ = signed
    pol = write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": ["nope.pub"]}})
    result_ = run_cli("check", str(rel), "--policy", str(pol), "--only", MS, "--offline")
    assert result_.exit_code == 2
    assert (
        "defaults.checks.model-signature.trusted_keys[0]" in result_.stderr and "nope.pub" in result_.stderr
    )


def test_trust_files_are_relative_to_the_policy_that_names_them(
    signed: tuple[Path, Path], keys: dict[str, Path], tmp_path: Path
) -> None:
    rel, _ = signed
    org = tmp_path / "org"
    (org / "keys").mkdir(parents=True)
    shutil.copyfile(keys["pub"], org / "keys" / "release.pub")
    write_policy(org / "org.yaml", {MS: {"trusted_keys": ["keys/release.pub"]}})
    # A team policy elsewhere extends it; the key path still resolves next to org.yaml.
    team = tmp_path / "team" / "team.yaml"
    team.parent.mkdir()
    team.write_text(f"version: 1\nname: team\nextends: [{org / 'org.yaml'}]\n")
    code, report = check(rel, team, MS)
    assert code == 0, report["findings"]
    # Inline PEM works too, and a team policy can only narrow what the parent trusts.
    other = write_policy(tmp_path / "inline.yaml", {MS: {"trusted_keys": [keys["other_pub"].read_text()]}})
    assert check(rel, other, MS)[0] == 1


# --- certificate chain ---------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return PKI(tmp_path / "pki")


def cert_release(tmp_path: Path, pki: PKI) -> Path:
    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    pki.sign(rel / "model", rel / "model.sig")
    return rel


def test_certificate_chain_to_pinned_ca_passes_and_leaf_pin(tmp_path: Path, pki: PKI) -> None:
    rel = cert_release(tmp_path, pki)
    code, report = check(
        rel, write_policy(tmp_path / "p.yaml", {MS: {"certificate_authorities": [str(pki.root_pem)]}}), MS
    )
    assert code == 0, report["findings"]
    assert result(report, MS)["details"]["method"] == "certificate"
    pinned = {MS: {"certificate_authorities": [str(pki.root_pem)], "leaf_fingerprints": [pki.fingerprint()]}}
    assert check(rel, write_policy(tmp_path / "pin.yaml", pinned), MS)[0] == 0
    wrong = {
        MS: {"certificate_authorities": [str(pki.root_pem)], "leaf_fingerprints": ["sha256:" + "ab" * 32]}
    }
    code, report = check(rel, write_policy(tmp_path / "wrong.yaml", wrong), MS)
    assert code == 1
    assert "pinned leaf" in blocked_by(report, "signer-not-trusted")[0]["title"]


def test_certificate_from_an_unpinned_ca(tmp_path: Path, pki: PKI) -> None:
    rel = cert_release(tmp_path, pki)
    other = PKI(tmp_path / "other")
    code, report = check(
        rel, write_policy(tmp_path / "p.yaml", {MS: {"certificate_authorities": [str(other.root_pem)]}}), MS
    )
    assert code == 1
    assert (
        "does not lead to a certificate authority the policy pins"
        in blocked_by(report, "signer-not-trusted")[0]["title"]
    )


@pytest.mark.parametrize(
    ("leaf_kw", "why"),
    [
        (
            {
                "not_after": dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
                "not_before": dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
            },
            "expired",
        ),
        ({"not_before": dt.datetime.now(dt.UTC) + dt.timedelta(days=1)}, "not valid before"),
        ({"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "not for code signing"),
    ],
    ids=["expired", "not-yet-valid", "not-code-signing"],
)
def test_invalid_signing_certificate(tmp_path: Path, leaf_kw: dict[str, Any], why: str) -> None:
    pki = PKI(tmp_path / "pki", **leaf_kw)
    rel = cert_release(tmp_path, pki)
    code, report = check(
        rel, write_policy(tmp_path / "p.yaml", {MS: {"certificate_authorities": [str(pki.root_pem)]}}), MS
    )
    assert code == 1
    (f,) = blocked_by(report, "signing-certificate-invalid")
    assert why in f["title"]


# --- Sigstore keyless (recorded real bundle, offline) ---------------------------


def keyless_policy(tmp_path: Path, identity: dict[str, str], **extra: Any) -> Path:
    cfg = {"sigstore_identities": [identity], "trust_root": str(TRUSTED_ROOT), **extra}
    return write_policy(tmp_path / "keyless.yaml", {MS: cfg})


def test_keyless_recorded_signature_verifies_offline(tmp_path: Path) -> None:
    rel = copy_keyless_release(tmp_path / "rel")
    code, report = check(rel, keyless_policy(tmp_path, MT_IDENTITY), MS)
    assert code == 0, report["findings"]
    details = result(report, MS)["details"]
    assert details["method"] == "sigstore"
    assert details["signer_details"]["identity"] == ["stefanb@us.ibm.com"]


def test_keyless_file_the_signer_ignored_is_unsigned_unless_the_policy_allows_it(tmp_path: Path) -> None:
    rel = copy_keyless_release(tmp_path / "rel", with_ignored=True)
    code, report = check(rel, keyless_policy(tmp_path, MT_IDENTITY), MS)
    assert code == 1
    assert blocked_by(report, "model-file-unsigned")[0]["location"]["path"] == "model/ignore-me"
    # The policy may allow that path to stay unsigned...
    cfg = {
        "sigstore_identities": [MT_IDENTITY],
        "trust_root": str(TRUSTED_ROOT),
        "allowed_ignore_paths": ["ignore-me"],
    }
    assert check(rel, write_policy(tmp_path / "own.yaml", {MS: cfg}), MS)[0] == 0
    # ...but not in a policy that extends the default: allowed lists only narrow.
    code, _ = check(
        rel, write_policy(tmp_path / "ext.yaml", {MS: cfg}, extends=True), MS, "release-integrity"
    )
    assert code == 1


@pytest.mark.parametrize(
    ("identity", "field"),
    [
        ({**MT_IDENTITY, "identity": "someone@example.com"}, "identity"),
        ({**MT_IDENTITY, "issuer": "https://accounts.google.com"}, "issuer"),
    ],
    ids=["wrong-identity", "wrong-issuer"],
)
def test_keyless_wrong_identity_or_issuer(tmp_path: Path, identity: dict[str, str], field: str) -> None:
    rel = copy_keyless_release(tmp_path / "rel")
    code, report = check(rel, keyless_policy(tmp_path, identity), MS)
    assert code == 1
    (f,) = blocked_by(report, "signer-not-trusted")
    assert [m["field"] for m in f["evidence"]["mismatches"]] == [field]
    assert f"{field} expected '{identity[field]}'" in f["title"]


def test_keyless_flipped_byte_and_edited_bundle(tmp_path: Path) -> None:
    rel = copy_keyless_release(tmp_path / "rel")
    pol = keyless_policy(tmp_path, MT_IDENTITY)
    (rel / "model" / "signme-1").write_bytes(b"signme-X")
    code, report = check(rel, pol, MS)
    assert code == 1 and blocked_by(report, "model-file-modified")
    rel2 = copy_keyless_release(tmp_path / "rel2")
    bundle = json.loads((rel2 / "model.sig").read_text())
    payload = bytearray(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload[payload.index(b"signme-2")] = ord("S")
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(bytes(payload)).decode()
    (rel2 / "model.sig").write_text(json.dumps(bundle))
    code, report = check(rel2, pol, MS)
    assert code == 1
    assert blocked_by(report, "signature-invalid")


def test_keyless_offline_without_trust_root_cannot_complete(tmp_path: Path) -> None:
    rel = copy_keyless_release(tmp_path / "rel")
    code, report = check(
        rel, write_policy(tmp_path / "p.yaml", {MS: {"sigstore_identities": [MT_IDENTITY]}}), MS
    )
    assert code == 3
    assert "trust root" in result(report, MS)["summary"]


# --- hash once -------------------------------------------------------------------


def test_check_reads_digests_from_the_inventory_not_the_files(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(
        tmp_path / "rel", {**model_files(), "data/big.bin": b"x" * 5000}, "signature: model.sig\n"
    )
    (rel / "dataset.bin").write_bytes(b"outside the model" * 100)
    sign_key(
        rel / "model",
        rel / "model.sig",
        keys["priv"],
        model_signing.hashing.Config().use_file_serialization(hashing_algorithm="blake2"),
    )
    from gate.release import load_manifest

    check_ = ModelSignatureCheck()
    cfg = ModelSignatureConfig(trusted_keys=(str(keys["pub"]),))
    requests = check_.digest_requests(load_manifest(rel).manifest, rel.resolve(), cfg)
    assert [(r.algorithm, r.paths) for r in requests] == [("blake2b", ("model",))]
    release = load_release(rel, requests)
    by_path = release.inventory.by_path()
    assert "blake2b" in by_path["model/data/big.bin"].digests
    assert "blake2b" not in by_path["dataset.bin"].digests  # scoped: no second hash outside the model
    # Change the bytes on disk after the single pass: the check judges what was hashed.
    (rel / "model" / "data" / "big.bin").write_bytes(b"y" * 5000)
    ctx = CheckContext(
        release=release, tier=score(release.manifest), config=cfg, options=RunOptions(offline=True)
    )
    outcome = check_.run(ctx)
    assert outcome.findings == [], outcome.findings


def test_single_file_model(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel", {}, "signature: model.sig\n")
    (rel / "weights.safetensors").write_bytes(model_files()["model.safetensors"])
    text = (rel / "release.yaml").read_text().replace("path: model/", "path: weights.safetensors")
    (rel / "release.yaml").write_text(text)
    (rel / "model").rmdir()
    sign_key(rel / "weights.safetensors", rel / "model.sig", keys["priv"])
    pol = write_policy(tmp_path / "p.yaml", {MS: {"trusted_keys": [str(keys["pub"])]}})
    code, report = check(rel, pol, MS)
    assert code == 0, report["findings"]
    assert result(report, MS)["details"]["files"] == 1
    (rel / "weights.safetensors").write_bytes(model_files(seed=3)["model.safetensors"])
    code, report = check(rel, pol, MS)
    assert code == 1
    assert blocked_by(report, "model-file-modified")[0]["location"]["path"] == "weights.safetensors"


def test_keyless_online_uses_the_public_sigstore_root_or_fails_closed(tmp_path: Path) -> None:
    """Without a trust root in the policy and without --offline, the recorded (public-good
    Sigstore) signature is verified against Sigstore's own trust root, fetched with TUF. Where
    Sigstore cannot be reached, the check errors (exit 3): it never passes unverified."""
    rel = copy_keyless_release(tmp_path / "rel")
    policy = write_policy(tmp_path / "online.yaml", {MS: {"sigstore_identities": [MT_IDENTITY]}})
    code, report = check(rel, policy, MS, offline=False)
    res = result(report, MS)
    if reachable("https://tuf-repo-cdn.sigstore.dev/timestamp.json"):
        assert code == 0, report["findings"]
        assert res["details"]["method"] == "sigstore"
    else:
        assert code == 3 and res["status"] == "error", res
        assert "cannot fetch the Sigstore trust root" in json.dumps(res)
