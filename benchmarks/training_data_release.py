"""Benchmark: `model-gate check REL --only training-data` on a release with one million review rows,
this tree against another checkout of model-gate (e.g. the previous release), side by side.

The command is the one a user runs (inventory and digest, both halves of the analysis, the list of
every suspicious row with its byte offsets); runs alternate between the trees; each is timed with
GNU time (`/usr/bin/time -v`: wall clock, CPU, the largest process's peak RSS). With `--shards N`
the same data also runs as N shards plus the merge, one after the other (the CPU a CI matrix would
spread over N jobs).

    python benchmarks/training_data_release.py --other /path/to/previous/checkout [--rows 1000000]
        [--runs 3] [--keep DIR] [--shards 4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.training_data import make  # noqa: E402

MANIFEST = """\
schema_version: 1
name: bench
version: 1.0.0
model: {{path: model/, format: safetensors, task: text-classification}}
deployment: {{exposure: internal, data_sensitivity: none, autonomy: advisory}}
datasets:
  - {{name: reviews, path: data/reviews.jsonl, digest: 'sha256:{digest}'}}
"""


def release(work: Path, rows: int) -> Path:
    rel = work / f"release-{rows}"
    data = rel / "data" / "reviews.jsonl"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        (rel / "model").mkdir(exist_ok=True)
        (rel / "model" / "weights.bin").write_bytes(b"\0" * 64)
        make(data, rows)
    h = hashlib.sha256()
    with open(data, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    (rel / "release.yaml").write_text(MANIFEST.format(digest=h.hexdigest()), "utf-8")
    return rel


def timed(tree: Path, args: list[str], out: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB of the largest process, exit code) of `python -m gate ARGS`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MODEL_GATE_DECISION_LOG": str(out / "log.jsonl")}
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "gate", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out, check=False)
    t = p.stderr

    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.+)", t)
        return m.group(1).strip() if m else "0"

    wall_text = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(x) for x in wall_text.split(":")]
    wall = sum(v * 60 ** (len(parts) - 1 - k) for k, v in enumerate(parts))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = int(field("Maximum resident set size (kbytes)")) / 1024
    return wall, cpu, rss, p.returncode


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--other", type=Path, required=True, help="another model-gate checkout (e.g. the previous release)"
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shards", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="td-release-"))
    work.mkdir(parents=True, exist_ok=True)
    rel = release(work, args.rows)
    trees = {"previous": args.other.resolve(), "this": ROOT}
    res: dict[str, list[tuple[float, float, float]]] = {k: [] for k in trees}
    for run in range(args.runs):
        for name, tree in trees.items():
            out = Path(tempfile.mkdtemp(dir=work))
            check = ["check", str(rel), "--only", "training-data", "--format", "json", "--output", "r.json"]
            wall, cpu, rss, code = timed(tree, check, out)
            res[name].append((wall, cpu, rss))
            load = os.getloadavg()[0]
            print(
                f"run {run + 1} {name:9s} wall {wall:6.1f}s cpu {cpu:6.1f}s rss {rss:5.0f} MiB "
                f"exit {code} load {load:.1f}"
            )
            shutil.rmtree(out, ignore_errors=True)
    print(f"\nmachine {platform.machine()}, {os.cpu_count()} cores, {args.rows:,} rows")
    for name, rs in res.items():
        print(
            f"{name:9s} wall median {statistics.median(r[0] for r in rs):6.1f}s  "
            f"cpu {statistics.median(r[1] for r in rs):6.1f}s  peak RSS max {max(r[2] for r in rs):5.0f} MiB"
        )
    ratio = statistics.median(r[0] for r in res["this"]) / statistics.median(r[0] for r in res["previous"])
    print(f"this / previous (wall): {ratio:.2f}")
    if args.shards:
        n = args.shards
        out = Path(tempfile.mkdtemp(dir=work))
        total = 0.0
        peak = 0.0
        for i in range(1, n + 1):
            shard = ["check", str(rel), "--only", "training-data", "--shard", f"{i}/{n}"]
            shard += ["--format", "json", "--output", f"shard-{i}/r.json"]
            (out / f"shard-{i}").mkdir()
            wall, cpu, rss, code = timed(ROOT, shard, out)
            total += wall
            peak = max(peak, rss)
            print(f"shard {i}/{n}: wall {wall:6.1f}s cpu {cpu:6.1f}s rss {rss:5.0f} MiB exit {code}")
        merge = ["merge", *(f"shard-{i}/r.json" for i in range(1, n + 1))]
        merge += ["--format", "json", "--output", "m.json"]
        wall, cpu, rss, code = timed(ROOT, merge, out)
        print(f"merge: wall {wall:6.1f}s cpu {cpu:6.1f}s rss {rss:5.0f} MiB exit {code}")
        print(
            f"shards: {total / n:.1f}s per job on average, merge {wall:.1f}s, peak {max(peak, rss):.0f} MiB"
        )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
