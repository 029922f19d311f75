"""One adversarial run: choose probes, reuse cached results, run garak on the rest, parse."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import CheckError
from gate.models.manifest import Endpoint
from gate.progress import Redteam, Sink
from gate.redteam.cache import ResultCache, probe_keys
from gate.redteam.catalog import load_catalog
from gate.redteam.models import ProbeResult, RedteamRecord, Settings
from gate.redteam.report import (
    ReportError,
    attempt_prompts,
    check_complete,
    parse_hitlog,
    parse_report,
    probe_results,
)
from gate.redteam.runner import garak_command, garak_version, run_garak, target_for
from gate.redteam.shard import shard_of


@dataclass(frozen=True)
class RunPlan:
    release_root: Path
    release_digest: str
    model_digest: str
    endpoint: Endpoint
    api_key: str | None
    probe_set: str
    explicit_probes: tuple[str, ...] | None
    shard: tuple[int, int] | None
    offline: bool
    cache_dir: Path | None
    workdir: Path | None
    parallel_attempts: int
    settings: Settings
    config: Any  # AdversarialConfig
    # When given, filled with the prompts garak sent, by probe (the guarded run joins them with
    # the guard's decisions); such a run never reads the cache, which holds no prompts.
    prompt_sink: dict[str, set[str]] | None = None
    progress: Sink | None = None  # hears how far garak got (gate.progress.Redteam)


def endpoint_label(ep: Endpoint) -> str:
    where = ep.url or ep.path or ep.callable or ""
    return f"{ep.type.value} {where}".strip()


def select_probes(plan: RunPlan) -> tuple[list[str], list[str], list[str]]:
    """(the whole set, this run's slice, probes left out offline)."""
    cfg = plan.config
    catalog = load_catalog()
    base = plan.explicit_probes if plan.explicit_probes is not None else catalog.probe_set(plan.probe_set)
    names = list(dict.fromkeys([*base, *cfg.extra_probes]))
    names = [p for p in names if p not in set(cfg.exclude_probes)]
    skipped: list[str] = []
    if plan.offline:
        skipped = [p for p in names if p not in catalog.offline]
        names = [p for p in names if p in catalog.offline]
    whole = sorted(names)
    mine = shard_of(whole, *plan.shard) if plan.shard else whole
    if not mine:
        what = f"shard {plan.shard[0]}/{plan.shard[1]} of " if plan.shard else ""
        raise CheckError(
            f"adversarial: no probes to run ({what}probe set '{plan.probe_set}' with {len(whole)} probes"
            + (f", {len(skipped)} left out offline" if skipped else "")
            + "): an empty run tests nothing",
            hint="Pick a probe set with probes, or fewer shards.",
        )
    return whole, mine, skipped


def execute(plan: RunPlan) -> RedteamRecord:
    cfg = plan.config
    catalog = load_catalog()
    command = garak_command(cfg.garak_command)
    version = garak_version(command)
    whole, mine, skipped = select_probes(plan)
    target = target_for(plan.endpoint, plan.release_root, plan.settings, keyed=plan.api_key is not None)
    cache: ResultCache[ProbeResult] = ResultCache(plan.cache_dir)
    keys = probe_keys(
        mine,
        model_digest=plan.model_digest,
        endpoint=plan.endpoint.model_dump(mode="json"),
        garak_version=version,
        settings=plan.settings,
    )
    results: dict[str, ProbeResult] = {}
    for p in mine if plan.prompt_sink is None else ():
        hit = cache.get(keys[p])
        if hit is not None:
            results[p] = hit
    hits = len(results)
    todo = [p for p in mine if p not in results]
    seconds = 0.0
    if not todo and plan.progress is not None:  # every probe answered from the cache: no garak run
        plan.progress(Redteam(hits, hits, 0, 0, 0.0, cfg.timeout_s, cached=hits))
    if todo:
        keep = plan.workdir is not None
        scratch = (
            plan.workdir / "adversarial"
            if plan.workdir is not None
            else Path(tempfile.mkdtemp(prefix="model-gate-garak-"))
        )
        if keep and scratch.exists():
            shutil.rmtree(scratch)  # a stale report must never be read as this run's
        home = plan.cache_dir / "garak-home" if plan.cache_dir is not None else scratch / "garak-home"
        try:
            run = run_garak(
                command=command,
                target=target,
                probes=todo,
                settings=plan.settings,
                workdir=scratch,
                home=home,
                timeout_s=cfg.timeout_s,
                parallel_attempts=plan.parallel_attempts,
                api_key=plan.api_key,
                hub_offline=cfg.hub_offline or plan.offline,
                progress=plan.progress,
                cached=hits,
            )
            seconds = run.seconds
            fresh = _read_run(run, todo, version, catalog, cfg)
            if plan.prompt_sink is not None:
                plan.prompt_sink.update(
                    attempt_prompts(run.report, max_bytes=cfg.max_report_mb * 1024 * 1024)
                )
        finally:
            if not keep:
                shutil.rmtree(scratch, ignore_errors=True)
        for r in fresh:
            results[r.probe] = r
            cache.put(keys[r.probe], r)
    return RedteamRecord(
        garak_version=version,
        release_digest=plan.release_digest,
        model_digest=plan.model_digest,
        endpoint=endpoint_label(plan.endpoint),
        probe_set=plan.probe_set,
        probes=tuple(whole),
        shard=plan.shard,
        settings=plan.settings,
        skipped_offline=tuple(skipped),
        results=tuple(results[p] for p in mine),
        cache_hits=hits,
        garak_seconds=round(seconds, 3),
    )


UNKNOWN_SPEC = re.compile(r"Unknown run\.spec\W*:\s*(.+)")


def _read_run(run: Any, todo: list[str], version: str, catalog: Any, cfg: Any) -> list[ProbeResult]:
    tail = run.output_tail
    last = tail.splitlines()[-1] if tail else "(no output)"
    if run.returncode != 0:
        raise CheckError(f"garak crashed (exit status {run.returncode}): {last}")
    if not run.report.exists():
        m = UNKNOWN_SPEC.search(tail)
        if m:
            names = m.group(1).strip().replace("probes.", "")
            raise CheckError(
                f"probe name(s) unknown to the installed garak {version}: {names}",
                hint="Fix the probe set or extra_probes in the policy; "
                "`python -m garak --list_probes` lists them.",
            )
        raise CheckError(f"garak wrote no report (it stopped before running any probe): {last}")
    max_bytes = cfg.max_report_mb * 1024 * 1024
    try:
        rep = parse_report(run.report, max_bytes=max_bytes)
    except ReportError as exc:
        raise ReportError(f"{exc.message}; garak said: {last}") from None
    if rep.garak_version != version:
        raise ReportError(f"{run.report}: written by garak {rep.garak_version}, expected {version}")
    expected = {p: catalog.expected_detectors(p, cfg.extended_detectors) for p in todo}
    check_complete(rep, todo, expected, max_nones_ratio=cfg.max_failed_generations)
    hits = parse_hitlog(run.hitlog, max_bytes=max_bytes, per_probe=max(cfg.max_reproductions, 1))
    return probe_results(rep, hits, todo)
