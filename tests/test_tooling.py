"""The suite's optional-tool switches: hiding really hides, needs_tool really skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.tooling import parse_hidden, path_without, tool_available


def _bin(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("promtool", "chromium", "keepme"):
        exe = d / name
        exe.write_text("#!/bin/sh\necho fake\n")
        exe.chmod(0o755)
    return d


def test_hidden_executables_are_gone_and_the_rest_stays(tmp_path: Path) -> None:
    d = _bin(tmp_path)
    path = path_without(["promtool", "chromium"], str(d), tmp_path / "shadow")
    assert shutil.which("promtool", path=path) is None
    assert shutil.which("chromium", path=path) is None
    assert shutil.which("keepme", path=path) is not None
    # A directory without any hidden tool is kept as it is.
    assert path_without(["garak"], str(d), tmp_path / "shadow2") == str(d)


def test_without_tools_hides_promtool_and_garak_for_the_gate(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    without_tools: Callable[..., AbstractContextManager[None]],
) -> None:
    from gate.checks.monitoring.prometheus import promtool_executable
    from gate.errors import ToolMissingError
    from gate.redteam.runner import garak_command, garak_version

    monkeypatch.setenv("PATH", f"{_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    assert promtool_executable() is not None
    with without_tools():
        assert promtool_executable() is None and not tool_available("promtool")
        assert not tool_available("garak")
        with pytest.raises(ToolMissingError, match="garak is not installed"):
            garak_version(garak_command(None))
    assert promtool_executable() is not None


def test_unknown_tool_names_are_refused() -> None:
    assert parse_hidden("all") == ("promtool", "garak", "chromium")
    assert parse_hidden("promtool, garak") == ("promtool", "garak")
    with pytest.raises(ValueError, match="unknown tool"):
        parse_hidden("promtol")


def test_needs_tool_skips_with_the_reason_when_hidden(tmp_path: Path) -> None:
    test = tmp_path / "test_x.py"
    test.write_text(
        "import pytest\n\n"
        "@pytest.mark.needs_tool('promtool')\n"
        "def test_p():\n    import shutil\n    assert shutil.which('promtool')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rs",
            "-q",
            "--hide-tools=all",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            "--confcutdir",
            str(ROOT),
            "-p",
            "tests.conftest",
            str(test),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "needs promtool, which is absent (hidden by --hide-tools)" in out
