"""Detection benchmark: our scanner and the peers side by side on one corpus.

The corpus is built by the test builders (tests/support/scanner/attacks.py and
tests/support/scanner/benign.py): every attack technique plus benign real files
written by torch, safetensors, scikit-learn/joblib, numpy, onnx, gguf and
Hugging Face-style configs. Each item is scanned by every tool in turn
(alternating), then picklescan and ours also scan the whole directory once.

For each tool: detection rate (malicious items flagged), false positives
(benign items flagged), skipped (the tool scanned nothing or failed), wall
time. Usage:  python benchmarks/scanner_corpus.py [--keep DIR] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.peers import Tool, run, tools


def build(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    from tests.support.scanner.attacks import build_attacks
    from tests.support.scanner.benign import build_all

    malicious = build_attacks(root / "malicious", root / "markers")
    bdir = build_all(root / "benign")
    benign = {p.relative_to(bdir).as_posix(): p for p in sorted(bdir.rglob("*")) if p.is_file()}
    # ONNX external data is judged with the model that loads it: scan that directory, not the raw bytes.
    benign.pop("ext/model.onnx.data", None)
    benign["ext/model.onnx"] = bdir / "ext"
    return malicious, benign


def verdict(tool: Tool, code: int, out: str) -> str:
    """flagged | clean | skipped | error, from one run's exit code and output."""
    if code == -9:
        return "error"
    if tool.name == "model-gate":
        if code == 1:
            return "flagged"
        if code == 0:
            doc = json.loads(out[out.index("{") :]) if "{" in out else {}
            rank = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
            # Findings the default policy reports without blocking (custom ONNX domains) still count.
            if any(rank[f["severity"]] >= 2 for f in doc.get("findings", [])):
                return "flagged"
            return "clean"
        return "error"
    if tool.name == "picklescan":
        if "Scanned files: 0" in out:
            return "skipped"
        return {0: "clean", 1: "flagged"}.get(code, "error")
    if tool.name == "modelscan":
        if code == 3 or ("No issues found" not in out and code == 0 and "skipped" in out.lower()):
            return "skipped"
        return {0: "clean", 1: "flagged"}.get(code, "error")
    if tool.name == "fickling":
        return {0: "clean", 1: "flagged"}.get(code, "error")
    if tool.name == "modelaudit":
        return {0: "clean", 1: "flagged"}.get(code, "error")
    return "error"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="Build the corpus here and keep it.")
    ap.add_argument("--only", help="Comma-separated tool names.")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="scanner-corpus-"))
    malicious, benign = build(root)
    print(f"corpus: {len(malicious)} malicious, {len(benign)} benign items in {root}")
    ts = tools()
    if args.only:
        ts = [t for t in ts if t.name in args.only.split(",")]
    for t in ts:
        if not t.available:
            print(f"MISSING peer {t.name}: {t.why_missing}")
    ts = [t for t in ts if t.available]
    items = [(n, p, True) for n, p in malicious.items()] + [(n, p, False) for n, p in benign.items()]
    stats: dict[str, dict[str, float]] = {t.name: defaultdict(float) for t in ts}
    misses: dict[str, list[str]] = {t.name: [] for t in ts}
    fps: dict[str, list[str]] = {t.name: [] for t in ts}
    for name, path, bad in items:
        for t in ts:  # alternate tools item by item
            code, out, took = run(t, path)
            v = verdict(t, code, out)
            s = stats[t.name]
            s["time"] += took
            s[("bad_" if bad else "good_") + v] += 1
            if bad and v != "flagged":
                misses[t.name].append(f"{name}({v})")
            if not bad and v == "flagged":
                fps[t.name].append(name)
    markers = root / "markers"
    assert not any(markers.iterdir()), "a scanner executed a payload"
    nb, ng = len(malicious), len(benign)
    print()
    print(f"| tool | detected (of {nb}) | false positives (of {ng}) | skipped/errors | wall time s |")
    print("|---|---|---|---|---|")
    for t in ts:
        s = stats[t.name]
        skipped = s["bad_skipped"] + s["bad_error"] + s["good_skipped"] + s["good_error"]
        print(
            f"| {t.name} | {int(s['bad_flagged'])} ({100 * s['bad_flagged'] / nb:.0f}%) | "
            f"{int(s['good_flagged'])} | {int(skipped)} | {s['time']:.1f} |"
        )
    print()
    for t in ts:
        print(f"{t.name} missed: {', '.join(misses[t.name]) or '-'}")
        print(f"{t.name} false positives: {', '.join(fps[t.name]) or '-'}")
    # Directory mode: one call over the whole malicious tree.
    print()
    for t in ts:
        if t.name not in ("model-gate", "picklescan"):
            continue
        code, out, took = run(t, root / "malicious")
        print(
            f"directory mode {t.name}: exit {code}, {took:.1f}s, items named in output: "
            f"{sum(1 for n in malicious if n in out)}/{nb}"
        )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
