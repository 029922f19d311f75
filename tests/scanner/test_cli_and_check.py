"""`model-gate scan` and the `model-files` check: exit codes, JSON, policy, the example releases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gate.checks.model_files import ModelFilesConfig
from gate.commands.scan import run_scan
from tests.support import BAD, DEMO, MINIMAL_MANIFEST, ROOT, run_cli, run_json, write_release
from tests.support.scanner.attacks import torch_zip

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint


def _gate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_scan_exit_codes(tmp_path: Path, benign_dir: Path) -> None:
    assert _gate("scan", str(benign_dir), cwd=tmp_path).returncode == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    torch_zip(bad, str(tmp_path / "marker"))
    p = _gate("scan", str(bad), cwd=tmp_path)
    assert p.returncode == 1 and "GATE-MF001" in p.stdout
    assert _gate("scan", str(tmp_path / "missing"), cwd=tmp_path).returncode == 2
    assert _gate("scan", cwd=tmp_path).returncode == 2
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    p = _gate("scan", str(fifo), cwd=tmp_path)
    assert p.returncode == 3, p.stdout + p.stderr
    assert not (tmp_path / "marker").exists()


def test_scan_json_carries_the_same_findings_as_the_check_report(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "rel", MINIMAL_MANIFEST.replace("safetensors", "pytorch"), files={})
    (rel / "model").mkdir()
    torch_zip(rel / "model", str(tmp_path / "marker"))
    (rel / "model" / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "x--m.M"}}))
    code, report = run_json("check", str(rel))
    assert code == 1
    from_check = [f for f in report["findings"] if f["check"] == "model-files"]
    assert {f["rule"]["code"] for f in from_check} == {"GATE-MF001", "GATE-MF016"}
    p = _gate("scan", "model", "--format", "json", cwd=rel)
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    from_scan = doc["findings"]
    for f in (*from_check, *from_scan):
        f["evidence"].pop("sha256", None)
        f.pop("reproduction", None)
    key = lambda f: f["id"]  # noqa: E731
    assert sorted(from_scan, key=key) == sorted(from_check, key=key)


def test_scan_single_file_and_text_output(tmp_path: Path) -> None:
    torch_zip(tmp_path, str(tmp_path / "marker"))
    code = run_scan([tmp_path / "torch_zip.bin"], fmt="text", policy_ref="default")
    assert code == 1


def test_policy_extends_the_allowlist_by_vetted_name_only(tmp_path: Path) -> None:
    # statistics.NormalDist is on the vetted list of inert constructors, not on by default.
    pkl = tmp_path / "est.pkl"
    pkl.write_bytes(b"\x80\x04\x8c\x0astatistics\x94\x8c\x0aNormalDist\x94\x93)\x81}b.")
    pol = tmp_path / "team.yaml"
    pol.write_text(
        "version: 1\nname: team\nextends: [default]\ndefaults:\n  checks:\n    model-files:\n"
        "      allow_pickle_callables: [statistics.NormalDist]\n"
    )
    assert _gate("scan", str(pkl), cwd=tmp_path).returncode == 1
    assert _gate("scan", str(pkl), "--policy", str(pol), cwd=tmp_path).returncode == 0
    # An arbitrary class, however harmless its name sounds, is not vetted: exit 2 naming it.
    pol.write_text(pol.read_text().replace("statistics.NormalDist", "team.models.MyModel"))
    res = _gate("scan", str(pkl), "--policy", str(pol), cwd=tmp_path)
    assert res.returncode == 2 and "team.models.MyModel" in res.stderr


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("os.*", "standard-library module 'os'"),
        ("builtins.*", "standard-library module 'builtins'"),
        ("team.*", "wildcard"),
        ("os.system", "can never be allowed"),
        ("importlib.import_module", "can never be allowed"),
        ("torch.load", "can never be allowed"),
        ("numpy", "exact dotted name"),
    ],
)
def test_policy_rejects_wildcards_and_dangerous_names(tmp_path: Path, name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        ModelFilesConfig(allow_pickle_callables=(name,))
    pol = tmp_path / "p.yaml"
    pol.write_text(
        f"version: 1\nname: p\ndefaults:\n  checks:\n    model-files:\n"
        f"      allow_pickle_callables: ['{name}']\n"
    )
    res = run_cli("policy", "lint", str(pol))
    assert res.exit_code == 2 and why.split(maxsplit=1)[0] in res.output


def test_demo_release_passes_with_model_files_required(tmp_path: Path) -> None:
    code, report = run_json("check", str(DEMO))
    assert code == 0
    mf = next(c for c in report["checks"] if c["id"] == "model-files")
    assert mf["status"] == "passed" and mf["required"]


def test_bad_release_is_blocked_by_model_files(tmp_path: Path) -> None:
    dst = tmp_path / "bad"
    shutil.copytree(BAD, dst, symlinks=True)
    code, report = run_json("check", str(dst))
    assert code == 1
    mf = [f for f in report["findings"] if f["rule"]["code"] == "GATE-MF001"]
    assert mf and mf[0]["blocking"] and mf[0]["location"]["path"] == "model/pytorch_model.bin"
    assert mf[0]["evidence"]["name"] == "posix.system"


def test_bad_release_checkpoint_is_what_the_script_builds(tmp_path: Path) -> None:
    out = tmp_path / "m.bin"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "scripts/make_bad_model.py", str(out)], cwd=ROOT, env=env, check=True, timeout=120
    )
    import zipfile

    def pkl(p: Path) -> bytes:
        with zipfile.ZipFile(p) as z:
            return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))

    assert b"system" in pkl(out)
    assert pkl(out).replace(b"m/", b"") == pkl(BAD / "model" / "pytorch_model.bin").replace(
        b"pytorch_model/", b""
    )


def test_check_errors_when_a_file_cannot_be_analysed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = write_release(tmp_path / "rel", files={"model/model.onnx": b"\x08\x07\x12\x04test"})
    import builtins

    real_import = builtins.__import__

    def no_onnx(name: str, *a: object, **k: object) -> object:
        if name == "onnx":
            raise ImportError("no onnx")
        return real_import(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    # The scanner loads onnx's generated message module on its own (gate.onnx_proto): the
    # distribution is absent when it cannot be found, and nothing of it is loaded yet.
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def no_onnx_spec(name: str, *a: object, **k: object) -> object:
        return None if name == "onnx" else real_find_spec(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", no_onnx_spec)
    for loaded in ("onnx.onnx_ml_pb2", "gate._onnx_ml_pb2"):
        monkeypatch.delitem(sys.modules, loaded, raising=False)
    code, report = run_json("check", str(rel))
    assert code == 3
    mf = next(c for c in report["checks"] if c["id"] == "model-files")
    assert mf["status"] == "error" and "onnx" in mf["summary"]


@pytest.mark.parametrize("ref", ["default", "strict"])
def test_model_files_is_required_at_every_tier(ref: str) -> None:
    from gate.policy import load_policy
    from gate.risk import Tier

    pol = load_policy(ref)
    for t in Tier:
        assert "model-files" in pol.for_tier(t).required, (ref, t)
