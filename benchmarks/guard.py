"""Benchmark: the guarded red-team run against the bare run of the same probes, and the demo guards.

Alternating, several runs each: `model-gate redteam` of a release with the NeMo strong guard
(garak through the guard: `guarded_seconds` in the report, with the guard's mean time per
decision and its request count) and of the same release without a guard, attacked with the
same probes (the policy's probes plus the guard-bypass set; `garak_seconds`).
Goal: guarded − bare ≤ guard latency × attack requests (no overhead of the gate's own).

The whole-run difference is noisy on a shared machine (garak's own run, mostly start-up and
detectors, varies by seconds while the attacks take about one), so it is given with a
distribution-free interval for the median of the paired differences, and the time is also
taken apart where it is spent: garak, run by the gate as for any release, through a timing
pass-through once to the target and once to the guard front (the guard child started as the
check starts it, NeMo strong), alternating. Per run: the requests' time in service (the guard's
decisions inside it, from its decision log) and garak's own time (its run minus that). The goal
in those terms: guarded − bare time in service ≤ the guard's decisions, and garak's own time
unchanged; what the front adds = guarded service − the guard's decisions − bare service.

Then each demo guard (NeMo strong and weak, Lakera-compatible strong, weak and everything) is
run once: block rate per category and false-refusal rate on the benign set.

    python benchmarks/guard.py [--runs 3] [--prompt-cap 8] [--traced-runs 5]

Target: the vulnerable OpenAI-compatible test server on 127.0.0.1 in this process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.redteam.demo_guard import running  # noqa: E402
from gate.redteam.guard import (  # noqa: E402
    GUARD_LLM_KEY_VAR,
    TARGET_KEY_VAR,
    prepare_nemo_config,
    read_decisions,
    start_guard,
)
from gate.redteam.guard_server import ServerSpec  # noqa: E402
from gate.release import load_release  # noqa: E402
from tests.support.redteam_targets import guarded_release, serve, url_of, vulnerable_reply  # noqa: E402

PROBES = ["promptinject.HijackHateHumans", "exploitation.SQLInjectionEcho"]


def write_release(root: Path, url: str, guard: str, config: Path | None) -> Path:
    if root.exists():
        shutil.rmtree(root)
    return guarded_release(root, url, guard, config)


def write_policy(
    path: Path, cap: int, bare: bool, guard_url: str | None, probes: list[str] | None = None
) -> Path:
    more = f"      guard_url: {guard_url}\n" if guard_url else ""
    path.write_text(
        "version: 1\nname: bench\ndefaults:\n  required: [risk-tier, adversarial]\n  checks:\n"
        f"    adversarial:\n      probes: {json.dumps(probes or PROBES)}\n      prompt_cap: {cap}\n"
        f"      guard_bare_run: {str(bare).lower()}\n      guard_allow_python_actions: true\n"
        "      timeout_s: 1200\n" + more,
        "utf-8",
    )
    return path


def run(rel: Path, pol: Path, tmp: Path) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODEL_GATE_CACHE_DIR": str(tmp / "cache")}
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gate",
            "redteam",
            str(rel),
            "--policy",
            str(pol),
            "--no-cache",
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"exit {proc.returncode}: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    rep = json.loads(proc.stdout)
    details = next(c for c in rep["checks"] if c["id"] == "adversarial")["details"]
    return took, details.get("guard") or details


class _Timed(BaseHTTPRequestHandler):
    """A pass-through in front of the target or the guard front, the same in both traced runs:
    it keeps one upstream connection per client connection and notes each POST's time in service
    (request read to answer written, the upstream's whole round trip included)."""

    server: _Tracer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self, method: str) -> None:
        start = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        up = self.server.upstream
        conn = getattr(self, "_conn", None) or http.client.HTTPConnection(
            up.hostname or "127.0.0.1", up.port, timeout=120
        )
        self._conn = conn
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(method, up.path.rstrip("/") + self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if method == "POST":
            self.server.spans.append((start, time.perf_counter()))

    def do_POST(self) -> None:
        self._forward("POST")

    def do_GET(self) -> None:
        self._forward("GET")


class _Tracer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Timed)
        self.upstream = urlsplit(upstream)
        self.spans: list[tuple[float, float]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def traced(url: str, tmp: Path, runs: int, probes: list[str], cap: int) -> dict[str, float]:
    """garak, run by the gate as for any release, once through a timing pass-through to the
    target and once through the same pass-through to the guard front (the guard child started
    as the check starts it, NeMo strong), alternating. Per run: requests, time in service,
    garak's own time (its run minus time in service) and the guard's decisions."""
    rel = write_release(
        tmp / "front",
        url,
        "guard: {type: nemo-guardrails, config: guard/}\n",
        ROOT / "examples" / "guards" / "nemo-strong",
    )
    prepared = prepare_nemo_config(
        load_release(rel),
        "guard/",
        tmp / "front-config",
        allow_python=True,
        main_url=f"{url}/v1",
        main_model="target",
        guard_llm_url=None,
        guard_llm_model=None,
    )
    log = tmp / "front-decisions.jsonl"
    spec = ServerSpec(
        kind="nemo-guardrails",
        config_dir=str(prepared.path),
        ready_file=str(tmp / "front.port"),
        decision_log=str(log),
        max_requests=1000 * (runs + 1),
        max_seconds=7200.0,
        timeout_s=60.0,
    )
    secrets = {TARGET_KEY_VAR: "no-key-required", GUARD_LLM_KEY_VAR: "no-key-required"}
    policy = write_policy(tmp / "traced.yaml", cap, False, None, probes)
    rows: dict[str, list[dict[str, float]]] = {"bare": [], "guarded": []}
    with start_guard(spec, tmp / "front-run", secrets=secrets, startup_timeout_s=120.0) as g:
        tracers = {"bare": _Tracer(f"{url}/v1"), "guarded": _Tracer(g.url)}
        for t in tracers.values():
            threading.Thread(target=t.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        releases = {k: write_release(tmp / f"traced-{k}", t.url, "", None) for k, t in tracers.items()}
        run(releases["guarded"], policy, tmp)  # warm-up: the guard's first calls load its rails
        for i in range(runs):
            for which in ("bare", "guarded") if i % 2 == 0 else ("guarded", "bare"):
                tracer = tracers[which]
                tracer.spans.clear()
                skip = len(read_decisions(log))
                details = run(releases[which], policy, tmp)[1]
                decisions = read_decisions(log)[skip:] if which == "guarded" else []
                service = sum(b - a for a, b in tracer.spans)
                rows[which].append(
                    {
                        "garak": details["garak_seconds"],
                        "requests": len(tracer.spans),
                        "service": service,
                        "own": details["garak_seconds"] - service,
                        "decisions": sum(float(d["seconds"]) for d in decisions),
                        "decided": len(decisions),
                    }
                )
                r = rows[which][-1]
                print(
                    f"traced {i + 1} {which}: garak {r['garak']:.2f} s, {r['requests']:.0f} requests, "
                    f"in service {r['service']:.3f} s, garak's own {r['own']:.2f} s"
                    + (f", guard deciding {r['decisions']:.3f} s ({r['decided']:.0f})" if decisions else "")
                )
        for t in tracers.values():
            t.shutdown()
    g_, b_ = rows["guarded"], rows["bare"]
    assert all(r["requests"] == r["decided"] for r in g_), "a request the guard did not decide"
    med = statistics.median
    return {
        "requests": med(r["requests"] for r in g_),
        "garak": med(x["garak"] - y["garak"] for x, y in zip(g_, b_, strict=True)),
        "service": med(x["service"] - y["service"] for x, y in zip(g_, b_, strict=True)),
        "own": med(x["own"] - y["own"] for x, y in zip(g_, b_, strict=True)),
        "decisions": med(x["decisions"] for x in g_),
        "front": med(x["service"] - x["decisions"] - y["service"] for x, y in zip(g_, b_, strict=True)),
    }


def median_interval(diffs: list[float]) -> tuple[float, float, float]:
    """A distribution-free interval for the true median of paired differences (order statistics
    of the sign test): (low, high, coverage)."""
    xs = sorted(diffs)
    n = len(xs)
    cdf = 0.0
    k = 0
    # widest k with P(Binomial(n, 1/2) < k) <= 2.5 %: the interval is xs[k] .. xs[n-1-k]
    while True:
        nxt = cdf + math.comb(n, k) / 2**n
        if nxt > 0.025:
            break
        cdf, k = nxt, k + 1
    if k == 0:  # too few runs for 95 %: the whole range, with what it does cover
        return xs[0], xs[-1], 1 - 2 / 2**n
    return xs[k - 1], xs[n - k], 1 - 2 * cdf


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.0f}%"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prompt-cap", type=int, default=8)
    ap.add_argument("--traced-runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-guard-"))
    guards = ROOT / "examples" / "guards"
    nemo = "guard: {type: nemo-guardrails, config: guard/}\n"
    lakera = "guard: {type: lakera-compatible}\n"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        with serve(vulnerable_reply) as target:
            url = url_of(target)
            from gate.redteam.catalog import load_catalog

            every = sorted({*PROBES, *load_catalog().probe_set("guard-bypass")})
            guarded_rel = write_release(tmp / "guarded", url, nemo, guards / "nemo-strong")
            guarded_pol = write_policy(tmp / "guarded.yaml", args.prompt_cap, False, None)
            bare_rel = write_release(tmp / "bare", url, "", None)
            bare_pol = write_policy(tmp / "bare.yaml", args.prompt_cap, False, None, every)
            rows = []
            for i in range(args.runs):
                order = ("guarded", "bare") if i % 2 == 0 else ("bare", "guarded")
                got: dict[str, Any] = {}
                for which in order:
                    rel, pol = (guarded_rel, guarded_pol) if which == "guarded" else (bare_rel, bare_pol)
                    got[which] = run(rel, pol, tmp)[1]
                g, b = got["guarded"], got["bare"]
                assert sorted(g["probes"]) == sorted(b["probes"]), "not the same probes"
                attacks = g["guard_requests"] - g["false_refusals"]["total"]
                rows.append((0.0, g["guarded_seconds"], b["garak_seconds"], g["guard_mean_seconds"], attacks))
                print(
                    f"run {i + 1} ({' then '.join(order)}): guarded {g['guarded_seconds']:.2f} s, bare "
                    f"{b['garak_seconds']:.2f} s, guard {g['guard_mean_seconds'] * 1000:.1f} ms x {attacks}"
                )
            med = [statistics.median(r[k] for r in rows) for k in range(5)]
            budget = med[3] * med[4]
            paired, low, high, coverage = (
                statistics.median(r[1] - r[2] for r in rows),
                *median_interval([r[1] - r[2] for r in rows]),
            )
            print(
                f"median: garak guarded {med[1]:.2f} s vs bare {med[2]:.2f} s: "
                f"+{med[1] - med[2]:.2f} s; guard latency x attacks = {budget:.2f} s; "
                f"ratio {(med[1] - med[2]) / budget if budget else float('nan'):.2f}; median of the "
                f"runs' own differences {paired:+.2f} s (ratio {paired / budget if budget else 0:.2f}), "
                f"{coverage:.0%} interval {low:+.2f} .. {high:+.2f} s"
            )
            t = traced(url, tmp, args.traced_runs, every, args.prompt_cap)
            print(
                f"traced, median of {args.traced_runs} pairs, {t['requests']:.0f} requests a run: garak's "
                f"run guarded - bare {t['garak']:+.2f} s = in service {t['service']:+.3f} s + garak's own "
                f"{t['own']:+.2f} s; the guard deciding {t['decisions']:.3f} s; the front "
                f"{t['front'] * 1000:+.1f} ms a run ({t['front'] / t['requests'] * 1000:+.2f} ms a request); "
                f"in service, the guard adds {t['service'] / t['decisions']:.2f}x its own decisions"
            )
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print("\nguard | category: bare ASR -> guarded ASR, blocked | false refusals")
            cases: list[tuple[str, str, Path | None, str | None]] = [
                ("nemo-strong", nemo, guards / "nemo-strong", None),
                ("nemo-weak", nemo, guards / "nemo-weak", None),
                ("lakera strong", lakera, None, "strong"),
                ("lakera weak", lakera, None, "weak"),
                ("lakera everything", lakera, None, "everything"),
            ]
            for name, decl, cfg, mode in cases:
                rel = write_release(tmp / "rel", url, decl, cfg)
                if mode is None:
                    _, g = run(rel, write_policy(tmp / "pol.yaml", args.prompt_cap, True, None), tmp)
                else:
                    with running(mode) as svc:
                        _, g = run(rel, write_policy(tmp / "pol.yaml", args.prompt_cap, True, svc.url), tmp)
                fr = g["false_refusals"]
                cats = "; ".join(
                    f"{c['category']}: {pct(c['bare']['rate'])} -> {pct(c['guarded']['rate'])}, "
                    f"blocked {pct(c['blocked']['rate'])}"
                    for c in g["categories"]
                )
                print(f"{name} | {cats} | {fr['count']}/{fr['total']} ({pct(fr['rate'])})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
