"""Every row a training-data finding concerns is listed beside the report, not just five examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.datacheck.test_training_data import make_release
from tests.support import run_cli
from tests.support.training_data_gen import jsonl, reviews

N = 3000


def check_with_report(root: Path, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run `check --format json --output out`; the report and the sidecar rows (empty when none)."""
    run_cli("check", str(root), "--only", "training-data", "--format", "json", "--output", str(out))
    report = json.loads(out.read_text("utf-8"))
    sidecar = out.parent / "training-data-rows.jsonl"
    rows = [json.loads(line) for line in sidecar.read_text("utf-8").splitlines()] if sidecar.exists() else []
    return report, rows


def test_sidecar_lists_every_planted_row_of_every_finding(tmp_path: Path) -> None:
    rows, planted = reviews(N, 3, trigger="zq7vx", trigger_rate=0.02, flood_rate=0.03)
    assert len(planted.trigger_rows) > 10 and len(planted.flood_rows) > 10  # more than five examples
    rel = make_release(tmp_path / "r", [{"name": "sft", "path": "d.jsonl"}], {"d.jsonl": jsonl(rows)})
    report, listed = check_with_report(rel, tmp_path / "out" / "report.json")
    findings = {f["rule"]["name"]: f for f in report["findings"] if f["check"] == "training-data"}
    trig, flood = findings["backdoor-trigger-candidate"], findings["near-duplicate-flood"]
    for f in (trig, flood):
        assert len(f["evidence"]["examples"]) <= 5  # the sample stays a sample
        assert f["evidence"]["rows_file"] == "training-data-rows.jsonl"
        mine = [r for r in listed if r["finding"] == f["id"]]
        assert len(mine) == f["evidence"]["rows_total"]
        assert all(r["dataset"] == "sft" and r["file"] == "d.jsonl" and r["reason"] for r in mine)
    trig_rows = {r["row"] for r in listed if r["finding"] == trig["id"]}
    flood_rows = {r["row"] for r in listed if r["finding"] == flood["id"]}
    assert set(planted.trigger_rows) <= trig_rows
    assert len(set(planted.flood_rows) & flood_rows) >= 0.95 * len(planted.flood_rows)
    assert flood_rows <= set(planted.flood_rows)  # no clean row
    assert report["artifacts"]["training-data-rows"].endswith("training-data-rows.jsonl")
    remove = json.loads((tmp_path / "out" / "training-data-remove-rows.json").read_text("utf-8"))
    assert set(planted.trigger_rows) <= set(remove["sft"]["d.jsonl"])
    assert remove["sft"]["d.jsonl"] == sorted(set(remove["sft"]["d.jsonl"]))


def test_clean_twin_writes_an_empty_list(tmp_path: Path) -> None:
    rows, _ = reviews(N, 1)
    rel = make_release(tmp_path / "r", [{"name": "sft", "path": "d.jsonl"}], {"d.jsonl": jsonl(rows)})
    report, listed = check_with_report(rel, tmp_path / "out" / "report.json")
    assert [f for f in report["findings"] if f["check"] == "training-data"] == []
    assert listed == []
    remove = json.loads((tmp_path / "out" / "training-data-remove-rows.json").read_text("utf-8"))
    assert remove == {}
