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
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.training_data_gen import review  # noqa: E402

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


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of one command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if Path("/usr/bin/time").exists():
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, check=True)
        took = time.perf_counter() - t
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        return took, (int(m.group(1)) / 1024 if m else float("nan")), p.stdout.strip()
    import resource

    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    took = time.perf_counter() - t
    return took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, p.stdout.strip()


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
    for run in range(args.runs):
        for name, cmd in tools.items():  # alternating: one run of each per round
            took, rss, out = timed(cmd)
            results[name].append((took, rss))
            print(f"run {run + 1} {name:26s} {took:7.2f}s  peak {rss:7.1f} MiB  {out[:160]}")
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"file {size / 1e6:.0f} MB, {args.rows:,} rows"
    )
    ours = statistics.median(t for t, _ in results["model-gate training-data"])
    print(f"{'tool':26s} {'median s':>9s} {'peak MiB':>9s} {'MB/s':>7s} {'ours/tool':>9s}")
    for name, rs in results.items():
        med = statistics.median(t for t, _ in rs)
        rss = max(r for _, r in rs)
        print(f"{name:26s} {med:9.2f} {rss:9.1f} {size / 1e6 / med:7.1f} {ours / med:9.1f}")
    ok = ours < 60 and max(r for _, r in results["model-gate training-data"]) < 1024
    print(f"goal (<60 s, <1 GiB): {'met' if ok else 'NOT met'}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
