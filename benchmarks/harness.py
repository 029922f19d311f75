"""A small side-by-side benchmark harness: alternate commands, several runs, medians, peak memory."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Measured:
    name: str
    cmd: Sequence[str]
    times: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system CPU seconds of the run and its children

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def run_once(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall time, peak RSS (MiB) and CPU time of one run, measured in a fresh child via wait4
    (the CPU time includes the processes it waited for)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err[-500:]}")
    if proc.stderr:
        proc.stderr.close()
    return took, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def compare(
    commands: dict[str, Sequence[str]], runs: int = 5, warmup: int = 1, env: dict[str, str] | None = None
) -> dict[str, Measured]:
    """Run the commands alternately (A B A B ...) so that noise hits all of them alike."""
    out = {name: Measured(name, cmd) for name, cmd in commands.items()}
    for _ in range(warmup):
        for m in out.values():
            run_once(m.cmd, env)
    for _ in range(runs):
        for m in out.values():
            t, rss, cpu = run_once(m.cmd, env)
            m.times.append(t)
            m.peak_rss_mb.append(rss)
            m.cpu.append(cpu)
    return out


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def table(results: dict[str, Measured], baseline: str) -> str:
    base = results[baseline].median
    rows = [
        "| command | median s | min s | max s | peak RSS MiB | ratio vs " + baseline + " |",
        "|---|---|---|---|---|---|",
    ]
    for m in results.values():
        rows.append(
            f"| {m.name} | {m.median:.3f} | {min(m.times):.3f} | {max(m.times):.3f} | "
            f"{max(m.peak_rss_mb):.0f} | {m.median / base:.2f}× |"
        )
    return "\n".join(rows)


_ = resource  # ru_maxrss units are KiB on Linux
