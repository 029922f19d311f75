"""`model-gate init` fills release.yaml from the folder; placeholders left in it block (GATE-RI009)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gate.checks.release_integrity import RULES
from gate.errors import ExitCode
from gate.init import detect, q, render
from gate.release import load_manifest
from tests.support import ROOT, run_cli, write_release

DEMO_RELEASE = ROOT / "examples" / "demo-release"  # not named DEMO: no model server is needed here
SAFETENSORS = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "


def demo_without_manifest(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(DEMO_RELEASE, root)
    (root / "release.yaml").unlink()
    return root


def test_init_on_the_demo_finds_what_its_hand_written_manifest_declares(tmp_path: Path) -> None:
    root = demo_without_manifest(tmp_path)
    assert run_cli("init", str(root)).exit_code == 0
    got = load_manifest(root).manifest
    want = yaml.safe_load((DEMO_RELEASE / "release.yaml").read_text("utf-8"))
    assert got.model.path == want["model"]["path"]
    assert got.model.format.value == want["model"]["format"]
    assert got.model.task == want["model"]["task"]  # from config.json's GPT2LMHeadModel
    assert got.model.architecture == want["model"]["architecture"]
    assert got.signature == want["signature"]
    assert got.provenance == want["provenance"]
    assert got.serving.requirements == want["serving"]["requirements"]
    assert list(got.serving.manifests) == want["serving"]["manifests"]
    assert got.monitoring.config == want["monitoring"]["config"]
    assert list(got.monitoring.prometheus_rules) == want["monitoring"]["prometheus_rules"]
    assert got.monitoring.alertmanager == want["monitoring"]["alertmanager"]
    assert got.monitoring.otel_collector == want["monitoring"]["otel_collector"]
    assert [(d.path, d.format) for d in got.datasets] == [("data/finetune.jsonl", "jsonl")]


def test_the_generated_manifest_blocks_on_each_todo_until_it_is_written(tmp_path: Path) -> None:
    root = demo_without_manifest(tmp_path)
    run_cli("init", str(root))
    result = run_cli("check", str(root), "--only", "release-integrity", "--format", "json")
    report = json.loads(result.stdout)
    todo = [f for f in report["findings"] if f["rule"]["name"] == "manifest-field-not-filled-in"]
    assert sorted(f["location"]["detail"] for f in todo) == ["description", "intended_use.description"]
    assert all(f["blocking"] for f in todo)
    assert result.exit_code == ExitCode.BLOCKED
    text = (root / "release.yaml").read_text("utf-8")
    text = text.replace("description: TODO one line on what the model does", "description: A tiny demo")
    text = text.replace("description: TODO who uses it, for what", "description: ML engineers, demos")
    (root / "release.yaml").write_text(text, "utf-8")
    again = json.loads(run_cli("check", str(root), "--only", "release-integrity", "--format", "json").stdout)
    assert not [f for f in again["findings"] if f["rule"]["name"] == "manifest-field-not-filled-in"]


TIERS = {
    "low": "  exposure: internal\n  data_sensitivity: none\n  autonomy: advisory\n",
    "critical": (
        "  exposure: public\n  data_sensitivity: special-category\n  autonomy: autonomous\n"
        "  safety_critical: true\n"
    ),
}


@pytest.mark.parametrize("tier", sorted(TIERS))
@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("description", "TODO", "description"),
        ("task", "TODO", "model.task"),
        ("description", "TBD", "description"),
        ("description", "'<what the model does>'", "description"),
        ("description", "'FIXME: write this'", "description"),
    ],
)
def test_a_placeholder_blocks_at_every_tier_naming_the_field(
    tmp_path: Path, tier: str, field: str, value: str, detail: str
) -> None:
    description = f"description: {value}\n" if field == "description" else "description: A classifier\n"
    task = value if field == "task" else "text-classification"
    manifest = (
        f"schema_version: 1\nname: tiny\nversion: 1.0.0\n{description}"
        f"model:\n  path: model/\n  format: safetensors\n  task: {task}\n  generative: false\n"
        f"deployment:\n{TIERS[tier]}"
    )
    root = write_release(tmp_path / "r", manifest, {"model/model.safetensors": SAFETENSORS})
    result = run_cli("check", str(root), "--only", "release-integrity", "--format", "json")
    report = json.loads(result.stdout)
    assert report["tier"]["level"] == tier
    [todo] = [f for f in report["findings"] if f["rule"]["name"] == "manifest-field-not-filled-in"]
    assert todo["blocking"] and todo["location"]["detail"] == detail
    assert todo["location"]["path"] == "release.yaml"
    assert todo["location"]["line"] == (4 if field == "description" else 8)
    assert result.exit_code == ExitCode.BLOCKED


def test_the_benign_twin_passes(tmp_path: Path) -> None:
    manifest = (
        "schema_version: 1\nname: tiny\nversion: 1.0.0\ndescription: Todo list assistant for teams\n"
        "model:\n  path: model/\n  format: safetensors\n  task: text-classification\n"
        f"deployment:\n{TIERS['low']}"
    )
    root = write_release(tmp_path / "r", manifest, {"model/model.safetensors": SAFETENSORS})
    result = run_cli("check", str(root), "--only", "release-integrity", "--format", "json")
    report = json.loads(result.stdout)
    assert not [f for f in report["findings"] if f["rule"]["name"] == "manifest-field-not-filled-in"]


def test_the_rule_cannot_be_relaxed_or_waived() -> None:
    [rule] = [r for r in RULES if r.name == "manifest-field-not-filled-in"]
    assert rule.always_blocks and not rule.waivable
    assert rule.code == "GATE-RI009"
    assert run_cli("explain", rule.code).exit_code == 0


def test_formats_come_from_the_bytes_not_the_names(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.safetensors").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    (tmp_path / "m" / "weights.bin").write_bytes(pickle.dumps({"b": 2}, protocol=4))
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "model.gguf").write_bytes(SAFETENSORS)  # really a safetensors header
    found = detect(tmp_path)
    assert found.weights["m/weights.safetensors"][0] == "pickle"
    assert found.weights["m/weights.bin"][0] == "pytorch"
    assert found.weights["n/model.gguf"][0] == "safetensors"


def test_signature_and_provenance_are_found_by_content_under_any_name(tmp_path: Path) -> None:
    (tmp_path / "signing").mkdir()
    shutil.copy(DEMO_RELEASE / "model.sig", tmp_path / "signing" / "bundle.json")
    shutil.copy(DEMO_RELEASE / "provenance.intoto.json", tmp_path / "signing" / "build.json")
    (tmp_path / "model.safetensors").write_bytes(SAFETENSORS)
    (tmp_path / "uv.lock").write_text("version = 1\n", "utf-8")
    (tmp_path / "requirements-dev.txt").write_text("pytest==8.0.0\n", "utf-8")
    (tmp_path / "requirements.txt").write_text("numpy==1.26.4\n", "utf-8")
    found = detect(tmp_path)
    assert found.signature == "signing/bundle.json"
    assert found.provenance == "signing/build.json"
    assert found.lockfile == "uv.lock"
    assert found.requirements == "requirements.txt"


def test_unrelated_json_and_yaml_are_not_taken_for_anything(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(SAFETENSORS)
    (tmp_path / "notes.json").write_text('{"payload": "aGVsbG8="}', "utf-8")
    (tmp_path / "settings.yaml").write_text("version: 1\nname: x\n", "utf-8")
    found = detect(tmp_path)
    assert (found.signature, found.provenance, found.monitoring_config, found.serving) == (
        None,
        None,
        None,
        [],
    )


def test_hostile_file_names_stay_data_in_the_yaml(tmp_path: Path) -> None:
    odd = 'we ird: #x\n"y"'
    (tmp_path / odd).mkdir()
    (tmp_path / odd / "model.safetensors").write_bytes(SAFETENSORS)
    (tmp_path / "true.jsonl").write_text('{"prompt": "a", "completion": "b"}\n', "utf-8")
    run_cli("init", str(tmp_path))
    got = load_manifest(tmp_path).manifest
    assert got.model.path == odd + "/"
    assert got.datasets[0].name == "true"
    assert q("model/") == "model/" and q("true") == '"true"' and q("1.0") == '"1.0"'


def test_names_a_release_path_cannot_hold_are_left_out_and_listed(tmp_path: Path) -> None:
    """A file called ' .jsonl' or 'a\\b.jsonl' is a real file, but release.yaml refuses its name:
    listing it would give a manifest that does not load. The sane twin beside it is listed."""
    (tmp_path / " .jsonl").write_bytes(b"")
    (tmp_path / "a\\b.jsonl").write_bytes(b"")
    (tmp_path / "trail.bin ").write_bytes(SAFETENSORS)
    (tmp_path / "good.jsonl").write_text('{"prompt": "a", "completion": "b"}\n', "utf-8")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(SAFETENSORS)
    text = render(tmp_path)
    (tmp_path / "release.yaml").write_text(text, "utf-8")
    got = load_manifest(tmp_path).manifest
    assert [d.path for d in got.datasets] == ["good.jsonl"]
    assert got.model.path == "model/"
    assert "Left out, their names cannot be release paths" in text
    assert "' .jsonl'" in text and "'trail.bin '" in text and "'a\\\\b.jsonl'" in text


def test_fifos_and_links_out_are_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "weights.bin")
    outside = tmp_path.parent / "outside.safetensors"
    outside.write_bytes(SAFETENSORS)
    (tmp_path / "link.safetensors").symlink_to(outside)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(SAFETENSORS)
    found = detect(tmp_path)  # would hang on the FIFO if it were opened
    assert list(found.weights) == ["model/model.safetensors"]


def test_an_empty_folder_gets_todos_where_nothing_was_found(tmp_path: Path) -> None:
    text = render(tmp_path)
    assert "  path: TODO" in text and "  task: TODO" in text
    assert "# signature: model.sig" in text


NAMES = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            NAMES.filter(lambda n: n not in (".", "..") and len(n.encode()) < 200),
            st.sampled_from(["", ".yaml", ".json", ".jsonl", ".sig", ".bin", ".safetensors", ".csv", ".zip"]),
            st.binary(max_size=600),
        ),
        max_size=8,
    )
)
@example(files=[("0", "", b"\x93NUMPY"), (" ", ".jsonl", b"")])  # once listed ' .jsonl'
def test_any_folder_gives_a_manifest_that_loads_or_a_todo(
    tmp_path_factory: pytest.TempPathFactory, files: list[tuple[str, str, bytes]]
) -> None:
    root = tmp_path_factory.mktemp("f")
    for name, suffix, data in files:
        (root / (name + suffix)).write_bytes(data)
    text = render(root)  # never raises on hostile bytes or names
    data = yaml.safe_load(text)
    assert data["model"]["format"]
    if data["model"]["path"] != "TODO":
        (root / "release.yaml").write_text(text, "utf-8")
        loaded = load_manifest(root).manifest  # paths the folder holds are valid release paths
        assert (root / loaded.model.path).exists()


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_every_string_quotes_to_yaml_that_reads_back(value: str) -> None:
    """YAML is the oracle: whatever a folder's names hold, the scalar init writes loads as that
    string (characters beyond the BMP included; a lone surrogate, which YAML cannot hold, as U+FFFD)."""
    import yaml

    from gate.init import q

    expected = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    assert yaml.safe_load(f"k: {q(value)}\n") == {"k": expected}
