"""Before and after a change of structure: `--help`, `scan` and `check` of two revisions side by side.

Usage: python benchmarks/layers.py [--base REV] [--runs 15]

Exports REV (default: the commit before the command layer) with `git archive` into a temporary
directory and runs the same commands from it and from this checkout, alternating (A B A B ...),
each with its own PYTHONPATH and the same interpreter. Prints Markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, machine

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BASE = "fe55f46"  # the last commit with gate/cli.py whole

COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "scan (bad-release, 3 model files)": ["scan", str(ROOT / "examples" / "bad-release")],
    "check demo --only release-integrity": [
        "check",
        str(ROOT / "examples" / "demo-release"),
        "--only",
        "release-integrity",
        "--no-decision-log",
    ],
    "check bad-release --only model-files": [
        "check",
        str(ROOT / "examples" / "bad-release"),
        "--only",
        "model-files",
        "--no-decision-log",
    ],
}


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def gate(checkout: Path, args: list[str]) -> list[str]:
    return ["env", f"PYTHONPATH={checkout}", PY, "-m", "gate", *args]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=BASE)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"Machine: {machine()}; base {args.base}, this checkout at {head}\n")
    with tempfile.TemporaryDirectory(prefix="gate-bench-base-") as d:
        base = export(args.base, Path(d))
        env = {**os.environ, "MODEL_GATE_DECISION_LOG": str(Path(d) / "decisions.jsonl")}
        env.pop("PYTHONPATH", None)
        print("| command | before (median) | after (median) | after / before |")
        print("|---|---|---|---|")
        for label, cmd in COMMANDS.items():
            res = compare(
                {"before": gate(base, cmd), "after": gate(ROOT, cmd)}, runs=args.runs, warmup=2, env=env
            )
            before, after = res["before"].median, res["after"].median
            print(f"| `{label}` | {before:.3f} s | {after:.3f} s | {after / before:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
