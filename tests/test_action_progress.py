"""The Action relays the check's standard error to the job log as it comes (the progress
heartbeat shows a long run is alive), and a heartbeat line is never taken for the error."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from gate import action as ga
from gate.commands.progress import is_progress_line
from gate.commands.progress_draw import Heartbeat
from gate.progress import CheckStarted, Redteam


def test_relay_passes_every_line_and_keeps_all_but_progress() -> None:
    source = io.StringIO(
        "model-gate: 0:30 elapsed; hashing 1.0 GB of 4.0 GB (25%), 0/3 files\n"
        "model-gate: 1:00:30 elapsed; check 4/9 adversarial running for 59:00: 1/40 probes\n"
        "model-gate: error: garak did not finish within 1800 s\n"
        "  hint: raise timeout_s\n"
    )
    log = io.StringIO()
    said = ga.relay(source, log)
    assert log.getvalue() == source.getvalue()
    assert said == "model-gate: error: garak did not finish within 1800 s\n  hint: raise timeout_s\n"


def test_the_heartbeat_writes_lines_the_relay_recognises() -> None:
    out = io.StringIO()
    beat = Heartbeat(out, 3600)
    lines = [beat.state.line()]
    beat(CheckStarted("adversarial", "Adversarial robustness", 4, 9))
    beat(Redteam(1, 2, 3, 3, 4.0, 60.0))
    lines.append(beat.state.line())
    assert all(is_progress_line(ln) for ln in lines), lines
    # Errors, warnings and hints the gate writes are not progress.
    for other in ("model-gate: error: x", "model-gate: warning: decision log not written", "  hint: y"):
        assert not is_progress_line(other)


def test_relay_streams_before_the_check_ends(tmp_path: Path) -> None:
    """The child waits until its first line has reached the log: only a relay that passes lines
    on as they come lets it finish in time."""
    go = tmp_path / "go"
    child = textwrap.dedent(
        f"""
        import sys, time, pathlib
        print("model-gate: 0:30 elapsed; starting", file=sys.stderr, flush=True)
        end = time.monotonic() + 20
        while not pathlib.Path({str(go)!r}).exists() and time.monotonic() < end:
            time.sleep(0.02)
        print("model-gate: error: " + ("in time" if pathlib.Path({str(go)!r}).exists() else "late"),
              file=sys.stderr)
        """
    )

    class Log(io.StringIO):
        def write(self, s: str) -> int:
            go.touch()
            return super().write(s)

    log = Log()
    with subprocess.Popen([sys.executable, "-c", child], stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        result: list[str] = []
        t = threading.Thread(target=lambda: result.append(ga.relay(proc.stderr, log)))  # type: ignore[arg-type]
        t.start()
        t.join(timeout=30)
    assert result == ["model-gate: error: in time\n"]
    assert log.getvalue().startswith("model-gate: 0:30 elapsed; starting\n")


def test_the_error_annotation_names_the_error_not_the_heartbeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "fake-gate"
    fake.write_text(
        "#!/bin/bash\n"
        'echo "model-gate: 0:30 elapsed; check 2/9 model-files running for 0:29" >&2\n'
        'echo "model-gate: error: release.yaml: model.path: no such directory" >&2\n'
        "exit 2\n",
        "utf-8",
    )
    fake.chmod(0o755)
    env = {"INPUT_RELEASE": "rel", "RUNNER_TEMP": str(tmp_path)}
    assert ga.run(env, python=str(fake)) == 2
    out = capsys.readouterr()
    errors = [ln for ln in out.out.splitlines() if ln.startswith("::error")]
    assert len(errors) == 1 and "model.path: no such directory" in errors[0] and "elapsed" not in errors[0]
    assert "model-gate: 0:30 elapsed; check 2/9 model-files" in out.err  # the log still shows it
