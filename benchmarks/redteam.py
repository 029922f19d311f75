"""Benchmark: the adversarial check's overhead over garak alone, and a cached re-run.

Side by side in one run, alternating, against the same target (a vulnerable
OpenAI-compatible server on 127.0.0.1 in this process) and the same probes:

- garak alone: `python -m garak --config C --spec P` with the same generator and
  run settings the gate uses (same private XDG dirs, HF_HUB_OFFLINE=1);
- the gate, uncached: `python -m gate redteam REL --no-cache` (whole CLI: manifest,
  inventory, policy, garak, report parsing, judging, JSON rendering);
- the gate, cached: the same with a warm cache (no garak, no endpoint call);
- the cache again against a real model: the demo's tiny GPT-2 behind
  gate.redteam.demo_server, uncached (--no-cache) against cached.

Prints medians and ratios (goals: gate/garak <= 1.1, uncached/cached >= 20).

    python benchmarks/redteam.py [--runs 5] [--model-runs 3] [--probes a.B,c.D] [--prompt-cap 16]

The default probes are the `fast` set that `model-gate check` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.redteam_targets import serve, url_of, vulnerable_reply  # noqa: E402


def fast_set() -> str:
    """The default policy's probe set for `model-gate check`."""
    from gate.redteam.catalog import load_catalog

    return ",".join(load_catalog().probe_set("fast"))


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(
            f"{' '.join(cmd[:4])}... exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return took


def write_release(
    tmp: Path, url: str, model: str, probes: list[str], cap: int, thresholds: dict[str, float] | None = None
) -> Path:
    """release/ (its model files are the caller's) attacking `url`, and the policy that runs only
    the adversarial check with these probes; returns the policy's path."""
    (tmp / "release" / "release.yaml").write_text(
        textwrap.dedent(
            f"""\
            schema_version: 1
            name: bench
            version: 1.0.0
            model: {{path: model/, format: safetensors, task: text-generation}}
            deployment: {{exposure: internal, data_sensitivity: none, autonomy: advisory}}
            endpoint: {{type: openai, url: "{url}", model: {model}}}
            """
        )
    )
    settings: dict[str, object] = {"probes": probes, "prompt_cap": cap}
    if thresholds:
        settings["thresholds"] = thresholds
    pol = tmp / "policy.yaml"
    pol.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: bench
            defaults:
              required: [risk-tier, adversarial]
              checks:
                adversarial: {json.dumps(settings)}
            """
        )
    )
    return pol


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--probes", default=None, help="comma-separated; default: the fast set")
    ap.add_argument("--prompt-cap", type=int, default=16)
    ap.add_argument("--model-runs", type=int, default=3, help="runs against the tiny model (0: skip)")
    args = ap.parse_args()
    probes = (args.probes or fast_set()).split(",")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-redteam-") as tmp_s, serve(vulnerable_reply) as srv:
        tmp = Path(tmp_s)
        url = url_of(srv)
        rel = tmp / "release"
        (rel / "model").mkdir(parents=True)
        (rel / "model" / "model.safetensors").write_bytes(os.urandom(1 << 20))
        pol = write_release(tmp, f"{url}/v1", "target", probes, args.prompt_cap, {"prompt-injection": 0.1})
        home = tmp / "garak-home"
        garak_cfg = tmp / "garak.json"
        garak_cfg.write_text(
            json.dumps(
                {
                    "system": {"parallel_attempts": False, "lite": True, "narrow_output": True},
                    "run": {"generations": 1, "soft_probe_prompt_cap": args.prompt_cap, "seed": 7},
                    "plugins": {
                        "target_type": "openai.OpenAICompatible",
                        "target_name": "target",
                        "extended_detectors": False,
                        "generators": {
                            "openai": {"OpenAICompatible": {"uri": f"{url}/v1", "max_tokens": 150}}
                        },
                    },
                    "reporting": {
                        "report_dir": str(tmp / "garak-alone"),
                        "report_prefix": "alone",
                        "confidence_interval_method": "none",
                    },
                }
            )
        )
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(ROOT),
            HF_HUB_OFFLINE="1",
            OPENAICOMPATIBLE_API_KEY="no-key-required",
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            XDG_CACHE_HOME=str(home / "cache"),
            MODEL_GATE_CACHE_DIR=str(tmp / "gate-cache"),
        )
        spec = ",".join(f"probes.{p}" for p in probes)
        garak_cmd = [py, "-m", "garak", "--config", str(garak_cfg), "--spec", spec]
        gate_base = [
            py,
            "-m",
            "gate",
            "redteam",
            str(rel),
            "--policy",
            str(pol),
            "--format",
            "json",
            "--output",
            str(tmp / "out.json"),
        ]
        gate_cmd = [*gate_base, "--no-cache"]
        # Warm-up (imports, bytecode) and the cache fill; not counted.
        timed(garak_cmd, env, tmp)
        timed(gate_base, env, tmp)
        alone: list[float] = []
        gate: list[float] = []
        cached: list[float] = []
        for i in range(args.runs):
            pair = [(garak_cmd, alone), (gate_cmd, gate)]
            for cmd, sink in pair if i % 2 == 0 else reversed(pair):
                sink.append(timed(cmd, env, tmp))
            cached.append(timed(gate_base, env, tmp))
        report = json.loads((tmp / "out.json").read_text())
        adv = next(c for c in report["checks"] if c["id"] == "adversarial")
        attempts = sum(c["total"] for c in adv["details"]["categories"])
        ma, mg, mc = (statistics.median(x) for x in (alone, gate, cached))
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
            f"Python {platform.python_version()}"
        )
        print(f"probes: {', '.join(probes)} (prompt cap {args.prompt_cap}, {attempts} attempts)")
        print(f"runs: {args.runs} each, alternating")
        print(f"garak alone       median {ma:7.2f} s   runs {[round(x, 2) for x in alone]}")
        print(f"gate (no cache)   median {mg:7.2f} s   runs {[round(x, 2) for x in gate]}")
        print(f"gate (cached)     median {mc:7.2f} s   runs {[round(x, 2) for x in cached]}")
        print(f"overhead ratio gate/garak: {mg / ma:.3f}  (goal <= 1.1)")
        print(f"cache speed-up uncached/cached, echo target: {mg / mc:.1f}x  (goal >= 20)")
    if args.model_runs:
        model_cache(args.model_runs, probes, args.prompt_cap)
    return 0


def model_cache(runs: int, probes: list[str], cap: int) -> None:
    """The cache against a real model: the demo's tiny GPT-2 served on 127.0.0.1."""
    import threading

    from gate.redteam.demo_server import serve as serve_model

    py = sys.executable
    srv = serve_model(ROOT / "examples" / "demo-release" / "model", port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-redteam-model-") as tmp_s:
            tmp = Path(tmp_s)
            rel = tmp / "release"
            url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
            shutil.copytree(ROOT / "examples" / "demo-release" / "model", rel / "model")
            pol = write_release(tmp, url, "tiny", probes, cap)
            env = dict(os.environ, PYTHONPATH=str(ROOT), MODEL_GATE_CACHE_DIR=str(tmp / "cache"))
            base = [py, "-m", "gate", "redteam", str(rel), "--policy", str(pol), "--format", "json"]
            timed(base, env, tmp)  # fills the cache
            uncached: list[float] = []
            cached: list[float] = []
            for _ in range(runs):
                uncached.append(timed([*base, "--no-cache"], env, tmp))
                cached.append(timed(base, env, tmp))
            mu, mc = statistics.median(uncached), statistics.median(cached)
            print(f"tiny GPT-2, gate (no cache) median {mu:7.2f} s   runs {[round(x, 2) for x in uncached]}")
            print(f"tiny GPT-2, gate (cached)   median {mc:7.2f} s   runs {[round(x, 2) for x in cached]}")
            print(f"cache speed-up uncached/cached, tiny model: {mu / mc:.1f}x  (goal >= 20)")
    finally:
        srv.shutdown()
        srv.server_close()


if __name__ == "__main__":
    sys.exit(main())
