"""Progress on standard error: bars on a terminal (driven through a pseudo-terminal), a heartbeat
line when standard error is not one, nothing with --no-progress; reports are never touched."""

from __future__ import annotations

import io
import json
import os
import re
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gate.commands.progress import INTERVAL_ENV
from gate.commands.progress_draw import Heartbeat, progress_sink
from gate.engine import LEFT_OUT_BY_ONLY, SKIPPED_ON_REQUEST
from gate.progress import Bytes, CheckFinished, CheckStarted, Redteam, Steps
from tests.support import DEMO, MINIMAL_MANIFEST, ROOT, write_release

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
HEARTBEAT = re.compile(
    r"^model-gate: \d+:\d\d elapsed; (check \d+/\d+ [a-z-]+ running for \d+:\d\d|hashing|\d+ check)"
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", INTERVAL_ENV)}
    env.update(TERM="xterm-256color", COLUMNS="120", **extra)
    return env


def _release(tmp_path: Path) -> Path:
    # Large enough that hashing shows bytes (MB), small enough to stay fast.
    return write_release(tmp_path / "rel", files={"model/weights.bin": os.urandom(3 * 1024 * 1024)})


def run_in_pty(args: list[str], env: dict[str, str], timeout: float = 60.0) -> tuple[int, bytes, str]:
    """Run `python -m gate ARGS` with standard error on a pseudo-terminal and standard output on a
    pipe: (exit code, standard output, what the terminal showed, escape codes removed)."""
    if sys.platform == "win32":
        pytest.skip("pseudo-terminals are POSIX")
    import fcntl
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gate", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            pytest.fail(f"no end within {timeout} s")
        assert proc.stdout is not None
        out = proc.stdout.read()
        code = proc.wait(timeout=10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out, ANSI.sub("", seen.decode("utf-8", "replace"))


def run_piped(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, env=env, timeout=120, check=False
    )


def stable(report: bytes) -> dict[str, Any]:
    """A JSON report without what changes between two runs of the same release (time, durations)."""
    doc: dict[str, Any] = json.loads(report)
    doc.pop("generated_at")
    for c in doc["checks"]:
        c.pop("duration_s")
        c.get("details", {}).pop("seconds", None)
    return doc


def test_a_terminal_shows_hashing_and_every_check_as_it_ends(tmp_path: Path) -> None:
    rel = _release(tmp_path)
    args = ["check", str(rel), "--offline", "--no-decision-log", "--format", "json"]
    code, out, screen = run_in_pty(args, _env())
    quiet = run_piped([*args, "--no-progress"], _env())
    assert code == quiet.returncode and quiet.stderr == b""
    # The report on standard output is the same as without progress: nothing leaked into it.
    assert stable(out) == stable(quiet.stdout)
    assert b"\x1b" not in out
    # The hashing bar with its bytes (3.1 MB of the weights), then one line per check as it ends.
    assert "hashing" in screen and re.search(r"3\.1/3\.1 MB", screen), screen[-2000:]
    report = json.loads(out)
    not_run = (LEFT_OUT_BY_ONLY, SKIPPED_ON_REQUEST)
    ran = [c for c in report["checks"] if c["summary"] not in not_run]
    for i, c in enumerate(ran, 1):
        assert f"check {i}/{len(ran)} {c['id']}: {c['status']}" in screen, (c["id"], screen[-3000:])


def test_no_progress_on_a_terminal_writes_nothing(tmp_path: Path) -> None:
    rel = _release(tmp_path)
    code, out, screen = run_in_pty(
        ["check", str(rel), "--offline", "--no-decision-log", "--format", "json", "--no-progress"], _env()
    )
    assert screen == "" and json.loads(out)["exit_code"] == code


def test_ci_logs_get_a_heartbeat_and_the_same_report() -> None:
    # The demo release has real work for every check but the red team (whose endpoint is not
    # served here): enough to outlast a few intervals.
    args = ["check", str(DEMO), "--offline", "--no-decision-log", "--format", "json", "--skip", "adversarial"]
    beat = run_piped(args, _env(**{INTERVAL_ENV: "0.05"}))
    quiet = run_piped([*args, "--no-progress"], _env(**{INTERVAL_ENV: "0.05"}))
    assert beat.returncode == quiet.returncode
    assert stable(beat.stdout) == stable(quiet.stdout) and quiet.stderr == b""
    lines = beat.stderr.decode().splitlines()
    assert lines and all(HEARTBEAT.match(ln) for ln in lines), lines
    assert b"\x1b" not in beat.stderr  # plain lines for logs: no escape codes, no bars


def test_a_run_shorter_than_the_interval_writes_nothing(tmp_path: Path) -> None:
    # The default interval is 30 s: a short run off a terminal leaves standard error empty.
    r = run_piped(["check", str(_release(tmp_path)), "--offline", "--no-decision-log"], _env())
    assert r.stderr == b"" and b"tier low" in r.stdout


def test_forced_progress_draws_bars_off_a_terminal(tmp_path: Path) -> None:
    rel = _release(tmp_path)
    args = ["check", str(rel), "--offline", "--no-decision-log", "--format", "json"]
    forced = run_piped([*args, "--progress"], _env())
    quiet = run_piped([*args, "--no-progress"], _env())
    assert stable(forced.stdout) == stable(quiet.stdout)
    text = ANSI.sub("", forced.stderr.decode())
    assert "hashing" in text and "check 1/" in text


@pytest.mark.parametrize("value", ["fast", "0", "1e9"])
def test_a_bad_interval_is_one_line_naming_the_variable(tmp_path: Path, value: str) -> None:
    rel = _release(tmp_path)
    r = run_piped(["check", str(rel), "--offline", "--no-decision-log"], _env(**{INTERVAL_ENV: value}))
    assert r.returncode == 2 and r.stdout == b""
    err = r.stderr.decode()
    assert err.startswith(f"model-gate: error: ${INTERVAL_ENV}") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_scan_shows_its_pass_over_the_files(tmp_path: Path) -> None:
    rel = _release(tmp_path)
    code, out, screen = run_in_pty(["scan", str(rel / "model"), "--format", "json"], _env())
    quiet = run_piped(["scan", str(rel / "model"), "--format", "json", "--no-progress"], _env())
    assert code == quiet.returncode and out == quiet.stdout and quiet.stderr == b""
    assert "scanning" in screen and "3.1/3.1 MB" in screen


def test_heartbeat_line_says_what_runs_and_how_far() -> None:
    out = io.StringIO()
    beat = Heartbeat(out, 3600)
    assert beat.state.line().endswith("starting")
    beat(Bytes("hashing", 500_000_000, 2_000_000_000, 1, 3))
    assert beat.state.line().endswith("hashing 500.0 MB of 2.0 GB (25%), 1/3 files")
    beat(Bytes("hashing", 2_000_000_000, 2_000_000_000, 3, 3))
    beat(CheckStarted("adversarial", "Adversarial robustness", 4, 9))
    beat(Redteam(12, 40, 830, 800, 85.0, 1800.0, cached=2))
    line = beat.state.line()
    want = r"check 4/9 adversarial running for 0:0\d: 12/40 probes \(2 cached\), 830 attempts"
    assert re.search(want, line)
    assert line.endswith("800 judged, 1:25 of 30:00")
    beat(CheckFinished("adversarial", "failed", 90.0, 4, 9))
    beat(CheckStarted("training-data", "Training data", 5, 9))
    beat(Steps("training-data", "rows read (dataset 1 of 2)", 120_000))
    want = "check 5/9 training-data running for 0:00: 120000 rows read (dataset 1 of 2)"
    assert beat.state.line().endswith(want)
    beat(CheckFinished("training-data", "passed", 1.0, 5, 9))
    assert beat.state.line().endswith("2 check(s) done")
    assert out.getvalue() == ""  # the thread never started: nothing written


def test_the_heartbeat_thread_writes_lines_and_stops() -> None:
    out = io.StringIO()
    with progress_sink(None, out) as sink, Heartbeat(out, 0.02) as beat:
        assert isinstance(sink, Heartbeat)
        beat(CheckStarted("model-files", "Model files", 1, 1))
        deadline = time.monotonic() + 5
        while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    written = out.getvalue()
    assert written.count("check 1/1 model-files running") >= 2
    time.sleep(0.1)
    assert out.getvalue() == written  # stopped with the block


def test_no_progress_is_no_sink() -> None:
    with progress_sink(False, io.StringIO()) as sink:
        assert sink is None


REDTEAM_POLICY = """\
version: 1
name: progress-test
defaults:
  required: [risk-tier, adversarial]
  checks:
    adversarial:
      probes: ["goodside.ThreatenJSON", "lmrc.Profanity"]
      prompt_cap: 4
      max_tokens: 16
      timeout_s: 120
"""


@pytest.mark.needs_tool("garak")
def test_the_redteam_run_shows_probes_attempts_and_the_timeout(tmp_path: Path) -> None:
    rel = write_release(
        tmp_path / "rel",
        MINIMAL_MANIFEST.replace("text-classification", "text-generation")
        + "endpoint: {type: callable, callable: 'tests.support.redteam_targets:hardened'}\n",
    )
    pol = tmp_path / "policy.yaml"
    pol.write_text(REDTEAM_POLICY)
    env = _env(
        MODEL_GATE_CACHE_DIR=str(tmp_path / "cache"),
        # garak imports the callable target from this repository.
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    code, out, screen = run_in_pty(["redteam", str(rel), "--policy", str(pol), "--format", "json"], env)
    assert json.loads(out)["exit_code"] == code == 0, screen[-2000:]
    # The last figures garak's report gave (in the bar, and kept in the end line): both probes,
    # the three prompts answered and judged, the time against the policy's two minutes.
    assert re.search(r"2/2 probes, 3 attempts, 3 judged, 0:\d\d of 2:00", screen), screen[-2000:]
    end = re.search(r"check 2/2 adversarial: passed \(\d+\.\d\d s\); 2/2 probes, 3 attempts", screen)
    assert end, screen[-2000:]
    # Again: every probe is answered from the cache, and the display says so.
    code, out, screen = run_in_pty(["redteam", str(rel), "--policy", str(pol), "--format", "json"], env)
    assert code == 0 and json.loads(out)["checks"][-1]["details"]["cache_hits"] == 2
    assert "check 2/2 adversarial: passed" in screen and "2/2 probes (2 cached)" in screen, screen[-2000:]
