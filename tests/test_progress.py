"""The events long work reports (gate.progress): what the engine, the inventory and the training
data check say while a real run goes, and that listening changes nothing in the report."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from gate import engine
from gate.inventory import build_inventory
from gate.progress import ByteMeter, Bytes, CheckFinished, CheckStarted, Event, Steps
from tests.support import MINIMAL_MANIFEST


class Heard:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, e: Event) -> None:
        with self.lock:
            self.events.append(e)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


def _release(root: Path) -> Path:
    rows = [{"text": f"review number {i} is fine", "label": i % 2} for i in range(3000)]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    files = {
        "model/weights.bin": os.urandom(5 * 1024 * 1024 + 17),
        "model/extra.bin": os.urandom(1024 * 1024),
        "data/train.jsonl": data,
    }
    for rel, blob in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(blob)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (root / "release.yaml").write_text(
        MINIMAL_MANIFEST + f'datasets:\n  - {{name: "x", path: data/train.jsonl, digest: "{digest}"}}\n'
    )
    return root


def test_a_run_reports_hashing_every_check_and_the_rows_read(tmp_path: Path) -> None:
    rel = _release(tmp_path / "rel")
    heard = Heard()
    request = engine.RunRequest(release_dir=rel, only=("model-files", "training-data"), progress=heard)
    report = engine.check_release(request).report
    # Hashing: bytes only grow, and the last event counts every byte and file of the release.
    hashing = heard.of(Bytes)
    assert [b.done for b in hashing] == sorted(b.done for b in hashing)
    last = hashing[-1]
    total = sum(p.stat().st_size for p in rel.rglob("*") if p.is_file())
    assert (last.phase, last.done, last.total, last.files_done, last.files_total) == (
        "hashing",
        total,
        total,
        4,
        4,
    )
    # Every check that ran is heard starting, then finishing with its report status, in order.
    ran = [c for c in report.checks if c.summary not in (engine.LEFT_OUT_BY_ONLY, engine.SKIPPED_ON_REQUEST)]
    kinds = [(type(e).__name__, e.check) for e in heard.events if isinstance(e, CheckStarted | CheckFinished)]
    assert kinds == [(k, c.id) for c in ran for k in ("CheckStarted", "CheckFinished")]
    finished = heard.of(CheckFinished)
    assert [(f.check, f.status, f.index, f.count) for f in finished] == [
        (c.id, c.status.value, i, len(ran)) for i, c in enumerate(ran, 1)
    ]
    # The training data check tells how many rows it has read, up to all of them.
    steps = heard.of(Steps)
    assert steps and all(s.check == "training-data" and "dataset 1 of 1" in s.unit for s in steps)
    assert steps[-1].done == 3000
    # Hashing comes before any check; each Steps event falls inside its own check's run.
    order = [type(e) for e in heard.events]
    assert max(i for i, t in enumerate(order) if t is Bytes) < order.index(CheckStarted)
    bounds = [
        i
        for i, e in enumerate(heard.events)
        if isinstance(e, CheckStarted | CheckFinished) and e.check == "training-data"
    ]
    inside = [i for i, t in enumerate(order) if t is Steps]
    assert bounds[0] < min(inside) and max(inside) < bounds[1]
    # Listening changes nothing: the same run without a sink gives the same report.
    plain = engine.check_release(engine.RunRequest(release_dir=rel, only=("model-files", "training-data")))
    strip = {"generated_at": True, "checks": {"__all__": {"duration_s"}}}
    assert report.model_dump(exclude=strip) == plain.report.model_dump(exclude=strip)  # type: ignore[arg-type]


def test_the_inventory_counts_bytes_from_parallel_threads_exactly(tmp_path: Path) -> None:
    sizes = [0, 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 - 5] * 4
    for i, n in enumerate(sizes):
        (tmp_path / f"f{i}.bin").write_bytes(os.urandom(n))
    (tmp_path / "link").symlink_to("f1.bin")  # a link is not read twice
    heard = Heard()
    inv = build_inventory(tmp_path, workers=4, progress=heard)
    last = heard.of(Bytes)[-1]
    assert last.done == last.total == sum(sizes) == inv.total_bytes
    assert last.files_done == last.files_total == len(sizes)


def test_the_meter_reports_at_most_every_interval_and_always_the_end() -> None:
    now = [0.0]
    heard = Heard()
    meter = ByteMeter(heard, "hashing", 100, 2, every=1.0, clock=lambda: now[0])
    for _ in range(10):
        meter.add(5)  # all within the same instant: quiet
    assert heard.events == []
    now[0] = 1.5
    meter.add(5, files=1)
    assert heard.events == [Bytes("hashing", 55, 100, 1, 2)]
    meter.add(45, files=1)  # within the interval again
    meter.finish()
    assert heard.events[-1] == Bytes("hashing", 100, 100, 2, 2) and len(heard.events) == 2
