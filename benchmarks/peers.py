"""Where the peer scanners are and how to run them, for the scanner benchmarks.

Peers are never installed into the project's environment. Point at them with
MODEL_GATE_PEER_BIN (a directory holding their executables, e.g. a separate
virtualenv's bin/) or individually with MODEL_GATE_PICKLESCAN, ..._MODELSCAN,
..._FICKLING, ..._MODELAUDIT. A peer that is not found is reported as missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEER_BIN = Path(os.environ.get("MODEL_GATE_PEER_BIN", "/work/bench-venv/bin"))
# Peers must not phone home or reach a hub during a benchmark.
QUIET_ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


@dataclass(frozen=True)
class Tool:
    name: str
    argv: tuple[str, ...]  # command before the path
    available: bool
    why_missing: str = ""


def _peer(name: str, exe: str, args: tuple[str, ...]) -> Tool:
    override = os.environ.get(f"MODEL_GATE_{name.upper()}")
    path = override or str(DEFAULT_PEER_BIN / exe)
    if not Path(path).exists():
        found = shutil.which(exe)
        if found and not override:
            path = found
        else:
            where = override or DEFAULT_PEER_BIN
            return Tool(
                name,
                (),
                False,
                f"{exe} not found ({where}); set MODEL_GATE_PEER_BIN or MODEL_GATE_{name.upper()}",
            )
    return Tool(name, (path, *args), True)


def tools() -> list[Tool]:
    return [
        Tool("model-gate", (sys.executable, "-m", "gate", "scan", "--format", "json"), True),
        _peer("picklescan", "picklescan", ("--strict", "-p")),
        _peer("modelscan", "modelscan", ("-p",)),
        _peer("fickling", "fickling", ("--check-safety",)),
        _peer("modelaudit", "modelaudit", ("scan", "--no-cache")),
    ]


def run(tool: Tool, path: Path, timeout: float = 300) -> tuple[int, str, float]:
    import time

    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    try:
        p = subprocess.run(
            [*tool.argv, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=path.parent if path.is_file() else path,
            check=False,
        )
        return p.returncode, p.stdout + p.stderr, time.perf_counter() - start
    except subprocess.TimeoutExpired:
        return -9, "timeout", time.perf_counter() - start
