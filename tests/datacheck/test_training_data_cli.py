"""Where the list of suspicious rows goes when the report does not (`--rows-dir`, the default
directory), and `check --shard I/N` + `merge` through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.datacheck.test_training_data import make_release
from tests.support import run_cli
from tests.support.training_data_gen import jsonl, reviews


@pytest.fixture
def rel(tmp_path: Path) -> Path:
    rows, _ = reviews(1500, 3, trigger="zq7vx", trigger_rate=0.03, flood_rate=0.02)
    return make_release(tmp_path / "rel", [{"name": "sft", "path": "d.jsonl"}], {"d.jsonl": jsonl(rows)})


def json_out(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def td_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == "training-data"]


def test_report_on_stdout_writes_the_rows_into_the_default_directory(
    rel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_GATE_ROWS_DIR", raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    _, report = json_out("check", str(rel), "--only", "training-data")
    rows = work / "model-gate-rows" / "training-data-rows.jsonl"
    assert rows.is_file()
    assert report["artifacts"]["training-data-rows"] == "model-gate-rows/training-data-rows.jsonl"
    trig = next(f for f in td_findings(report) if f["rule"]["name"] == "backdoor-trigger-candidate")
    assert trig["evidence"]["rows_file"] == "model-gate-rows/training-data-rows.jsonl"
    listed = [json.loads(x) for x in rows.read_text("utf-8").splitlines()]
    assert len([r for r in listed if r["finding"] == trig["id"]]) == trig["evidence"]["rows_total"]


def test_rows_dir_names_the_directory(rel: Path, tmp_path: Path) -> None:
    where = tmp_path / "rows"
    _, report = json_out("check", str(rel), "--only", "training-data", "--rows-dir", str(where))
    assert (where / "training-data-rows.jsonl").is_file()
    assert (where / "training-data-remove-rows.json").is_file()
    f0 = td_findings(report)[0]
    assert f0["evidence"]["rows_file"] == f"{where}/training-data-rows.jsonl"
    # Beside a report file, the link is the bare name; --rows-dir elsewhere keeps its path.
    out = tmp_path / "out" / "r.json"
    run_cli("check", str(rel), "--only", "training-data", "--format", "json", "--output", str(out))
    beside = json.loads(out.read_text("utf-8"))
    assert td_findings(beside)[0]["evidence"]["rows_file"] == "training-data-rows.jsonl"
    assert (out.parent / "training-data-rows.jsonl").is_file()


def test_rows_dir_inside_the_release_is_refused(rel: Path) -> None:
    result = run_cli("check", str(rel), "--only", "training-data", "--rows-dir", str(rel / "rows"))
    assert result.exit_code == 2
    assert "--rows-dir" in result.output and "inside the release" in result.output
    assert "Traceback" not in result.output
    assert not (rel / "rows").exists()


def test_default_directory_inside_the_release_writes_nothing(
    rel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_GATE_ROWS_DIR", raising=False)
    monkeypatch.chdir(rel)
    _, report = json_out("check", ".", "--only", "training-data")
    assert not (rel / "model-gate-rows").exists()
    result = next(c for c in report["checks"] if c["id"] == "training-data")
    assert "--rows-dir" in result["details"]["rows_file_not_written"]
    assert all(f["evidence"]["rows_total"] > 0 for f in td_findings(report))


def test_check_shards_and_merge_equal_one_run(rel: Path, tmp_path: Path) -> None:
    single = tmp_path / "single" / "r.json"
    run_cli("check", str(rel), "--only", "training-data", "--format", "json", "--output", str(single))
    n = 3
    for i in range(1, n + 1):
        out = tmp_path / f"s{i}" / "r.json"
        code = run_cli(
            "check", str(rel), "--only", "training-data", "--shard", f"{i}/{n}", "--format", "json",
            "--output", str(out),
        ).exit_code  # fmt: skip
        assert code == 0
        assert (out.parent / f"training-data-shard-{i}-of-{n}.npz").is_file()
    merged = tmp_path / "m" / "r.json"
    shards = [str(tmp_path / f"s{i}" / "r.json") for i in (3, 1, 2)]  # any order
    result = run_cli("merge", *shards, "--format", "json", "--output", str(merged))
    assert result.exit_code == 1, result.output  # the trigger and the flood block, as in one run
    one, both = json.loads(single.read_text("utf-8")), json.loads(merged.read_text("utf-8"))
    assert td_findings(both) == td_findings(one) and td_findings(one)
    for name in ("training-data-rows.jsonl", "training-data-remove-rows.json"):
        assert (merged.parent / name).read_bytes() == (single.parent / name).read_bytes()
    # A missing shard is refused: nothing is judged on part of the rows.
    missing = run_cli("merge", *shards[:2], "--format", "json")
    assert missing.exit_code == 2 and "missing" in missing.output
    twice = run_cli("merge", *shards, shards[0], "--format", "json")
    assert twice.exit_code == 2 and "twice" in twice.output


def _shard_reports(rel: Path, tmp_path: Path, n: int) -> list[Path]:
    outs = []
    for i in range(1, n + 1):
        out = tmp_path / f"s{i}" / "r.json"
        run_cli(
            "check", str(rel), "--only", "training-data", "--shard", f"{i}/{n}", "--format", "json",
            "--output", str(out),
        )  # fmt: skip
        outs.append(out)
    return outs


def test_merge_refuses_hostile_or_foreign_states(rel: Path, tmp_path: Path) -> None:
    outs = _shard_reports(rel, tmp_path, 2)
    # A state file name that leaves the report's directory.
    report = json.loads(outs[0].read_text("utf-8"))
    td = next(c for c in report["checks"] if c["id"] == "training-data")
    td["details"]["state_file"] = "../../etc/passwd"
    bad = tmp_path / "bad" / "r.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(report), "utf-8")
    result = run_cli("merge", str(bad), str(outs[1]))
    assert result.exit_code == 2 and "not a plain file name" in result.output
    # Shard 2's state swapped for shard 2 of another split: the spans are not that shard's.
    other = _shard_reports(rel, tmp_path / "three", 3)
    (outs[1].parent / "training-data-shard-2-of-2.npz").write_bytes(
        (other[1].parent / "training-data-shard-2-of-3.npz").read_bytes()
    )
    result = run_cli("merge", *map(str, outs))
    assert result.exit_code == 2 and "another split" in result.output
    assert "Traceback" not in result.output


def test_merge_needs_the_release_the_shards_read(rel: Path, tmp_path: Path) -> None:
    outs = _shard_reports(rel, tmp_path, 2)
    data = rel / "d.jsonl"
    data.write_bytes(data.read_bytes().replace(b"zq7vx", b"zq7vy", 1))  # the data changed since
    result = run_cli("merge", *map(str, outs), "--format", "json")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    moved = run_cli("merge", *map(str, outs), "--release", str(tmp_path / "nowhere"))
    assert moved.exit_code == 2 and "--release" in moved.output
