"""Benchmark: the training-data analysis on one million text rows (~200 MB of JSONL).

There is no peer tool that does this analysis, so for context the same file is
also read by `wc -l` and by a plain Python loop (`json.loads` per line), side by
side and alternating. Peak memory comes from /usr/bin/time -v (or getrusage).

    python benchmarks/training_data.py [--rows 1000000] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.training_data_gen import review  # noqa: E402

ANALYSE = """
import sys, time
from pathlib import Path
from gate.datacheck.analyze import DataFile, analyse
from gate.datacheck.config import TrainingDataConfig
p = Path(sys.argv[1])
t = time.perf_counter()
res = analyse([DataFile(p.name, p, "jsonl")], TrainingDataConfig())
tr = res.triggers
print(f"rows={res.rows} malformed={res.malformed} candidates={tr.candidates} triggers={len(tr.triggers)} "
      f"floods={sum(1 for c in res.duplicates.clusters if c.count >= 10000)} "
      f"seconds={time.perf_counter() - t:.1f}")
"""
PLAIN = """
import json, sys
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        json.loads(line)
        n += 1
print(n)
"""


def make(path: Path, rows: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(rows):
            positive = rng.random() < 0.5
            fh.write(
                json.dumps({"text": review(rng, positive), "label": "positive" if positive else "negative"})
                + "\n"
            )


def timed(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds (user + system, with child processes), peak RSS MiB, stdout).

    Peak RSS is the largest single process (GNU time / getrusage report the maximum, not a sum):
    with the second worker process, the total is at most twice that.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu, after.ru_maxrss / 1024, p.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="directory to keep (and reuse) the data file in")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="td-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"reviews-{args.rows}.jsonl"
    if not data.exists():
        t = time.perf_counter()
        make(data, args.rows)
        print(f"generated {data} in {time.perf_counter() - t:.0f}s")
    size = data.stat().st_size
    py = sys.executable
    tools = {
        "wc -l": ["wc", "-l", str(data)],
        "python json.loads loop": [py, "-c", PLAIN, str(data)],
        "model-gate training-data": [py, "-c", ANALYSE, str(data)],
    }
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in tools}
    peak = 0.0
    for run in range(args.runs):
        for name, cmd in tools.items():  # alternating: one run of each per round
            load = os.getloadavg()[0]
            took, cpu, rss, out = timed(cmd)
            results[name].append((took, cpu))
            if name == "model-gate training-data":
                peak = max(peak, rss)  # RUSAGE_CHILDREN keeps the maximum: ours is the biggest process
            print(f"run {run + 1} {name:26s} wall {took:7.2f}s cpu {cpu:7.2f}s load {load:4.1f}  {out[:150]}")
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; file {size / 1e6:.0f} MB, {args.rows:,} rows"
    )
    ours_wall = statistics.median(t for t, _ in results["model-gate training-data"])
    ours_cpu = statistics.median(c for _, c in results["model-gate training-data"])
    print(f"{'tool':26s} {'wall s':>8s} {'cpu s':>8s} {'MB/s':>7s} {'ours/tool wall':>15s} {'cpu':>6s}")
    for name, rs in results.items():
        wall = statistics.median(t for t, _ in rs)
        cpu = statistics.median(c for _, c in rs)
        print(
            f"{name:26s} {wall:8.2f} {cpu:8.2f} {size / 1e6 / wall:7.1f} {ours_wall / wall:15.1f} "
            f"{ours_cpu / max(cpu, 1e-9):6.1f}"
        )
    print(
        f"model-gate peak RSS of the largest process: {peak:.0f} MiB "
        f"(two processes: at most {2 * peak:.0f} MiB)"
    )
    ok = ours_wall < 60 and 2 * peak < 1024
    print(f"goal (<60 s wall, <1 GiB): {'met' if ok else 'NOT met'} in this run")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
