"""The CycloneDX 1.6 ML-BOM: contents, schema validity (offline), and reuse of the run's data."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gate.inventory import build_inventory
from gate.release import load_release
from gate.sbom import AuditInput, build_bom, validate_bom
from tests.support import BAD, DEMO, run_cli

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint


def props(obj: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in obj.get("properties", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


def components(bom: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in bom.get("components", [])}


def sha256(c: dict[str, Any]) -> str | None:
    return next((h["content"] for h in c.get("hashes", []) if h["alg"] == "SHA-256"), None)


def test_check_sbom_writes_a_valid_ml_bom_for_the_demo(tmp_path: Path, demo_policy: Path) -> None:
    out = tmp_path / "bom.cdx.json"
    result = run_cli("check", str(DEMO), "--policy", str(demo_policy), "--sbom", str(out), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The BOM, and (the demo declares datasets) the training data's row lists in the rows directory.
    assert report["artifacts"]["sbom"] == str(out)
    assert set(report["artifacts"]) <= {"sbom", "training-data-rows", "training-data-remove-rows"}
    text = out.read_text()
    validate_bom(text)  # the CycloneDX 1.6 JSON schema bundled with cyclonedx-python-lib
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"

    model = bom["metadata"]["component"]
    assert (model["type"], model["name"], model["version"]) == (
        "machine-learning-model",
        "demo-tiny-gpt2",
        "1.0.0",
    )
    inventory = {e.path: e.sha256 for e in build_inventory(DEMO).entries}
    files = {c["name"]: sha256(c) for c in model["components"]}
    assert files == {p: h for p, h in inventory.items() if p.startswith("model/")}
    others = {c["name"]: sha256(c) for c in bom["components"] if c["type"] == "file"}
    datasets = {"data/finetune.jsonl"}  # declared in release.yaml: a `data` component, not a file
    assert others == {p: h for p, h in inventory.items() if not p.startswith("model/") and p not in datasets}
    (data,) = [c for c in bom["components"] if c["type"] == "data"]
    assert data["name"] == "demo-finetune" and sha256(data) == inventory["data/finetune.jsonl"]

    card = model["modelCard"]
    assert card["modelParameters"] == {
        "task": "text-generation",
        "architectureFamily": "gpt2",
        "datasets": [{"ref": data["bom-ref"]}],
    }
    assert card["considerations"] == {
        "users": ["ML engineers"],
        "useCases": ["demonstrating the release gate"],
        "technicalLimitations": ["Random weights: the output is not meaningful text."],
    }
    assert props(card)["model-gate:out-of-scope"] == ["any production use", "any user-facing use"]

    comps = components(bom)
    base = comps["base-model"]
    assert base["type"] == "machine-learning-model"
    assert (
        base["purl"]
        == "pkg:huggingface/model-gate-demo/tiny-gpt2-base@3f1c2a9d0b7e4c6a8f5d1e2b3c4a5f6e7d8c9b0a"
    )
    assert sha256(base) == "2a8d7c3bb7d8a0e8e3b3c1a4a4a7ef16c36bb2d1f2cd7d6a63d6e7b48f9c1a01"
    assert base["externalReferences"] == [
        {"type": "distribution", "url": "hf://model-gate-demo/tiny-gpt2-base"}
    ]
    libs = {c["purl"] for c in bom["components"] if c["type"] == "library"}
    assert libs == {"pkg:pypi/safetensors@0.8.0", "pkg:pypi/tokenizers@0.23.3"}
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    libraries = {"pkg:pypi/safetensors@0.8.0", "pkg:pypi/tokenizers@0.23.3"}
    assert deps["model"] == {"base-model", data["bom-ref"], *libraries}
    assert "vulnerabilities" not in bom or bom["vulnerabilities"] == []

    meta = props(bom["metadata"])
    assert meta["model-gate:verdict"] == ["pass"]
    assert meta["model-gate:tier"] == ["low"]
    assert meta["model-gate:dependency-audit"] == ["completed"]
    assert meta["model-gate:release-digest"] == [report["release"]["digest"]]
    assert meta["model-gate:policy"] == ["demo-test"]


def test_sbom_command_records_the_audits_vulnerabilities(tmp_path: Path, demo_policy: Path) -> None:
    out = tmp_path / "bad.cdx.json"
    result = run_cli("sbom", str(BAD), "--policy", str(demo_policy), "-o", str(out), "--validate")
    assert result.exit_code == 0, result.output
    bom = json.loads(out.read_text())
    vulns = {v["id"]: v for v in bom["vulnerabilities"]}
    assert set(vulns) == {"PYSEC-2018-28", "PYSEC-2023-74"}
    v = vulns["PYSEC-2018-28"]
    assert v["ratings"] == [
        {
            "justification": "CVSS_V3 of GHSA-x84v-xcm2-53pg",
            "method": "CVSSv31",
            "score": 7.5,
            "severity": "high",
            "vector": "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        }
    ]
    assert {r["id"] for r in v["references"]} == {"CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}
    assert v["affects"] == [
        {
            "ref": "pkg:pypi/requests@2.19.0",
            "versions": [
                {"status": "affected", "version": "2.19.0"},
                {"status": "unaffected", "version": "2.20.0"},
            ],
        }
    ]
    assert v["recommendation"] == "Upgrade requests to 2.20.0 or later."
    # The finding id a waiver would name, and the tier-high decision (blocks).
    assert props(v)["model-gate:blocking"] == ["true"]
    assert props(v)["model-gate:finding"][0].startswith("GATE-DP001-")
    comps = components(bom)
    assert comps["pkg:pypi/requests@2.19.0"]["type"] == "library"
    numpy = comps["pkg:pypi/numpy"]
    assert props(numpy)["model-gate:not-audited"] == ["not pinned: '>=1.24' allows more than one version"]
    # The escaping symlink is listed, without a digest, with its target.
    nested = {c["bom-ref"]: c for c in bom["metadata"]["component"]["components"]}
    link = nested["file:model/vocab.txt"]
    assert "hashes" not in link and props(link)["model-gate:symlink-target"] == ["/etc/passwd"]
    # Produced by `sbom`, not `check`: no verdict claimed.
    assert "model-gate:verdict" not in props(bom["metadata"])


def test_the_bom_uses_the_inventory_digests_and_never_reads_files_again(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "model").mkdir(parents=True)
    (root / "model" / "w.safetensors").write_bytes(b"original")
    (root / "release.yaml").write_text(
        textwrap.dedent("""\
        schema_version: 1
        name: r
        version: '1'
        model: {path: model/w.safetensors, format: safetensors}
        deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}
        """)
    )
    release = load_release(root)
    recorded = release.inventory.by_path()["model/w.safetensors"].sha256
    (root / "model" / "w.safetensors").write_bytes(b"changed after hashing")
    bom = json.loads(build_bom(release, AuditInput("not run", None, None, {})))
    model = bom["metadata"]["component"]
    # A single-file model: the component itself carries the file's digest too.
    assert sha256(model) == recorded
    assert [sha256(c) for c in model["components"]] == [recorded]


DATASETS = """\
schema_version: 1
name: classifier
version: 2.0.0
model:
  path: model/
  format: safetensors
  task: text-classification
  architecture: bert
datasets:
  - name: tickets
    path: data/train.jsonl
    role: fine-tuning
    format: jsonl
  - name: eval set (ünïcode, spaces)
    source: s3://bucket/eval set/2026 ü.parquet
    digest: sha256:{digest}
    role: evaluation
  - name: shards
    path: data/shards/
intended_use:
  description: Routes support tickets.
  users: [support staff]
  use_cases: [ticket routing]
limitations: ["English only."]
deployment:
  exposure: internal
  data_sensitivity: internal
  autonomy: human-in-the-loop
"""


def test_datasets_become_data_components_linked_from_the_model_card(tmp_path: Path) -> None:
    root = tmp_path / "r"
    for rel, data in {
        "model/w.safetensors": b"w",
        "data/train.jsonl": b'{"text": "a"}\n',
        "data/shards/0.jsonl": b"{}\n",
        "data/shards/1.jsonl": b"[]\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "release.yaml").write_text(DATASETS.format(digest="b" * 64))
    release = load_release(root)
    text = build_bom(release, AuditInput("not run", None, None, {}))
    validate_bom(text)
    bom = json.loads(text)
    comps = components(bom)
    inv = release.inventory.by_path()
    train, evalset, shards = comps["dataset:0"], comps["dataset:1"], comps["dataset:2"]
    assert train["type"] == evalset["type"] == "data"
    assert sha256(train) == inv["data/train.jsonl"].sha256
    assert train["data"] == [{"type": "dataset", "name": "tickets", "description": "fine-tuning dataset"}]
    assert sha256(evalset) == "b" * 64
    assert evalset["data"][0]["contents"] == {
        "url": "s3://bucket/eval%20set/2026%20ü.parquet"
    }  # an IRI: spaces escaped
    assert {sha256(c) for c in shards["components"]} == {
        inv["data/shards/0.jsonl"].sha256,
        inv["data/shards/1.jsonl"].sha256,
    }
    # Dataset files are listed under their dataset, not again as loose files.
    assert not any(c["type"] == "file" and c["name"].startswith("data/") for c in bom["components"])
    card = bom["metadata"]["component"]["modelCard"]
    assert card["modelParameters"]["datasets"] == [
        {"ref": "dataset:0"},
        {"ref": "dataset:1"},
        {"ref": "dataset:2"},
    ]
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    assert deps["model"] == {"dataset:0", "dataset:1", "dataset:2"}
    assert "base-model" not in comps


def test_sbom_without_audit_works_offline_and_says_so() -> None:
    result = run_cli("sbom", str(DEMO), "--no-audit", "--offline")
    assert result.exit_code == 0, result.output
    bom = json.loads(result.stdout)
    assert props(bom["metadata"])["model-gate:dependency-audit"] == ["not run"]
    libs = {c["purl"] for c in bom["components"] if c["type"] == "library"}
    assert libs == {"pkg:pypi/safetensors@0.8.0", "pkg:pypi/tokenizers@0.23.3"}


def test_sbom_with_an_audit_and_no_source_offline_fails_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_GATE_OSV_URL")
    out = tmp_path / "bom.json"
    result = run_cli("sbom", str(DEMO), "--offline", "-o", str(out))
    assert result.exit_code == 3
    assert "--offline and no vulnerability source" in result.stderr
    assert not out.exists()


def test_check_sbom_records_a_failed_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_GATE_OSV_URL")
    out = tmp_path / "bom.json"
    result = run_cli("check", str(DEMO), "--offline", "--sbom", str(out))
    # The audit is optional at the demo's tier: its error is a warning, and the BOM says so.
    assert result.exit_code == 0
    meta = props(json.loads(out.read_text())["metadata"])
    assert meta["model-gate:verdict"] == ["warn"]
    assert meta["model-gate:dependency-audit"][0].startswith("error: --offline and no vulnerability source")


def test_unwritable_sbom_path_is_a_clear_error(tmp_path: Path, demo_policy: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = run_cli("sbom", str(DEMO), "--no-audit", "-o", str(tmp_path / "file" / "bom.json"))
    assert result.exit_code == 2
    assert "cannot write the BOM" in result.stderr


@pytest.mark.parametrize("source", ["hf://org/model", "https://example.org/m v1", "s3://b/ü/x", "local-name"])
def test_base_model_sources_of_any_shape_validate(tmp_path: Path, source: str) -> None:
    root = tmp_path / "r"
    (root / "model").mkdir(parents=True)
    (root / "model" / "w.bin").write_bytes(b"x")
    (root / "release.yaml").write_text(
        textwrap.dedent(f"""\
        schema_version: 1
        name: r
        version: '1'
        model: {{path: model/, format: other}}
        base_model: {{source: "{source}"}}
        deployment: {{exposure: internal, data_sensitivity: none, autonomy: advisory}}
        """)
    )
    text = build_bom(load_release(root), AuditInput("not run", None, None, {}))
    validate_bom(text)
    base = components(json.loads(text))["base-model"]
    assert ("purl" in base) == source.startswith("hf://")


def test_overlapping_dataset_and_model_paths_keep_bom_refs_unique(tmp_path: Path) -> None:
    root = tmp_path / "r"
    for rel in ("model/w.bin", "data/a.jsonl", "data/b.jsonl"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    (root / "release.yaml").write_text(
        textwrap.dedent("""\
        schema_version: 1
        name: r
        version: '1'
        model: {path: model/, format: other}
        datasets:
          - {name: inside-model, path: model/}
          - {name: all-data, path: data/}
          - {name: all-data-again, path: data/}
        deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}
        """)
    )
    text = build_bom(load_release(root), AuditInput("not run", None, None, {}))
    validate_bom(text)
    bom = json.loads(text)

    def refs(comps: list[dict[str, Any]]) -> list[str]:
        return [r for c in comps for r in [c["bom-ref"], *refs(c.get("components", []))]]

    every = refs([bom["metadata"]["component"], *bom["components"]])
    assert len(every) == len(set(every))
    assert every.count("file:data/a.jsonl") == 1
