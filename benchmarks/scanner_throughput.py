"""Throughput: `model-gate scan` vs picklescan on a 1 GB PyTorch checkpoint.

Builds a real torch.save checkpoint of about 1 GB (16 float32 tensors of
64 MiB; zip format, or the legacy format with `--legacy`), warms the page cache
(or, with `--cold`, drops the file from it before every run with
posix_fadvise(DONTNEED)), then runs both scanners alternately, several runs
each, and prints the medians and the ratio. Peak memory comes from
/usr/bin/time -v when available. `--root DIR` installs model-gate from another
checkout (an older commit, for before/after figures).

Both commands are console scripts of ordinary (non-editable) installs in their own virtual
environments, as users run them: picklescan from the peers' environment, model-gate installed
from this checkout into a fresh one (`--ours-venv`, rebuilt each run). An editable install or
a development environment full of `.pth` hooks adds 10-30 ms to every Python start, which at
this scale would measure the environment rather than the scanner.

Usage: python benchmarks/scanner_throughput.py [--runs N] [--size-mb MB] [--keep FILE] [--ours-venv DIR]
       [--legacy] [--cold] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.peers import QUIET_ENV, ROOT, tools


def build(path: Path, size_mb: int, legacy: bool = False) -> None:
    import torch

    n = 16
    per = size_mb * 1024 * 1024 // 4 // n
    state = {f"layers.{i}.weight": torch.zeros(per) for i in range(n)}
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)


def drop_from_cache(path: Path) -> None:
    """Evict the file's pages (no root needed, other jobs' caches untouched)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(argv: list[str]) -> tuple[float, int, int]:
    """(seconds, exit code, peak RSS KiB) of one run."""
    import time

    env = {**os.environ, **QUIET_ENV}  # each command runs its own installed copy...
    env.pop("PYTHONPATH", None)  # ...not a checkout that PYTHONPATH would put in front of it
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    cmd = [timer, "-v", *argv] if timer else argv
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - start
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return took, p.returncode, int(m.group(1)) if m else 0


OURS_INPROC = """
import sys, time
from pathlib import Path
from gate.scanner.allowlist import effective
from gate.scanner.interface import Settings
from gate.scanner.scan import FileInfo, analyse_file
from gate.scanner.registry import ANALYSERS, analyser_for
for fmt in ANALYSERS:  # imported lazily by design; picklescan imports its modules up front
    analyser_for(fmt)
p = Path(sys.argv[1])
s = Settings(allowlist=effective())
t = time.perf_counter()
r = analyse_file(FileInfo(p, p.name, p.stat().st_size), s)
print(time.perf_counter() - t, len(r.issues), r.bytes_read)
"""
PEER_INPROC = """
import sys, time
from picklescan.scanner import scan_file_path
t = time.perf_counter()
r = scan_file_path(sys.argv[1], strict=True)
print(time.perf_counter() - t, r.issues_count, r.scanned_files)
"""


def inproc(python: str, code: str, path: Path, root: Path = ROOT) -> float:
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(root)}
    p = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, env=env, check=True)
    return float(p.stdout.split()[0])


def install_ours(venv: Path, root: Path = ROOT) -> Path:
    """model-gate's console script from a regular install of a checkout (core dependencies)."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--force-reinstall",
         "--no-deps", str(root)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(root)], check=True
    )  # the dependencies, once
    return venv / "bin" / "model-gate"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--ours-venv", type=Path, help="virtual environment to install model-gate into (kept)")
    ap.add_argument("--legacy", action="store_true", help="the legacy (non-zip) torch.save format")
    ap.add_argument(
        "--cold", action="store_true", help="drop the checkpoint from the page cache before each run"
    )
    ap.add_argument(
        "--root", type=Path, default=ROOT, help="checkout of model-gate to install (default: this)"
    )
    ap.add_argument(
        "--before", type=Path, help="an earlier checkout, run as a third command (model-gate before)"
    )
    ap.add_argument("--before-venv", type=Path, help="virtual environment for --before (kept)")
    args = ap.parse_args()
    path = args.keep or Path(tempfile.mkdtemp(prefix="scanner-tp-")) / "checkpoint.pt"
    if not path.exists():
        build(path, args.size_mb, args.legacy)
    size = path.stat().st_size

    def prepare() -> None:
        if args.cold:
            drop_from_cache(path)
        else:
            path.read_bytes()  # warm the page cache so both tools see the same state

    prepare()
    by_name = {t.name: t for t in tools()}
    ours, peer = by_name["model-gate"], by_name["picklescan"]
    if not peer.available:
        print(f"MISSING peer picklescan: {peer.why_missing}")
        return
    venv_dir = args.ours_venv or Path(tempfile.mkdtemp(prefix="scanner-tp-venv-"))
    script = install_ours(venv_dir, args.root.resolve())
    cmds = {
        "model-gate": [str(script), "scan", str(path)],
        "picklescan": [*peer.argv, str(path)],
    }
    if args.before:
        old_venv = args.before_venv or Path(tempfile.mkdtemp(prefix="scanner-tp-before-"))
        cmds["model-gate before"] = [str(install_ours(old_venv, args.before.resolve())), "scan", str(path)]
    del ours
    times: dict[str, list[float]] = {k: [] for k in cmds}
    rss: dict[str, list[int]] = {k: [] for k in cmds}
    codes: dict[str, set[int]] = {k: set() for k in cmds}
    for _ in range(args.runs):
        for name, argv in cmds.items():  # alternate
            prepare()
            t, code, kb = timed(argv)
            times[name].append(t)
            rss[name].append(kb)
            codes[name].add(code)
    kind = "legacy" if args.legacy else "zip"
    cache = "cold (evicted before each run)" if args.cold else "warm"
    print(f"checkpoint: {size / 2**20:.0f} MiB, {kind} format, cache {cache}, {args.runs} runs each")
    print("| tool | median s | min s | max s | MiB/s (median) | peak RSS MiB | exit codes |")
    print("|---|---|---|---|---|---|---|")
    for name in cmds:
        med = statistics.median(times[name])
        print(
            f"| {name} | {med:.3f} | {min(times[name]):.3f} | {max(times[name]):.3f} | "
            f"{size / 2**20 / med:.0f} | {max(rss[name]) / 1024:.0f} | {sorted(codes[name])} |"
        )
    ratio = statistics.median(times["picklescan"]) / statistics.median(times["model-gate"])
    print(f"end-to-end ratio model-gate / picklescan (higher is faster): {ratio:.2f}")
    if "model-gate before" in times:
        old = statistics.median(times["picklescan"]) / statistics.median(times["model-gate before"])
        print(f"end-to-end ratio model-gate before / picklescan (higher is faster): {old:.2f}")
    # The same file scanned in a fresh process, timing only the scan (imports excluded).
    peer_python = str(Path(peer.argv[0]).parent / "python")
    scan_t: dict[str, list[float]] = {"model-gate": [], "picklescan": []}
    if args.before:
        scan_t["model-gate before"] = []
    for _ in range(args.runs):
        prepare()
        scan_t["model-gate"].append(inproc(sys.executable, OURS_INPROC, path, args.root.resolve()))
        prepare()
        scan_t["picklescan"].append(inproc(peer_python, PEER_INPROC, path))
        if args.before:
            prepare()
            scan_t["model-gate before"].append(
                inproc(sys.executable, OURS_INPROC, path, args.before.resolve())
            )
    print("| tool | scan only, median s | GiB/s |")
    print("|---|---|---|")
    for name, ts in scan_t.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.4f} | {size / 2**30 / med:.1f} |")
    r2 = statistics.median(scan_t["picklescan"]) / statistics.median(scan_t["model-gate"])
    print(f"scan-only ratio model-gate / picklescan (higher is faster): {r2:.2f}")
    if not args.keep:
        shutil.rmtree(path.parent, ignore_errors=True)
    if not args.ours_venv:
        shutil.rmtree(venv_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
