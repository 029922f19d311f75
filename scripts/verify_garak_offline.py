"""Find which garak probes run fully offline, with every detector evaluating.

Runs the installed garak (as `python -m garak`, the same interpreter) against
its echo target `test.Repeat` with HF_HUB_OFFLINE=1 and empty, private XDG
directories, so nothing downloaded earlier can help. A probe counts as offline
safe when the run completes and every detector garak queued for it (its
primary detector, as listed in the report's plugin cache) has an eval row with
total_evaluated > 0. Writes gate/data/redteam/offline-probes.txt.

    python scripts/verify_garak_offline.py [--candidates FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "gate" / "data" / "redteam" / "offline-probes.txt"


def active_probes() -> list[str]:
    from garak import _config
    from garak._plugins import enumerate_plugins

    _config.load_base_config()
    return [n.removeprefix("probes.") for n, active in enumerate_plugins("probes") if active]


Evals = dict[str, dict[str, int]]


def run(probes: list[str], home: Path, timeout: float) -> tuple[Evals, dict[str, str], str]:
    """One garak run; returns ({probe: {detector: total_evaluated}}, {probe: primary}, tail of output)."""
    cfg = home / "cfg.json"
    out = home / "reports"
    cfg.write_text(
        json.dumps(
            {
                "run": {"generations": 1, "soft_probe_prompt_cap": 2, "seed": 1},
                "plugins": {"target_type": "test.Repeat", "extended_detectors": False},
                "reporting": {
                    "report_dir": str(out),
                    "report_prefix": "v",
                    "confidence_interval_method": "none",
                },
            }
        )
    )
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        HF_HOME=str(home / "hf"),
    )
    spec = ",".join(f"probes.{p}" for p in probes)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "garak", "--config", str(cfg), "--spec", spec],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        tail = (proc.stdout + proc.stderr)[-600:]
    except subprocess.TimeoutExpired:
        return {}, {}, "timeout"
    evals: dict[str, dict[str, int]] = {}
    primary: dict[str, str] = {}
    rep = out / "v.report.jsonl"
    if not rep.exists():
        return {}, {}, tail
    complete = False
    for line in rep.read_text("utf-8").splitlines():
        row = json.loads(line)
        if row.get("entry_type") == "eval":
            evals.setdefault(row["probe"], {})[row["detector"]] = row["total_evaluated"]
        elif row.get("entry_type") == "plugin_cache":
            for name, meta in row["plugin_cache"].get("probes", {}).items():
                primary[name.removeprefix("probes.")] = meta.get("primary_detector") or ""
        elif row.get("entry_type") == "completion":
            complete = True
    if not complete:
        return {}, {}, tail
    return evals, primary, tail


def ok(probe: str, evals: dict[str, dict[str, int]], primary: dict[str, str]) -> bool:
    got = evals.get(probe, {})
    want = primary.get(probe)
    if not got or (want and want not in got):
        return False
    return all(n > 0 for n in got.values())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=Path, help="one probe per line; default: every active probe")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--timeout", type=float, default=240.0)
    args = ap.parse_args()
    if args.candidates:
        names = [ln.strip() for ln in args.candidates.read_text().splitlines() if ln.strip()]
    else:
        names = active_probes()
    import garak

    safe: list[str] = []
    failed: dict[str, str] = {}
    # One probe per run: a probe that crashes garak must not hide the others.
    for name in names:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="garak-offline-") as tmp:
            evals, primary, tail = run([name], Path(tmp), args.timeout)
        took = time.perf_counter() - start
        if ok(name, evals, primary):
            safe.append(name)
            print(f"ok    {name} ({took:.1f}s)", flush=True)
        else:
            failed[name] = tail.strip().splitlines()[-1] if tail.strip() else "no output"
            got = json.dumps(evals.get(name, {}))
            print(f"FAIL  {name} ({took:.1f}s): {got} {failed[name][:160]}", flush=True)
    header = (
        f"# garak {garak.__version__}: probes verified to run offline (HF_HUB_OFFLINE=1, empty caches),\n"
        "# every queued detector evaluating. Regenerate: python scripts/verify_garak_offline.py\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + "".join(f"{n}\n" for n in sorted(safe)), "utf-8")
    print(f"{len(safe)} of {len(names)} probes offline-safe; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
