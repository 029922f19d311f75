"""The decision log: one parseable line per `check` run, appended, never rewritten."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from gate import decision_log
from tests.support import BAD, DEMO, run_cli
from tests.support.waiverkit import code_release

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_each_run_appends_one_line_and_keeps_the_old_ones(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "decisions.jsonl"
    assert run_cli("check", str(DEMO), "--decision-log", str(log)).exit_code == 0
    first = log.read_bytes()
    assert run_cli("check", str(BAD), "--decision-log", str(log)).exit_code == 1
    second = log.read_bytes()
    assert second.startswith(first), "earlier lines must be kept byte for byte"
    entries = _lines(log)
    assert [e["verdict"] for e in entries] == ["pass", "fail"]
    demo, bad = entries
    assert demo["release"]["digest"].startswith("sha256:") and len(demo["policy"]["sha256"]) == 64
    assert demo["exit_code"] == 0 and demo["prev"] is None
    assert bad["blocking"] and bad["waivers"] == {"applied": [], "rejected": [], "unused": []}
    assert decision_log.verify_log(log) == []


def test_default_location_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_log = tmp_path / "env.jsonl"
    monkeypatch.setenv("MODEL_GATE_DECISION_LOG", str(env_log))
    assert run_cli("check", str(DEMO)).exit_code == 0
    assert len(_lines(env_log)) == 1
    monkeypatch.delenv("MODEL_GATE_DECISION_LOG")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert decision_log.default_path() == tmp_path / "state" / "model-gate" / "decisions.jsonl"
    assert run_cli("check", str(DEMO)).exit_code == 0
    assert len(_lines(tmp_path / "state" / "model-gate" / "decisions.jsonl")) == 1


def test_no_decision_log_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_log = tmp_path / "env.jsonl"
    monkeypatch.setenv("MODEL_GATE_DECISION_LOG", str(env_log))
    assert run_cli("check", str(DEMO), "--no-decision-log").exit_code == 0
    assert not env_log.exists()


def test_runs_that_judge_nothing_are_recorded_too(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    res = run_cli("check", str(DEMO), "--policy", "no-such-policy", "--decision-log", str(log))
    assert res.exit_code == 2
    (entry,) = _lines(log)
    assert (
        entry["verdict"] is None and entry["exit_code"] == 2 and "no such packaged policy" in entry["error"]
    )


def test_log_inside_the_release_is_refused(tmp_path: Path) -> None:
    rel = code_release(tmp_path / "rel")
    res = run_cli("check", str(rel), "--decision-log", str(rel / "log.jsonl"))
    assert res.exit_code == 2 and "must not be inside the release" in res.stderr
    assert not (rel / "log.jsonl").exists()


def test_explicit_log_that_cannot_be_written_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    res = run_cli("check", str(DEMO), "--decision-log", str(tmp_path / "dir.jsonl"))
    assert res.exit_code == 2 and "not a regular file" in res.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli("check", str(DEMO), "--decision-log", str(blocker / "sub" / "log.jsonl"))
    assert res.exit_code == 2 and "decision log" in res.stderr


def test_default_log_that_cannot_be_written_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("MODEL_GATE_DECISION_LOG", str(blocker / "log.jsonl"))
    res = run_cli("check", str(DEMO))
    assert res.exit_code == 0
    assert "warning: decision log not written" in res.stderr


def test_symlinked_log_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    link = tmp_path / "log.jsonl"
    link.symlink_to(target)
    res = run_cli("check", str(DEMO), "--decision-log", str(link))
    assert res.exit_code == 2
    assert target.read_text() == "keep me\n"


def test_edits_and_deletions_break_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    for _ in range(3):
        decision_log.append(log, {"verdict": "pass"})
    assert decision_log.verify_log(log) == []
    lines = log.read_bytes().splitlines(keepends=True)
    edited = lines[1].replace(b'"pass"', b'"fail"')
    res = run_cli("decision-log", "verify", str(log))
    assert res.exit_code == 0 and "3 entries, chain intact" in res.output
    log.write_bytes(lines[0] + edited + lines[2])
    assert any(":3: prev does not match" in p for p in decision_log.verify_log(log))
    res = run_cli("decision-log", "verify", str(log))
    assert res.exit_code == 1 and ":3: prev does not match" in res.output
    log.write_bytes(lines[0] + lines[2])
    assert any(":2: prev does not match" in p for p in decision_log.verify_log(log))


def test_a_torn_last_line_does_not_swallow_the_next(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    decision_log.append(log, {"n": 1})
    with log.open("ab") as fh:
        fh.write(b'{"n": 2, "trunc')
    decision_log.append(log, {"n": 3})
    lines = log.read_bytes().splitlines()
    assert json.loads(lines[-1])["n"] == 3
    assert any("not JSON" in p for p in decision_log.verify_log(log))


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    big = "x" * 20000  # larger than a pipe buffer: still one line each

    def writer(n: int) -> None:
        for i in range(10):
            decision_log.append(log, {"writer": n, "i": i, "pad": big})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = _lines(log)
    assert len(entries) == 40
    assert sorted((e["writer"], e["i"]) for e in entries) == [(n, i) for n in range(4) for i in range(10)]
    assert decision_log.verify_log(log) == []
