"""`model-format-mismatch`: the declared `model.format` is compared with what the files are.

Files are real: safetensors written by the safetensors library, a checkpoint written by torch.save.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_json
from tests.support.supply_chain_helpers import make_release, weights


def torch_checkpoint() -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(4, 2)}, buf)
    return buf.getvalue()


def mismatches(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"]["name"] == "model-format-mismatch"]


def release(root: Path, declared: str, files: dict[str, bytes]) -> Path:
    rel = make_release(root, files)
    text = (rel / "release.yaml").read_text().replace("format: safetensors", f"format: {declared}")
    (rel / "release.yaml").write_text(text)
    return rel


def test_pickle_checkpoint_in_a_release_declared_safetensors(tmp_path: Path) -> None:
    rel = release(
        tmp_path / "r",
        "safetensors",
        {"model.safetensors": weights(), "pytorch_model.bin": torch_checkpoint(), "config.json": b"{}"},
    )
    _code, report = run_json("check", str(rel), "--offline")
    (f,) = mismatches(report)
    assert f["location"]["path"] == "model/pytorch_model.bin"
    assert f["severity"] == "medium" and f["evidence"]["can_run_code"] is True
    assert "torch-zip" in f["evidence"]["detected"] and f["evidence"]["declared"] == "safetensors"
    details = next(c for c in report["checks"] if c["id"] == "model-files")["details"]
    assert details["declared_format"] == "safetensors"
    assert details["detected_model_formats"]["model/model.safetensors"] == ["safetensors"]


def test_safetensors_declared_as_onnx_is_a_low_mismatch(tmp_path: Path) -> None:
    rel = release(tmp_path / "r", "onnx", {"model.safetensors": weights()})
    _code, report = run_json("check", str(rel), "--offline")
    (f,) = mismatches(report)
    assert f["severity"] == "low" and f["evidence"]["can_run_code"] is False


@pytest.mark.parametrize(
    ("declared", "files"),
    [
        ("safetensors", {"model.safetensors": weights(), "config.json": b"{}", "tokenizer.json": b"{}"}),
        ("pytorch", None),  # a torch checkpoint, written in the test
        ("other", {"model.safetensors": weights()}),
    ],
    ids=["safetensors", "pytorch", "other"],
)
def test_declared_format_matches(tmp_path: Path, declared: str, files: dict[str, bytes] | None) -> None:
    rel = release(tmp_path / "r", declared, files or {"pytorch_model.bin": torch_checkpoint()})
    _code, report = run_json("check", str(rel), "--offline")
    assert mismatches(report) == []
