from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.support import BAD, DEMO, run_cli, run_json, write_release

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint


@pytest.mark.needs_tool("garak")
def test_demo_release_passes() -> None:
    code, report = run_json("check", str(DEMO))
    assert code == 0
    assert report["verdict"] == "pass"
    assert report["tier"]["level"] == "low"
    assert {c["id"] for c in report["checks"]} >= {"release-integrity", "risk-tier"}


def test_demo_release_without_garak_warns_and_says_how_to_skip(
    without_tools: Callable[..., AbstractContextManager[None]],
) -> None:
    with without_tools("garak"):
        code, report = run_json("check", str(DEMO))
    assert code == 0 and report["verdict"] == "warn"
    adv = next(c for c in report["checks"] if c["id"] == "adversarial")
    assert adv["status"] == "error" and "garak is not installed" in adv["summary"]
    # The only warning; the rest are info notes (the demo's signer is not trusted by `default`).
    (warning,) = [f for f in report["findings"] if f["severity"] != "info"]
    assert warning["rule"]["code"] == "GATE-GA002" and "--skip adversarial" in warning["mitigation"]


def test_bad_release_blocks_with_named_files() -> None:
    code, report = run_json("check", str(BAD))
    assert code == 1
    assert report["verdict"] == "fail"
    blocking = {(f["rule"]["name"], f["location"]["path"]) for f in report["findings"] if f["blocking"]}
    assert ("executable-code-in-release", "model/modeling_custom.py") in blocking
    assert ("link-escapes-release", "model/vocab.txt") in blocking
    assert ("remote-code-reference", "model/config.json") in blocking


def test_missing_manifest_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("check", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert "no release.yaml" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", "name: x\nversion: '1'\nbogus: 1\n")
    result = run_cli("check", str(rel))
    assert result.exit_code == 2
    assert "release.yaml:3: bogus: unknown key" in result.stderr
