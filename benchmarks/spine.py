"""Spine benchmarks: --help latency, a check of the demo release, and the inventory vs sha256sum.

Usage: python benchmarks/spine.py [--size-gb 2] [--runs 5]
Writes nothing but temporary files (removed afterwards); prints Markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, machine, table

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GATE = str(Path(PY).with_name("model-gate"))


def make_files(root: Path, total: int, count: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    size = total // count
    block = os.urandom(1024 * 1024)
    paths = []
    for i in range(count):
        p = root / f"model-{i:05d}-of-{count:05d}.safetensors"
        with open(p, "wb") as fh:
            for _ in range(size // len(block)):
                fh.write(block)
        paths.append(p)
    return paths


INVENTORY = (
    "import sys; from pathlib import Path; from gate.inventory import build_inventory; "
    "inv = build_inventory(Path(sys.argv[1])); print(inv.digest)"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"Machine: {machine()}\n")

    print("### `model-gate --help` (goal < 0.3 s)\n")
    res = compare(
        {"model-gate --help": [GATE, "--help"], "python -c pass": [PY, "-c", "pass"]}, runs=args.runs * 2
    )
    print(table(res, "python -c pass") + "\n")

    print("### `model-gate check examples/demo-release`, spine checks (goal < 2 s)\n")
    demo = [GATE, "check", str(ROOT / "examples/demo-release"), "--only", "release-integrity"]
    res = compare({"check demo (release-integrity, risk-tier)": demo}, runs=args.runs)
    print(table(res, "check demo (release-integrity, risk-tier)") + "\n")

    total = int(args.size_gb * 2**30)
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as d:
        for count in (1, 8):
            root = Path(d) / f"r{count}"
            files = make_files(root, total, count)
            label = f"{args.size_gb:g} GB in {count} file(s)"
            print(f"### Inventory of {label} (goal ≤ 1.1× sha256sum; faster with several files)\n")
            res = compare(
                {
                    "sha256sum": ["sha256sum", *map(str, files)],
                    "gate inventory": [PY, "-c", INVENTORY, str(root)],
                },
                runs=args.runs,
            )
            print(table(res, "sha256sum") + "\n")
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
