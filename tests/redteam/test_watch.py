"""The red-team progress watcher counts garak's report as it grows, and the runner wires it in."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.progress import Event, Redteam
from gate.redteam import watch
from gate.redteam.models import Settings
from gate.redteam.runner import Target, run_garak
from gate.redteam.watch import ReportWatcher


def row(**fields: Any) -> bytes:
    return (json.dumps(fields) + "\n").encode()


def attempt(probe: str, status: int, seq: int = 0) -> bytes:
    return row(entry_type="attempt", uuid=f"u{seq}", seq=seq, status=status, probe_classname=probe)


def ev(probe: str, detector: str = "mitigation.MitigationBypass") -> bytes:
    return row(entry_type="eval", probe=probe, detector=detector, passed=3, fails=1, total_evaluated=4)


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, e: Event) -> None:
        with self.lock:
            self.events.append(e)

    def last(self) -> Redteam:
        with self.lock:
            found = [e for e in self.events if isinstance(e, Redteam)]
        assert found
        return found[-1]


def test_counts_grow_with_the_file_and_a_half_written_line_waits(tmp_path: Path) -> None:
    report = tmp_path / "gate.report.jsonl"
    sink = Sink()
    w = ReportWatcher(report, ["dan.Dan_11_0", "encoding.InjectBase64"], timeout_s=600, sink=sink, cached=1)
    # Nothing written yet: zero of three (one answered from the cache), no error.
    first = w.poll()
    assert (first.probes_done, first.probes_total, first.attempts, first.cached) == (1, 3, 0, 1)
    with report.open("ab") as fh:
        fh.write(row(entry_type="init", garak_version="0.17.0", run="r1"))
        fh.write(attempt("dan.Dan_11_0", 1, 0) + attempt("dan.Dan_11_0", 1, 1))
        whole = attempt("dan.Dan_11_0", 1, 2)
        fh.write(whole[:20])  # garak is in the middle of writing this line
    e = w.poll()
    assert (e.attempts, e.evaluated, e.probes_done) == (2, 0, 1)
    with report.open("ab") as fh:
        fh.write(whole[20:])
        fh.write(b"".join(attempt("dan.Dan_11_0", 2, i) for i in range(3)))
        fh.write(ev("dan.Dan_11_0") + ev("dan.Dan_11_0", "dan.DAN"))  # two detectors: one probe
    e = w.poll()
    assert (e.attempts, e.evaluated, e.probes_done) == (3, 3, 2)
    with report.open("ab") as fh:
        fh.write(b"not json\n[1, 2]\n" + row(entry_type="attempt", status="1") + b"\n")
        fh.write(ev("probes.encoding.InjectBase64"))  # garak's plugin spelling counts too
        fh.write(ev("lmrc.Profanity"))  # a probe nobody asked for is not progress
        fh.write(row(entry_type="completion", run="r1"))
    e = w.poll()
    assert (e.attempts, e.evaluated, e.probes_done, e.probes_total) == (3, 3, 3, 3)
    assert w.finished == {"dan.Dan_11_0", "encoding.InjectBase64"}
    assert sink.last() == e and len(sink.events) == 4


def test_an_over_long_line_is_dropped_whole_and_counting_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "MAX_LINE", 100)
    report = tmp_path / "r.jsonl"
    w = ReportWatcher(report, ["a.B"], timeout_s=10, sink=lambda e: None, max_read=64)
    # An attempt row longer than the limit, read over several polls (64 bytes at a time): its
    # tail must not be taken for a row of its own.
    long_row = row(entry_type="attempt", status=1, pad="x" * 300)
    report.write_bytes(long_row + attempt("a.B", 1) + ev("a.B"))
    for _ in range(20):
        w.poll()
    assert (w.attempts, len(w.finished)) == (1, 1)


ROWS = st.one_of(
    st.builds(attempt, st.sampled_from(["a.A", "b.B"]), st.integers(-1, 3)),
    st.builds(ev, st.sampled_from(["a.A", "probes.b.B", "c.C", ""])),
    st.binary(max_size=40),  # anything garak (or a hostile endpoint's echo) might leave
    st.just(b'{"entry_type": "eval", "probe": ["a.A"]}\n'),
    st.just(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROWS, max_size=12), cuts=st.lists(st.integers(1, 50), max_size=6))
def test_any_bytes_in_any_pieces_count_as_the_whole_file_does(
    tmp_path: Path, rows: list[bytes], cuts: list[int]
) -> None:
    """Whatever the report holds and however garak's writes split it, polling never fails and
    counts what one read of the finished file counts."""
    data = b"".join(rows)
    report = tmp_path / f"r{abs(hash((data, tuple(cuts))))}.jsonl"
    report.write_bytes(b"")
    w = ReportWatcher(report, ["a.A", "b.B"], timeout_s=1, sink=lambda e: None, max_read=17)
    pos = 0
    for cut in [*cuts, len(data)]:
        with report.open("ab") as fh:
            fh.write(data[pos : pos + cut])
        pos = min(len(data), pos + cut)
        w.poll()
    with report.open("ab") as fh:
        fh.write(data[pos:] + b"\n")
    for _ in range(len(data) // 17 + 2):
        w.poll()
    whole = ReportWatcher(report, ["a.A", "b.B"], timeout_s=1, sink=lambda e: None, max_read=1 << 20)
    whole.poll()
    assert (w.attempts, w.evaluated, w.finished) == (whole.attempts, whole.evaluated, whole.finished)
    assert 0 <= len(w.finished) <= 2


def test_the_thread_reports_while_the_file_grows_and_stops(tmp_path: Path) -> None:
    report = tmp_path / "r.jsonl"
    sink = Sink()
    probes = [f"p.P{i}" for i in range(5)]
    with ReportWatcher(report, probes, timeout_s=30, sink=sink, interval=0.02) as w:
        for i, p in enumerate(probes):
            with report.open("ab") as fh:
                fh.write(attempt(p, 1, i) + attempt(p, 2, i) + ev(p))
            deadline = time.monotonic() + 5
            while sink.last().probes_done < i + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sink.last().probes_done == i + 1
    assert w._thread is None  # joined
    done = [e.probes_done for e in sink.events if isinstance(e, Redteam)]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 5
    last = sink.last()
    assert (last.attempts, last.evaluated, last.timeout_s) == (5, 5, 30) and last.elapsed_s > 0
    n = len(sink.events)
    time.sleep(0.1)
    assert len(sink.events) == n  # nothing polls after stop


FAKE_GARAK = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    cfg = json.loads(Path(sys.argv[sys.argv.index("--config") + 1]).read_text())
    probes = [p.removeprefix("probes.") for p in sys.argv[sys.argv.index("--spec") + 1].split(",")]
    out = Path(cfg["reporting"]["report_dir"])
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gate.report.jsonl", "w", buffering=1) as fh:
        fh.write(json.dumps({"entry_type": "init", "garak_version": "0.17.0", "run": "r"}) + "\\n")
        for i, p in enumerate(probes):
            time.sleep(0.3)  # polls come every 0.5 s: one lands between the first and the last
            for s in (1, 2):
                fh.write(json.dumps({"entry_type": "attempt", "uuid": str(i), "seq": 0, "status": s,
                                     "probe_classname": p}) + "\\n")
            fh.write(json.dumps({"entry_type": "eval", "probe": p, "detector": "d.D", "passed": 1,
                                 "fails": 0, "total_evaluated": 1}) + "\\n")
        fh.write(json.dumps({"entry_type": "completion", "run": "r"}) + "\\n")
    """
)


def test_the_runner_reports_garaks_progress_from_its_report(tmp_path: Path) -> None:
    script = tmp_path / "fake_garak.py"
    script.write_text(FAKE_GARAK)
    sink = Sink()
    probes = ["dan.Dan_11_0", "encoding.InjectBase64", "goodside.ThreatenJSON"]
    run = run_garak(
        command=[sys.executable, str(script)],
        target=Target("function.Single", "m#f", {}, None),
        probes=probes,
        settings=Settings(generations=1, prompt_cap=1, seed=1, max_tokens=16, extended_detectors=False),
        workdir=tmp_path / "work",
        home=tmp_path / "home",
        timeout_s=60,
        parallel_attempts=1,
        api_key=None,
        hub_offline=True,
        progress=sink,
        cached=2,
    )
    assert run.returncode == 0 and run.report.exists()
    last = sink.last()
    assert (last.probes_done, last.probes_total, last.attempts, last.evaluated) == (5, 5, 3, 3)
    assert last.cached == 2 and last.timeout_s == 60
    # Heard while garak ran, not only at the end: an event with some but not all probes done
    # (the probes end 0.3 s apart, 0.6 s from first to last; the watcher polls every 0.5 s).
    assert any(isinstance(e, Redteam) and 2 < e.probes_done < 5 for e in sink.events)


@pytest.mark.needs_tool("garak")
def test_a_real_garak_run_is_counted_as_its_report_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """garak's own report format: what the watcher counted equals what the judging parser reads."""
    # garak imports the target module by name, from its own working directory.
    root = str(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    from gate.redteam.report import parse_report
    from gate.redteam.runner import garak_command

    sink = Sink()
    probes = ["goodside.ThreatenJSON", "lmrc.Profanity"]
    run = run_garak(
        command=garak_command(None),
        target=Target("function.Single", "tests.support.redteam_targets#hardened", {}, None),
        probes=probes,
        settings=Settings(generations=1, prompt_cap=5, seed=1, max_tokens=16, extended_detectors=False),
        workdir=tmp_path / "work",
        home=tmp_path / "home",
        timeout_s=120,
        parallel_attempts=1,
        api_key=None,
        hub_offline=True,
        progress=sink,
    )
    assert run.returncode == 0, run.output_tail
    parsed = parse_report(run.report, max_bytes=64 * 1024 * 1024)
    last = sink.last()
    assert (last.probes_done, last.probes_total) == (2, 2) and set(parsed.evals) == set(probes)
    # The parser counts every attempt row (each attempt is written answered, then judged).
    assert last.attempts > 0 and last.attempts + last.evaluated == parsed.attempts
    assert last.evaluated == last.attempts
