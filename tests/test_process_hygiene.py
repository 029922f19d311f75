"""The command ends cleanly: no child process outlives it, a closed pipe is a quiet exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEMO_RELEASE = ROOT / "examples" / "demo-release"  # not named DEMO: no red-team endpoint needed

# The real CLI, with the training-data analysis sent to its second process even for the demo's
# small dataset (the threshold is a size, 32 MB, too large for a test).
DRIVER = (
    "import sys, gate.datacheck.analyze as a\n"
    "a.PARALLEL_MIN_BYTES = 0\n"
    "from gate.commands import main\n"
    "main(sys.argv[1:], prog_name='model-gate')\n"
)


def _session_members(sid: int) -> list[str]:
    """Processes still in the session the command started (what a CI runner waits for)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:  # field 6 of stat: the session id
            out.append(f"{entry.name}: {cmd[:200]}")
    return out


def test_no_child_process_outlives_a_training_data_check(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["check", str(DEMO_RELEASE), "--only", "training-data", "--format", "json"]
    with subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    ) as proc:
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert '"training-data"' in out
    assert _session_members(proc.pid) == []


def _closed_reader(*args: str) -> tuple[int, str]:
    """Run the CLI with its standard output closed by the reader before it writes a line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-m", "gate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # as `| head -0` would
        err = proc.stderr.read().decode()
        return proc.wait(timeout=300), err


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("tier", "{rel}"), 0),
        (("explain", "--list"), 0),
        (("policy", "show", "default"), 0),
        # click's own --help handles the closed pipe itself: quietly, with exit 1.
        (("--help",), 1),
        (("check", "{bad}", "--no-decision-log", "--skip", "adversarial"), 1),
        (("check", "{rel}", "--no-decision-log", "--format", "json"), 0),
        (("scan", "{bad}/model"), 1),
        (("policy", "lint", "{lint}"), 2),
    ],
    ids=["tier", "explain", "policy-show", "help", "check-blocked", "check-json", "scan", "lint"],
)
def test_a_closed_pipe_is_a_quiet_exit_that_keeps_the_outcome(
    args: tuple[str, ...], code: int, release: Path, tmp_path: Path
) -> None:
    lint = tmp_path / "p.yaml"
    lint.write_text("version: 1\nname: p\ndefaults:\n  required: [nope]\n")
    bad = ROOT / "examples" / "bad-release"
    real = [a.format(rel=release, bad=bad, lint=lint) for a in args]
    rc, err = _closed_reader(*real)
    assert "internal error" not in err and "BrokenPipe" not in err and "Traceback" not in err, err
    assert rc == code, err


def test_every_command_prints_through_the_pipe_safe_echo() -> None:
    """A click.echo to standard output would lose the exit code when the reader closes the pipe."""
    import ast

    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "gate" / "commands").glob("*.py"))
    for module in (*modules, "gate/scanner/cli.py"):
        tree = ast.parse((ROOT / module).read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "echo"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "click"
            ):
                err = [k for k in node.keywords if k.arg == "err"]
                assert err and isinstance(err[0].value, ast.Constant) and err[0].value.value is True, (
                    f"{module}:{node.lineno}: print with gate.pipes.echo"
                )
