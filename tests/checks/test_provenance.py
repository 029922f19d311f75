"""`provenance`: SLSA v1 provenance in DSSE envelopes (keys made here) and a recorded keyless bundle."""

from __future__ import annotations

import base64
import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gate.checks.provenance import ProvenanceConfig
from gate.errors import CheckError
from gate.release import load_release
from gate.signing.dsse import sign_envelope
from gate.signing.keys import load_private_key
from gate.signing.model_format import default_root_digest
from gate.signing.model_format import model_files as model_entries
from gate.signing.slsa import provenance_dataset_digests, split_git_uri
from tests.support.supply_chain_helpers import (
    BEACON,
    CONFORMANCE,
    GITHUB_ISSUER,
    TRUSTED_ROOT,
    check,
    ec_key,
    findings,
    make_release,
    result,
    sign_key,
    write_key,
    write_policy,
)

PV = "provenance"
MS = "model-signature"
BUILDER = "https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main"
REPO = "https://github.com/acme/models"
BASE = "hf://acme-foundation/base-1b"
BASE_SHA = "a" * 64
DATA_SHA = "d" * 64

MANIFEST_INPUTS = f"""\
base_model:
  source: {BASE}
  digest: sha256:{BASE_SHA}
datasets:
  - name: tickets-v3
    source: s3://acme-data/tickets-v3.jsonl
    digest: sha256:{DATA_SHA}
provenance: provenance.intoto.json
"""


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pkeys")
    priv, pub = write_key(ec_key(), d / "builder.pem")
    other, other_pub = write_key(ec_key(), d / "other.pem")
    return {"priv": priv, "pub": pub, "other": other, "other_pub": other_pub}


def statement(subject: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    st: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {
                    "workflow": {
                        "ref": "refs/heads/main",
                        "repository": REPO,
                        "path": ".github/workflows/train.yml",
                    }
                },
                "resolvedDependencies": [
                    {"uri": f"git+{REPO}@refs/heads/main", "digest": {"gitCommit": "1" * 40}},
                    {"uri": BASE, "digest": {"sha256": BASE_SHA}, "annotations": {"role": "base-model"}},
                    {
                        "name": "tickets-v3",
                        "uri": "s3://acme-data/tickets-v3.jsonl",
                        "digest": {"sha256": DATA_SHA},
                        "annotations": {"role": "dataset"},
                    },
                ],
            },
            "runDetails": {"builder": {"id": BUILDER}, "metadata": {"invocationId": "run-1"}},
        },
    }
    for path, value in over.items():
        target = st["predicate"]
        keys_ = path.split("__")
        for k in keys_[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys_[-1]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return st


_DELETE = object()


def policy_cfg(keys: dict[str, Path], **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "trusted_keys": [str(keys["pub"])],
        "allowed_builders": [{"id": "https://github.com/acme/models/.github/workflows/*", "level": 3}],
        "allowed_sources": [{"repository": REPO, "refs": ["refs/heads/main", "refs/tags/v*"]}],
        "allowed_base_model_sources": ["hf://acme-foundation/*"],
        "min_build_level": 2,
    }
    cfg.update(over)
    return cfg


def root_of(rel: Path) -> str:
    release = load_release(rel)
    return default_root_digest(model_entries(release.inventory, "model").files)


def build(
    tmp_path: Path, keys: dict[str, Path], st: dict[str, Any] | None = None, *, key: str = "priv"
) -> Path:
    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS)
    st = st or statement([{"name": "model", "digest": {"sha256": root_of(rel)}}])
    env = sign_envelope(json.dumps(st).encode(), load_private_key(keys[key]))
    (rel / "provenance.intoto.json").write_bytes(env)
    return rel


def blocked(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in findings(report, PV) if f["rule"]["name"] == rule and f["blocking"]]


def run(tmp_path: Path, rel: Path, cfg: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return check(rel, write_policy(tmp_path / "p.yaml", {PV: cfg}), PV)


# --- control --------------------------------------------------------------------


def test_trusted_provenance_bound_to_the_model_passes(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = build(tmp_path, keys)
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 0, report["findings"]
    d = result(report, PV)["details"]
    assert d["subject_binding"] == "root digest"
    assert d["build_level"] == 3
    assert d["source_repository"] == REPO and d["source_ref"] == "refs/heads/main"
    assert d["datasets"] == {"tickets-v3": f"sha256:{DATA_SHA}"}


def test_subject_listing_every_model_file_binds(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS)
    release = load_release(rel)
    subject = [
        {"name": e.path, "digest": {"sha256": e.sha256}}
        for e in release.inventory.files()
        if e.path.startswith("model/")
    ]
    env = sign_envelope(json.dumps(statement(subject)).encode(), load_private_key(keys["priv"]))
    (rel / "provenance.intoto.json").write_bytes(env)
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 0, report["findings"]
    assert result(report, PV)["details"]["subject_binding"] == "every model file"
    # One file fewer in the subject no longer binds.
    env = sign_envelope(json.dumps(statement(subject[:-1])).encode(), load_private_key(keys["priv"]))
    (rel / "provenance.intoto.json").write_bytes(env)
    assert blocked(run(tmp_path, rel, policy_cfg(keys))[1], "provenance-subject-mismatch")


def test_subject_is_the_model_signing_signature_root(tmp_path: Path, keys: dict[str, Path]) -> None:
    import model_signing

    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS + "signature: model.sig\n")
    sign_key(
        rel / "model",
        rel / "model.sig",
        keys["priv"],
        model_signing.hashing.Config().use_shard_serialization(shard_size=128),
    )
    signed = json.loads(
        base64.b64decode(json.loads((rel / "model.sig").read_text())["dsseEnvelope"]["payload"])
    )
    root = signed["subject"][0]["digest"]["sha256"]
    env = sign_envelope(
        json.dumps(statement([{"name": "model", "digest": {"sha256": root}}])).encode(),
        load_private_key(keys["priv"]),
    )
    (rel / "provenance.intoto.json").write_bytes(env)
    pol = write_policy(
        tmp_path / "both.yaml", {PV: policy_cfg(keys), MS: {"trusted_keys": [str(keys["pub"])]}}
    )
    code, report = check(rel, pol, PV, MS)
    assert code == 0, report["findings"]
    assert result(report, MS)["details"]["root_digest"] == f"sha256:{root}"


# --- tampering matrix -----------------------------------------------------------


def test_subject_of_another_model(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = build(tmp_path, keys, statement([{"name": "model", "digest": {"sha256": "e" * 64}}]))
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 1
    (f,) = blocked(report, "provenance-subject-mismatch")
    assert f["evidence"]["expected"]["root_digest"] == [f"sha256:{root_of(rel)}"]
    assert f["evidence"]["found"] == [{"name": "model", "digest": {"sha256": "e" * 64}}]


def test_provenance_for_the_model_before_a_weight_changed(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = build(tmp_path, keys)
    w = rel / "model" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-1] + b"\x01")
    assert blocked(run(tmp_path, rel, policy_cfg(keys))[1], "provenance-subject-mismatch")


def test_unpinned_base_model(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS)
    st = statement(
        [{"name": "model", "digest": {"sha256": root_of(rel)}}],
        buildDefinition__resolvedDependencies__1__digest={"gitCommit": "2" * 40},
    )
    rel = build(tmp_path, keys, st)
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 1
    (f,) = blocked(report, "base-model-unpinned")
    assert f["evidence"] == {"expected": ["sha256", "sha384", "sha512"], "found": {"gitCommit": "2" * 40}}
    # release.yaml pins a sha256 the provenance does not record: that disagreement is shown too.
    (d,) = blocked(report, "provenance-disagrees-with-release")
    assert d["evidence"]["field"] == "base_model.digest" and d["evidence"]["found"] is None


def test_builder_not_on_the_list(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS)
    st = statement(
        [{"name": "model", "digest": {"sha256": root_of(rel)}}],
        runDetails__builder__id="https://ci.example.com/laptop",
    )
    code, report = run(tmp_path, build(tmp_path, keys, st), policy_cfg(keys))
    assert code == 1
    (f,) = blocked(report, "builder-not-allowed")
    assert f["evidence"]["found"] == "https://ci.example.com/laptop"
    assert f["evidence"]["expected"] == ["https://github.com/acme/models/.github/workflows/*"]


def test_source_ref_not_allowed(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS)
    st = statement(
        [{"name": "model", "digest": {"sha256": root_of(rel)}}],
        buildDefinition__externalParameters__workflow__ref="refs/heads/experiment",
    )
    code, report = run(tmp_path, build(tmp_path, keys, st), policy_cfg(keys))
    assert code == 1
    (f,) = blocked(report, "source-ref-not-allowed")
    assert f["evidence"] == {
        "expected": ["refs/heads/main", "refs/tags/v*"],
        "found": "refs/heads/experiment",
        "repository": REPO,
    }


def test_source_repository_not_allowed(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS)
    st = statement(
        [{"name": "model", "digest": {"sha256": root_of(rel)}}],
        buildDefinition__externalParameters__workflow__repository="https://github.com/someone/fork",
    )
    code, report = run(tmp_path, build(tmp_path, keys, st), policy_cfg(keys))
    assert code == 1
    assert (
        blocked(report, "source-repository-not-allowed")[0]["evidence"]["found"]
        == "https://github.com/someone/fork"
    )


def test_build_level_below_the_tier_minimum(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = build(tmp_path, keys)
    cfg = policy_cfg(keys, allowed_builders=[{"id": BUILDER, "level": 1}])
    code, report = run(tmp_path, rel, cfg)
    assert code == 1
    (f,) = blocked(report, "build-level-too-low")
    assert f["evidence"]["expected"] == ">= 2" and f["evidence"]["found"] == 1


def test_base_model_from_a_source_not_allowed_and_unpinned_dataset(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    rel = build(tmp_path, keys)
    code, report = run(tmp_path, rel, policy_cfg(keys, allowed_base_model_sources=["hf://other-org/*"]))
    assert code == 1
    assert blocked(report, "base-model-source-not-allowed")[0]["evidence"]["found"] == BASE
    rel2 = make_release(tmp_path / "rel2", extra=MANIFEST_INPUTS)
    st = statement(
        [{"name": "model", "digest": {"sha256": root_of(rel2)}}],
        buildDefinition__resolvedDependencies__2__digest={},
    )
    shutil.rmtree(tmp_path / "rel")
    code, report = run(tmp_path, build(tmp_path, keys, st), policy_cfg(keys))
    assert code == 1
    assert blocked(report, "dataset-unpinned")[0]["evidence"]["found"] == {}


def test_release_yaml_disagrees_with_provenance(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = build(tmp_path, keys)
    text = (
        (rel / "release.yaml").read_text().replace(f"digest: sha256:{DATA_SHA}", "digest: sha256:" + "0" * 64)
    )
    text = text.replace("name: tickets-v3", "name: tickets-v3\n    role: fine-tuning").replace(
        "provenance: provenance.intoto.json",
        "  - name: extra-set\n    source: s3://acme-data/extra.jsonl\nprovenance: provenance.intoto.json",
    )
    (rel / "release.yaml").write_text(text)
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 1
    got = {
        f["evidence"]["field"]: (f["evidence"]["expected"], f["evidence"]["found"])
        for f in blocked(report, "provenance-disagrees-with-release")
    }
    assert got == {
        "datasets[0].digest": ("sha256:" + "0" * 64, f"sha256:{DATA_SHA}"),
        "datasets[1]": ("extra-set", None),
    }
    assert all(
        f["location"]["path"] == "release.yaml" and f["location"]["line"]
        for f in blocked(report, "provenance-disagrees-with-release")
    )


def test_untrusted_key_and_edited_payload(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = build(tmp_path, keys, key="other")
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 1 and blocked(report, "provenance-signer-not-trusted")
    shutil.rmtree(rel)
    rel = build(tmp_path, keys)
    env = json.loads((rel / "provenance.intoto.json").read_text())
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["runDetails"]["builder"]["id"] = BUILDER + "-evil"
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    (rel / "provenance.intoto.json").write_text(json.dumps(env))
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 1
    assert blocked(report, "provenance-signature-invalid")
    assert not blocked(report, "builder-not-allowed")  # nothing unverified was interpreted


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[1]", b'{"payload": 1, "payloadType": "x", "signatures": []}', b"{}\n{}\n", b"[" * 50_000],
    ids=["empty", "truncated", "array", "wrong-types", "two-documents", "deep"],
)
def test_malformed_provenance_is_a_finding(tmp_path: Path, keys: dict[str, Path], raw: bytes) -> None:
    rel = build(tmp_path, keys)
    (rel / "provenance.intoto.json").write_bytes(raw)
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 1
    assert blocked(report, "provenance-malformed")


def test_wrong_predicate_type(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel", extra=MANIFEST_INPUTS)
    st = statement([{"name": "model", "digest": {"sha256": root_of(rel)}}])
    st["predicateType"] = "https://slsa.dev/provenance/v0.2"
    code, report = run(tmp_path, build(tmp_path, keys, st), policy_cfg(keys))
    assert code == 1
    assert "v0.2" in blocked(report, "provenance-malformed")[0]["title"]


def test_missing_provenance(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = make_release(tmp_path / "rel")
    code, report = run(tmp_path, rel, policy_cfg(keys))
    assert code == 1 and blocked(report, "provenance-missing")


# --- keyless, recorded GitHub Actions bundle -----------------------------------


def keyless_release(tmp_path: Path) -> Path:
    rel = make_release(tmp_path / "rel", {}, "provenance: provenance.sigstore.json\n")
    shutil.copyfile(CONFORMANCE / "a.txt", rel / "model" / "a.txt")
    shutil.copyfile(CONFORMANCE / "bundle.sigstore.json", rel / "provenance.sigstore.json")
    return rel


GH_IDENTITY = {
    "identity": BEACON,
    "issuer": GITHUB_ISSUER,
    "repository": "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
    "ref": "refs/heads/main",
    "workflow": ".github/workflows/extremely-dangerous-oidc-beacon.yml",
}


def keyless_cfg(identity: dict[str, str]) -> dict[str, Any]:
    return {
        "sigstore_identities": [identity],
        "trust_root": str(TRUSTED_ROOT),
        "allowed_builders": [
            {"id": "https://github.com/loosebazooka/aa-test/.github/workflows/*", "level": 2}
        ],
        "allowed_sources": [
            {"repository": "https://github.com/loosebazooka/aa-test", "refs": ["refs/heads/main"]}
        ],
    }


def test_keyless_github_provenance_verifies_offline_with_pinned_workflow(tmp_path: Path) -> None:
    code, report = run(tmp_path, keyless_release(tmp_path), keyless_cfg(GH_IDENTITY))
    assert code == 0, report["findings"]
    d = result(report, PV)["details"]
    assert d["method"] == "sigstore" and d["subject_binding"] == "every model file"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("repository", "sigstore-conformance/other-repo"),
        ("ref", "refs/heads/dev"),
        ("workflow", ".github/workflows/release.yml"),
        ("identity", "https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main"),
        ("issuer", "https://accounts.google.com"),
    ],
)
def test_keyless_github_pins_each_field(tmp_path: Path, field: str, value: str) -> None:
    code, report = run(tmp_path, keyless_release(tmp_path), keyless_cfg({**GH_IDENTITY, field: value}))
    assert code == 1
    (f,) = blocked(report, "provenance-signer-not-trusted")
    (m,) = f["evidence"]["mismatches"]
    assert m["field"] == field and m["expected"] == value


# --- shared helpers ------------------------------------------------------------


def test_dataset_digests_for_other_checks(tmp_path: Path, keys: dict[str, Path]) -> None:
    rel = build(tmp_path, keys)
    release = load_release(rel)
    cfg = ProvenanceConfig.model_validate(policy_cfg(keys))
    assert provenance_dataset_digests(release, cfg, policy_dir=None) == {"tickets-v3": f"sha256:{DATA_SHA}"}
    untrusting = ProvenanceConfig.model_validate(policy_cfg(keys, trusted_keys=[str(keys["other_pub"])]))
    with pytest.raises(CheckError, match="not usable"):
        provenance_dataset_digests(release, untrusting, policy_dir=None)
    assert (
        provenance_dataset_digests(load_release(make_release(tmp_path / "plain")), cfg, policy_dir=None) == {}
    )


def test_split_git_uri() -> None:
    assert split_git_uri("git+https://github.com/o/r@refs/heads/main") == (
        "https://github.com/o/r",
        "refs/heads/main",
    )
    assert split_git_uri("git+https://github.com/o/r.git") == ("https://github.com/o/r", None)
    assert split_git_uri("git+ssh://git@host/o/r@v1") == ("ssh://git@host/o/r", "v1")


def test_copy_is_deep() -> None:
    # statement() overrides must not leak between tests.
    a = statement([], runDetails__builder__id="x")
    b = statement([])
    assert (
        a["predicate"]["runDetails"]["builder"]["id"] == "x" != b["predicate"]["runDetails"]["builder"]["id"]
    )
    assert copy.deepcopy(b) == b
