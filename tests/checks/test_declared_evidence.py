"""Declared evidence is always verified: a signature or provenance named in release.yaml is checked at
every tier, files that do not match it block whoever signed, and trust only decides whether a
match counts as a trusted signature (which the tier may require).

Releases here are at tier low (internal, no personal data, advisory) under the default policy,
where neither check is required: before, neither ran at all.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gate.release import load_release
from gate.signing.dsse import sign_envelope
from gate.signing.keys import load_private_key
from gate.signing.model_format import default_root_digest
from gate.signing.model_format import model_files as model_entries
from tests.support import run_json
from tests.support.supply_chain_helpers import ec_key, make_release, sign_key, write_key

MS, PV = "model-signature", "provenance"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = write_key(ec_key(), d / "release.pem")
    other, other_pub = write_key(ec_key(), d / "other.pem")
    return {"priv": priv, "pub": pub, "other": other, "other_pub": other_pub}


def team_policy(path: Path, trusted: Path | None) -> Path:
    """`extends: [default]` plus trusted keys only: the tier lists are default's."""
    checks = f"    {MS}:\n      trusted_keys: [{trusted}]\n    {PV}:\n      trusted_keys: [{trusted}]\n"
    body = "version: 1\nname: team\nextends: [default]\n"
    if trusted is not None:
        body += "defaults:\n  checks:\n" + checks
    path.write_text(body, "utf-8")
    return path


def gate(release: Path, policy: Path | str = "default", *extra: str) -> tuple[int, dict[str, Any]]:
    return run_json("check", str(release), "--policy", str(policy), "--offline", *extra)


def signed_release(root: Path, key: Path) -> Path:
    rel = make_release(root, extra="signature: model.sig\n")
    sign_key(rel / "model", rel / "model.sig", key)
    return rel


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def result(report: dict[str, Any], cid: str) -> dict[str, Any] | None:
    return next((c for c in report["checks"] if c["id"] == cid), None)


def blocking(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"]["name"] == rule and f["blocking"]]


# --- model-signature ---------------------------------------------------------------------------


@pytest.mark.parametrize("trust", ["trusted", "untrusted", "no-trust-configured"])
def test_flipped_byte_blocks_at_tier_low_whoever_signed(
    tmp_path: Path, keys: dict[str, Path], trust: str
) -> None:
    rel = signed_release(tmp_path / "rel", keys["priv"])
    pol: Path | str = {
        "trusted": team_policy(tmp_path / "p.yaml", keys["pub"]),
        "untrusted": team_policy(tmp_path / "p.yaml", keys["other_pub"]),
        "no-trust-configured": "default",
    }[trust]
    code, report = gate(rel, pol)
    assert report["tier"]["level"] == "low"
    assert code == 0, report["findings"]  # control: the untouched release passes
    flip(rel / "model" / "model.safetensors")
    code, report = gate(rel, pol)
    assert code == 1
    (f,) = blocking(report, "model-file-modified")
    assert f["location"]["path"] == "model/model.safetensors"
    assert result(report, MS)["status"] == "failed"  # type: ignore[index]


def test_untrusted_signer_is_a_note_below_the_required_tier(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = signed_release(tmp_path / "rel", keys["priv"])
    code, report = gate(rel, team_policy(tmp_path / "p.yaml", keys["other_pub"]))
    assert code == 0
    (f,) = [f for f in report["findings"] if f["rule"]["name"] == "signer-not-trusted"]
    assert not f["blocking"] and f["severity"] == "info"
    assert result(report, MS)["details"]["trusted"] is False  # type: ignore[index]


def test_trusted_signature_counts_as_trusted(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = signed_release(tmp_path / "rel", keys["priv"])
    code, report = gate(rel, team_policy(tmp_path / "p.yaml", keys["pub"]))
    assert code == 0
    res = result(report, MS)
    assert res is not None and res["status"] == "passed" and res["details"]["trusted"] is True


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ("add", "model-file-unsigned"),
        ("remove", "signed-file-missing"),
        ("rename", "model-file-renamed"),
    ],
)
def test_files_that_do_not_match_block_and_cannot_be_waived(
    tmp_path: Path, keys: dict[str, Path], change: str, rule: str
) -> None:
    rel = signed_release(tmp_path / "rel", keys["priv"])
    model = rel / "model"
    if change == "add":
        (model / "extra.bin").write_bytes(b"\x00" * 16)
    elif change == "remove":
        (model / "config.json").unlink()
    else:
        (model / "tokenizer.json").rename(model / "tokenizer2.json")
    code, report = gate(rel, team_policy(tmp_path / "p.yaml", keys["other_pub"]))
    assert code == 1
    (f, *_) = blocking(report, rule)
    assert f["severity"] == "critical"
    from gate.checks import find_rule

    found = find_rule(rule)
    assert found is not None and not found.waivable


def test_malformed_declared_signature_blocks_at_tier_low(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    (rel / "model.sig").write_text('{"sig": 1}')
    code, report = gate(rel)
    assert code == 1 and blocking(report, "signature-malformed")


def test_nothing_declared_skips_at_tier_low(tmp_path: Path) -> None:
    rel = make_release(tmp_path / "rel")
    code, report = gate(rel)
    assert code == 0
    for cid in (MS, PV):
        res = result(report, cid)
        assert res is not None and res["status"] == "skipped", res


def test_skipping_the_check_of_declared_evidence_blocks(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = signed_release(tmp_path / "rel", keys["priv"])
    flip(rel / "model" / "model.safetensors")
    code, report = gate(rel, team_policy(tmp_path / "p.yaml", keys["pub"]), "--skip", MS)
    assert code == 1
    (skipped,) = blocking(report, "required-check-skipped")
    # its location is what made the check required: the release's declared evidence
    assert skipped["location"]["detail"] == f"release.yaml declares evidence for {MS}"


def test_a_policy_that_lists_neither_check_still_verifies_declared_evidence(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    rel = signed_release(tmp_path / "rel", keys["priv"])
    pol = tmp_path / "bare.yaml"
    pol.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: bare
            defaults:
              required: [release-integrity, risk-tier, model-files]
              checks:
                {MS}: {{trusted_keys: [{keys["pub"]}]}}
            """
        )
    )
    code, report = gate(rel, pol)
    assert code == 0 and result(report, MS)["status"] == "passed"  # type: ignore[index]
    flip(rel / "model" / "model.safetensors")
    code, report = gate(rel, pol)
    assert code == 1 and blocking(report, "model-file-modified")


# --- provenance ---------------------------------------------------------------------------------


def provenance_release(root: Path, key: Path, digest: str | None = None) -> Path:
    rel = make_release(root, extra="provenance: prov.json\n")
    release = load_release(rel)
    root_digest = digest or default_root_digest(model_entries(release.inventory, "model").files)
    st = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "model", "digest": {"sha256": root_digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        },
    }
    (rel / "prov.json").write_bytes(sign_envelope(json.dumps(st).encode(), load_private_key(key)))
    return rel


def test_provenance_of_another_model_blocks_at_tier_low_whoever_signed(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    good = provenance_release(tmp_path / "good", keys["priv"])
    code, report = gate(good)
    assert code == 0, report["findings"]  # control: untrusted signer, subject is this model
    assert not blocking(report, "provenance-subject-mismatch")
    bad = provenance_release(tmp_path / "bad", keys["priv"], digest="ab" * 32)
    code, report = gate(bad)
    assert code == 1 and blocking(report, "provenance-subject-mismatch")


def test_provenance_flipped_byte_after_signing_blocks(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = provenance_release(tmp_path / "rel", keys["priv"])
    flip(rel / "model" / "model.safetensors")
    code, report = gate(rel)
    assert code == 1 and blocking(report, "provenance-subject-mismatch")
