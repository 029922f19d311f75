"""The packaged policies' scanner settings, precompiled for `model-gate scan`: same answers, no drift."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gate import scan_policy
from gate.checks.model_files import ModelFilesConfig
from gate.commands.scan import run_scan
from gate.policy import config_for, load_policy, packaged_policies
from gate.risk import Tier
from gate.scan_policy import SCAN_TIER, compile_packaged, prepared
from tests.support import ROOT
from tests.support.scanner.attacks import torch_zip


def test_shipped_file_is_what_the_policies_give() -> None:
    # The same comparison `make docs --check` makes: a policy or model edited without
    # regenerating the file fails here.
    assert (ROOT / "gate" / "policies" / scan_policy.FILE).read_text("utf-8") == compile_packaged()


@pytest.mark.parametrize("name", packaged_policies())
def test_precompiled_settings_equal_the_full_load(name: str) -> None:
    fast = prepared(name)
    assert fast is not None
    policy = load_policy(name, validate={"model-files"})
    cfg: ModelFilesConfig = config_for(policy.for_tier(Tier(SCAN_TIER)), "model-files")
    assert fast.settings == cfg.settings()
    assert (fast.name, fast.sha256) == (policy.name, policy.sha256)


def test_policy_files_and_unknown_names_take_the_full_load(tmp_path: Path) -> None:
    assert prepared(str(tmp_path / "default.yaml")) is None
    assert prepared("default.yaml") is None
    assert prepared("no-such-policy") is None


def test_a_packaged_file_edited_in_place_disables_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    real = scan_policy._sources()
    edited = {**real, "policies/default.yaml": "0" * 64}
    monkeypatch.setattr(scan_policy, "_sources", lambda: edited)
    assert prepared("default") is None
    monkeypatch.setattr(scan_policy, "_sources", lambda: {**real, "policies/extra.yaml": "0" * 64})
    assert prepared("default") is None


def test_fast_and_full_paths_give_the_same_report(
    tmp_path: Path, benign_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    torch_zip(bad, str(tmp_path / "marker"))
    out = {}
    for mode in ("fast", "full"):
        if mode == "full":
            monkeypatch.setattr(scan_policy, "prepared", lambda ref: None)
        for target in (benign_dir, bad):
            code = run_scan([target], fmt="json")
            out[mode, target.name] = (code, json.loads(capsys.readouterr().out))
    assert out["fast", "bad"][0] == 1 and out["fast", benign_dir.name][0] == 0
    assert out["fast", "bad"][1]["findings"]
    for target in (benign_dir, bad):
        assert out["fast", target.name] == out["full", target.name]
    assert not (tmp_path / "marker").exists()


def test_a_clean_scan_never_imports_pydantic_or_yaml(benign_dir: Path) -> None:
    # The point of the precompiled settings: the clean path pays for the scan, not for validation.
    probe = (
        "import sys; from gate.commands import main\n"
        "sys.argv = ['model-gate', 'scan', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = sorted(m for m in ('pydantic', 'yaml', 'gate.policy', 'gate.engine') if m in sys.modules)\n"
        "print('CODE', code, 'HEAVY', heavy)\n"
    )
    safetensors = next(p for p in benign_dir.rglob("*.safetensors"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-c", probe, str(safetensors)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "CODE 0 HEAVY []" in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: "{not json",
        lambda d: json.dumps([1, 2]),
        lambda d: json.dumps({**d, "format": 99}),
        lambda d: json.dumps({**d, "policies": []}),
        lambda d: json.dumps({**d, "allowlist": {"revision": "x"}}),
        lambda d: json.dumps(
            {**d, "policies": {"default": {"name": "default", "sha256": "x", "model_files": {}}}}
        ),
        lambda d: json.dumps(
            {**d, "policies": {"default": {**d["policies"]["default"], "model_files": None}}}
        ),
    ],
)
def test_a_damaged_settings_file_falls_back_to_the_full_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: Any
) -> None:
    package = tmp_path / "gate"
    shutil.copytree(ROOT / "gate" / "policies", package / "policies")
    shutil.copytree(ROOT / "gate" / "data", package / "data")
    good = json.loads((package / "policies" / scan_policy.FILE).read_text("utf-8"))
    monkeypatch.setattr(scan_policy, "PACKAGE", package)
    assert prepared("default") is not None  # the copy itself is fine
    (package / "policies" / scan_policy.FILE).write_text(damage(good), "utf-8")
    assert prepared("default") is None
