"""What a newcomer meets first: whole help lines, explain by any id, a readable decision log."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gate import decision_log
from gate.commands import main
from gate.commands.shared import summary_line
from tests.commands.test_partial_runs import EVIL_PICKLE
from tests.support import ROOT, run_cli, write_release


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append(((*prefix, name), cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*prefix, name))
    return out


@pytest.mark.parametrize("width", [60, 80, 200])
def test_help_lists_every_command_with_its_whole_summary(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    for path, cmd in _commands(main):
        parent = path[:-1]
        shown = " ".join(run_cli(*parent, "--help", terminal_width=width).stdout.split())
        summary = summary_line(cmd.help)
        assert summary and f"{path[-1]} {summary}" in shown, (path, summary)
        assert "..." not in summary


@pytest.mark.parametrize(
    "ref",
    ["GATE-MF015", "MF015", "mf015", "torchscript-embedded-code", "GATE-MF015-0123456789abcdef"],
)
def test_explain_accepts_codes_short_codes_names_and_finding_ids(ref: str) -> None:
    res = run_cli("explain", ref)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("GATE-MF015 torchscript-embedded-code")


def test_explain_accepts_the_finding_id_a_report_prints(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "rel", files={"model/weights.bin": b"\0" * 64, "model/x.pkl": EVIL_PICKLE})
    rep = json.loads(run_cli("check", str(rel), "--format", "json").stdout)
    fid = rep["findings"][0]["id"]
    res = run_cli("explain", fid)
    assert res.exit_code == 0 and res.stdout.startswith(rep["findings"][0]["rule"]["code"])


@pytest.mark.parametrize(("ref", "guess"), [("unsafe-pickle", "unsafe-pickle-import"), ("MF0015", "MF015")])
def test_explain_unknown_says_did_you_mean(ref: str, guess: str) -> None:
    res = run_cli("explain", ref)
    assert res.exit_code == 2 and f"unknown rule '{ref}'" in res.stderr
    assert f"'{guess}'" in res.stderr


# --- decision log ------------------------------------------------------------------------------


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """Three real runs: a pass, a blocked release, and one that judged nothing."""
    path = tmp_path / "decisions.jsonl"
    ok = write_release(tmp_path / "ok")
    bad = write_release(
        tmp_path / "bad",
        "name: risky\nversion: 2.0.0\nmodel: {path: model/, format: pickle}\n"
        "deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}\n",
        files={"model/x.pkl": EVIL_PICKLE},
    )
    assert run_cli("check", str(ok), "--decision-log", str(path)).exit_code == 0
    assert run_cli("check", str(bad), "--decision-log", str(path)).exit_code == 1
    assert run_cli("check", str(tmp_path / "missing"), "--decision-log", str(path)).exit_code == 2
    return path


def test_a_partial_run_is_logged_as_partial(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rel = write_release(tmp_path / "rel")
    assert run_cli("check", str(rel), "--only", "model-files", "--decision-log", str(path)).exit_code == 0
    (entry,) = _show(str(path))
    assert entry["partial"] is True and "release-integrity" in entry["left_out"]
    assert "(partial)" in run_cli("decision-log", "show", str(path)).stdout


def _show(*args: str) -> list[dict]:  # type: ignore[type-arg]
    res = run_cli("decision-log", "show", *args, "--format", "json")
    assert res.exit_code == 0, res.output
    return list(json.loads(res.stdout))


def test_show_filters_by_release_verdict_and_date(log: Path) -> None:
    first = _show(str(log))[0]["verdict"]
    assert first in ("pass", "warn") and [e["verdict"] for e in _show(str(log))] == [first, "fail", None]
    assert [e["release"]["name"] for e in _show(str(log), "--release", "risky")] == ["risky"]
    assert len(_show(str(log), "--release", "risky@2.0.0")) == 1
    digest = _show(str(log), "--release", "tiny")[0]["release"]["digest"]
    assert [e["release"]["name"] for e in _show(str(log), "--release", digest[:19])] == ["tiny"]
    assert [e["verdict"] for e in _show(str(log), "--verdict", "fail")] == ["fail"]
    assert [e["exit_code"] for e in _show(str(log), "--verdict", "none", "--verdict", first)] == [0, 2]
    today = dt.datetime.now(dt.UTC).date()
    assert len(_show(str(log), "--since", "1d")) == 3
    assert len(_show(str(log), "--until", today.isoformat())) == 3  # through the end of that day
    assert _show(str(log), "--until", (today - dt.timedelta(days=1)).isoformat()) == []
    assert _show(str(log), "--since", (today + dt.timedelta(days=1)).isoformat()) == []


def test_show_table_and_tail(log: Path) -> None:
    res = run_cli("decision-log", "show", str(log))
    lines = res.stdout.splitlines()
    assert res.exit_code == 0 and lines[0].split() == [
        "time",
        "verdict",
        "exit",
        "release",
        "digest",
        "tier",
        "policy",
    ]
    assert lines[2].split()[1:4] == ["fail", "1", "risky@2.0.0"]
    tail = run_cli("decision-log", "tail", str(log), "-n", "1", "--format", "json")
    (last,) = json.loads(tail.stdout)
    assert last["verdict"] is None and last["exit_code"] == 2
    assert len(run_cli("decision-log", "tail", str(log)).stdout.splitlines()) == 4


def test_show_survives_hostile_and_broken_lines(log: Path) -> None:
    entry = {
        "time": "2026-01-01T00:00:00Z",
        "verdict": "pass",
        "release": {"name": "x\x1b[2J\ny", "version": "1"},
    }
    with log.open("ab") as f:
        f.write(b"not json\n" + json.dumps(entry).encode() + b"\n[1]\n")
    res = run_cli("decision-log", "show", str(log))
    assert res.exit_code == 0 and "\x1b" not in res.stdout and "x\\x1b[2J\\x0ay@1" in res.stdout
    assert "2 line(s) are not entries" in res.stderr
    assert run_cli("decision-log", "show", str(log), "--since", "yesterday").exit_code == 2


def test_tests_never_write_the_users_decision_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session points both the variable and XDG_STATE_HOME into its own temporary tree, so even
    code that drops the variable, and every subprocess, writes there."""
    home_log = Path(os.path.expanduser("~")) / ".local" / "state" / "model-gate" / "decisions.jsonl"
    tmp_root = Path(os.environ["MODEL_GATE_TEST_STATE"])
    assert decision_log.default_path().is_relative_to(tmp_root)
    monkeypatch.delenv("MODEL_GATE_DECISION_LOG")
    assert decision_log.default_path().is_relative_to(tmp_root)
    assert decision_log.default_path() != home_log
    code = "from gate import decision_log; print(decision_log.default_path())"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert Path(out.stdout.strip()).is_relative_to(tmp_root)


WRITES_HOME_LOG = """
import os, subprocess, sys

def test_x():
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_GATE_DECISION_LOG", "XDG_STATE_HOME")}
    code = (
        "from gate import decision_log as d; "
        f"d.append(d.default_path(), {{'release': {{'path': {os.environ['INNER_RELEASE']!r}}}}})"
    )
    if os.environ.get("WRITE_IT"):
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
"""


@pytest.mark.parametrize("write", [True, False], ids=["writes-home-log", "benign"])
def test_a_run_that_touches_the_users_log_fails(tmp_path: Path, write: bool) -> None:
    """The session's guard: whatever a test does (here a subprocess that drops the session's
    variables and logs by the user's defaults), changing the user's log fails the run."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "test_inner.py").write_text(WRITES_HOME_LOG)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MODEL_GATE_DECISION_LOG", "XDG_STATE_HOME", "MODEL_GATE_TEST_STATE")
    }
    # A release of the checkout: what a test run of it would log.
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), WRITE_IT="1" if write else "")
    env["INNER_RELEASE"] = str(ROOT / "examples" / "demo-release")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(ROOT),
         "-c", str(ROOT / "pyproject.toml"), "-p", "tests.conftest", str(tmp_path / "test_inner.py")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )  # fmt: skip
    log = home / ".local" / "state" / "model-gate" / "decisions.jsonl"
    if write:
        assert log.exists() and proc.returncode == 1
        assert "added 1 line(s) to the user's decision log" in proc.stderr
    else:
        assert not log.exists() and proc.returncode == 0, proc.stdout + proc.stderr
