"""What the ML-BOM adds to `model-gate check` of the demo release, next to pip-audit's own BOM.

Runs, alternating, several times each:
  A  model-gate check examples/demo-release --policy P                (the audit included)
  B  model-gate check examples/demo-release --policy P --sbom FILE    (A + the CycloneDX ML-BOM)
  C  pip-audit -r requirements.txt --no-deps --disable-pip -s osv --osv-url URL -f cyclonedx-json
     (the peer: pip-audit's own CycloneDX BOM of the same dependencies, no model in it)
against an OSV mirror on 127.0.0.1 serving examples/osv-records, so nothing touches the network.
Also times build_bom() in process (warm), to show where the added time goes.

Usage: python benchmarks/sbom.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.osv_mirror import running  # noqa: E402

DEMO = ROOT / "examples" / "demo-release"


def timed(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return took


def machine() -> str:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 2**20:.1f} GiB RAM"
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp, running(ROOT / "examples" / "osv-records") as server:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(
            f"version: 1\nname: bench\nextends: [{ROOT / 'examples' / 'demo-policy.yaml'}]\n"
            f"defaults:\n  checks:\n    dependencies:\n      osv_url: {server.url}\n"
        )
        check = [
            sys.executable,
            "-m",
            "gate",
            "check",
            str(DEMO),
            "--policy",
            str(policy),
            "--format",
            "json",
            "--output",
            str(Path(tmp) / "report.json"),
            "--no-decision-log",
        ]
        commands = {
            "A check": check,
            "B check --sbom": [*check, "--sbom", str(Path(tmp) / "bom.cdx.json")],
            "C pip-audit -f cyclonedx-json": [
                sys.executable,
                "-m",
                "pip_audit",
                "-r",
                str(DEMO / "requirements.txt"),
                "--no-deps",
                "--disable-pip",
                "-s",
                "osv",
                "--osv-url",
                server.url + "/v1/query",
                "-f",
                "cyclonedx-json",
                "--progress-spinner",
                "off",
                "-o",
                str(Path(tmp) / "peer.cdx.json"),
            ],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for cmd in commands.values():  # warm-up: page cache, .pyc files
            timed(cmd, env)
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(timed(cmd, env))

        # In process: the BOM alone, from the same Release and report the check produced.
        from gate import engine
        from gate.sbom import audit_from_report, build_bom

        judged = engine.check_release(engine.RunRequest(release_dir=DEMO, policy=str(policy)))
        release, report = judged.release, judged.report
        cold_start = time.perf_counter()
        build_bom(release, audit_from_report(release, report), report)
        cold = time.perf_counter() - cold_start
        warm = []
        for _ in range(20):
            s = time.perf_counter()
            build_bom(release, audit_from_report(release, report), report)  # type: ignore[arg-type]
            warm.append(time.perf_counter() - s)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"machine: {machine()}")
    print(f"runs: {args.runs} each, alternating A, B, C; medians in seconds")
    for k, v in med.items():
        print(f"  {k:<32} {v:6.3f}   (min {min(times[k]):.3f}, max {max(times[k]):.3f})")
    a, b, c = med["A check"], med["B check --sbom"], med["C pip-audit -f cyclonedx-json"]
    added = b - a
    print(f"  BOM added to check (B - A)       {added:6.3f}   ratio B/A {b / a:.2f}")
    print(f"  check --sbom vs pip-audit BOM    ratio B/C {b / c:.2f}")
    print(
        f"  build_bom in process: first call {cold:.3f} (includes importing cyclonedx), "
        f"then median {statistics.median(warm) * 1000:.1f} ms"
    )
    print("goal: the BOM adds under 1 s to check:", "met" if added < 1.0 else "NOT met")
    return 0 if added < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
