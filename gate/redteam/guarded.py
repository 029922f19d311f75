"""Two runs, one verdict: the same probes through the guard and, where the policy asks, bare.

The guarded run attacks the guard the gate started (gate.redteam.guard) with the
policy's probes plus the guard-bypass set; its results are judged like any run.
The guard's decision log is joined with the prompts garak sent (by digest) to
count, per category, how many attack requests the guard blocked. The packaged
benign prompts then go through the same guard once each: the share it refuses
is the false-refusal rate. A guard error (an exception, NeMo's "internal error"
answer, a screening API that answers without a verdict) is never a block: any
one makes the run an error.

Guarded runs are cached and sharded like bare ones. A probe's guarded result
(garak's result through the guard, and how many of its distinct prompts the
guard blocked) is cached under the bare run's key plus the guard's digest:
the guard's kind, every byte of its config, the policy's guard settings and
the front's own version; the benign screening under the guard's digest, the
model and the benign set. A changed guard is never served from cache. With
`--shard I/N` a run attacks its slice of the probes (shard 1 also screens the
benign prompts); `model-gate merge` rebuilds the guard's record from the
shards' per-probe counts (`assemble`), as one run would have built it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gate.errors import CheckError
from gate.models.manifest import Endpoint, EndpointType, Guard
from gate.redteam.cache import ResultCache, probe_keys
from gate.redteam.catalog import load_catalog
from gate.redteam.guard import (
    GUARD_KEY_VAR,
    GUARD_LLM_KEY_VAR,
    TARGET_KEY_VAR,
    GuardRefused,
    load_benign,
    prepare_nemo_config,
    prompt_digest,
    screen_prompts,
    start_guard,
)
from gate.redteam.guard_record import (
    BenignScreening,
    GuardedProbe,
    GuardRecord,
    ProbeBlocks,
    assemble,
)
from gate.redteam.guard_server import ServerSpec
from gate.redteam.models import RedteamRecord
from gate.redteam.orchestrate import RunPlan, endpoint_label, execute, select_probes
from gate.redteam.runner import garak_command, garak_version
from gate.redteam.shard import shard_of

# Part of every guarded cache key: raise it when the front's way of deciding changes.
FRONT_VERSION = 2  # 2: a Lakera-compatible guard also screens the model's answer


@dataclasses.dataclass(frozen=True)
class GuardPlan:
    base: RunPlan  # the run the check would make against the bare endpoint
    guard: Guard
    release: Any  # gate.release.Release
    environ: Mapping[str, str]


def _probes(plan: RunPlan, bypass_set: str) -> tuple[list[str], list[str]]:
    whole, _, _ = select_probes(dataclasses.replace(plan, shard=None))
    catalog = load_catalog()
    excluded = set(plan.config.exclude_probes)
    bypass = [
        p
        for p in catalog.probe_set(bypass_set)
        if (not plan.offline or p in catalog.offline) and p not in excluded
    ]
    return sorted(dict.fromkeys([*whole, *bypass])), bypass


def _secret(environ: Mapping[str, str], var: str | None, what: str) -> str | None:
    if var is None:
        return None
    value = environ.get(var)
    if not value:
        raise CheckError(f"environment variable {var} ({what}) is not set")
    return value


def _fail_on_guard_errors(decisions: list[dict[str, Any]]) -> None:
    errors = [d for d in decisions if d["decision"] == "error"]
    if errors:
        raise CheckError(
            f"the guard failed on {len(errors)} of {len(decisions)} requests (first: "
            f"{str(errors[0].get('error'))[:200]}); a guard error is never counted as a block",
            hint="A NeMo config whose rails need downloads (dialog rails, kb/) answers every request "
            "with an internal error offline; ship input/output rails that run offline.",
        )


def guard_digest(kind: str, config: str | None, config_digest: str | None, cfg: Any) -> str:
    """The guard's identity in cache keys: its kind, every byte of its config (by digest), the
    policy's settings for it (where it sends prompts, whose LLM it calls, whether Python runs)."""
    material = {
        "front": FRONT_VERSION,
        "kind": kind,
        "config": config,
        "config_digest": config_digest,
        "policy": {
            "guard_url": cfg.guard_url,
            "guard_credential_env": cfg.guard_credential_env,
            "guard_llm_url": cfg.guard_llm_url,
            "guard_llm_model": cfg.guard_llm_model,
            "guard_allow_python_actions": cfg.guard_allow_python_actions,
        },
    }
    return "sha256:" + hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def run_guarded(gp: GuardPlan) -> GuardRecord:
    base = gp.base
    cfg = base.config
    ep = base.endpoint
    if ep.type is not EndpointType.OPENAI or not ep.url:
        raise GuardRefused(
            "release.yaml guard: the guard sits in front of an OpenAI-compatible endpoint; "
            f"endpoint type '{ep.type.value}' cannot be put behind it"
        )
    probes, bypass = _probes(base, cfg.guard_probe_set)
    keep = base.workdir is not None
    scratch = (
        base.workdir / "guard"
        if base.workdir is not None
        else Path(tempfile.mkdtemp(prefix="model-gate-guard-"))
    )
    if scratch.exists() and keep:
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        return _run(gp, probes, bypass, scratch)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def _spec(gp: GuardPlan, scratch: Path) -> tuple[ServerSpec, dict[str, str], Any]:
    """What the guard child runs, the secrets it gets, and the prepared NeMo config (or None)."""
    base, guard, cfg = gp.base, gp.guard, gp.base.config
    ep = base.endpoint
    assert ep.url is not None
    secrets: dict[str, str] = {}
    if base.api_key is not None:
        secrets[TARGET_KEY_VAR] = base.api_key
    common = {
        "ready_file": str(scratch / "guard.port"),
        "decision_log": str(scratch / "decisions.jsonl"),
        "max_requests": 200_000,
        "max_seconds": float(cfg.timeout_s) * 2 + cfg.guard_start_timeout_s,
        "timeout_s": ep.timeout_s,
    }
    guard_key = _secret(
        gp.environ, cfg.guard_credential_env, "the policy's checks.adversarial.guard_credential_env"
    )
    if guard.type == "nemo-guardrails":
        assert guard.config is not None
        prepared = prepare_nemo_config(
            gp.release,
            guard.config,
            scratch / "config",
            allow_python=cfg.guard_allow_python_actions,
            main_url=ep.url,
            main_model=ep.model or "model",
            guard_llm_url=cfg.guard_llm_url,
            guard_llm_model=cfg.guard_llm_model,
        )
        spec = ServerSpec(kind="nemo-guardrails", config_dir=str(prepared.path), **common)
        secrets.setdefault(TARGET_KEY_VAR, "no-key-required")
        secrets[GUARD_LLM_KEY_VAR] = guard_key or "no-key-required"
        return spec, secrets, prepared
    if cfg.guard_url is None:
        raise GuardRefused(
            "release.yaml declares a 'lakera-compatible' guard, and the policy names no guard URL "
            "(checks.adversarial.guard_url): only the policy says where prompts are sent"
        )
    spec = ServerSpec(
        kind="lakera-compatible",
        guard_url=cfg.guard_url,
        guard_key_env=GUARD_KEY_VAR if guard_key else None,
        target_url=ep.url,
        target_model=ep.model,
        target_key_env=TARGET_KEY_VAR if base.api_key else None,
        **common,
    )
    if guard_key:
        secrets[GUARD_KEY_VAR] = guard_key
    return spec, secrets, None


def _blocks(
    probes: list[str], sink: dict[str, set[str]], decisions: list[dict[str, Any]]
) -> dict[str, ProbeBlocks]:
    """Per probe: its distinct prompts the guard decided on, and how many it blocked. Counted by
    distinct prompt, so a prompt two probes share counts once for each, in one run or in shards."""
    by_digest: dict[str, list[dict[str, Any]]] = {}
    for d in decisions:
        by_digest.setdefault(str(d.get("prompt_sha256")), []).append(d)
    out = {}
    for p in probes:
        screened = blocked = 0
        seconds = 0.0
        for digest in sorted({prompt_digest(t) for t in sink.get(p, ())}):
            seen = by_digest.get(digest)
            if not seen:
                continue
            screened += 1
            blocked += any(d["decision"] == "blocked" for d in seen)
            seconds += sum(float(d.get("seconds") or 0.0) for d in seen) / len(seen)
        out[p] = ProbeBlocks(probe=p, screened=screened, blocked=blocked, seconds=round(seconds, 6))
    return out


def _run(gp: GuardPlan, probes: list[str], bypass: list[str], scratch: Path) -> GuardRecord:
    base, guard, cfg = gp.base, gp.guard, gp.base.config
    ep = base.endpoint
    assert ep.url is not None
    spec, secrets, prepared = _spec(gp, scratch)
    digest = guard_digest(guard.type, guard.config, prepared.digest if prepared else None, cfg)
    mine = shard_of(probes, *base.shard) if base.shard else probes
    version = garak_version(garak_command(cfg.garak_command))
    endpoint_id = ep.model_dump(mode="json")
    keys = probe_keys(
        mine,
        model_digest=base.model_digest,
        endpoint=endpoint_id,
        garak_version=version,
        settings=base.settings,
        guard=digest,
    )
    cache: ResultCache[GuardedProbe] = ResultCache(base.cache_dir, GuardedProbe)
    benign_cache: ResultCache[BenignScreening] = ResultCache(base.cache_dir, BenignScreening)
    benign_digest, benign = load_benign()
    benign_key = hashlib.sha256(
        json.dumps(
            {"guard": digest, "benign": benign_digest, "model": base.model_digest, "endpoint": endpoint_id},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    entries: dict[str, GuardedProbe] = {}
    for p in mine:
        hit = cache.get(keys[p])
        if hit is not None:
            entries[p] = hit
    hits = len(entries)
    todo = [p for p in mine if p not in entries]
    screen_benign = base.shard is None or base.shard[0] == 1
    screening = benign_cache.get(benign_key) if screen_benign else None
    guarded_seconds = 0.0
    garak_seconds = 0.0
    if todo or (screen_benign and screening is None):
        sink: dict[str, set[str]] = {}
        with start_guard(
            spec, scratch / "run", secrets=secrets, startup_timeout_s=cfg.guard_start_timeout_s
        ) as g:
            if todo:
                front = Endpoint(
                    type=EndpointType.OPENAI, url=g.url, model=ep.model or "model", timeout_s=ep.timeout_s
                )
                guarded_plan = dataclasses.replace(
                    base,
                    endpoint=front,
                    api_key=None,
                    explicit_probes=tuple(todo),
                    shard=None,
                    cache_dir=None,
                    workdir=scratch / "garak-guarded",
                    prompt_sink=sink,
                )
                start = time.perf_counter()
                try:
                    fresh = execute(guarded_plan)
                except CheckError:
                    # garak's run is hollow when the guard failed: say why (the guard), not only that.
                    _fail_on_guard_errors(g.decisions())
                    raise
                guarded_seconds = time.perf_counter() - start
                garak_seconds = fresh.garak_seconds
                attack_decisions = g.decisions()
                _fail_on_guard_errors(attack_decisions)
                blocks = _blocks(todo, sink, attack_decisions)
                for r in fresh.results:
                    entries[r.probe] = GuardedProbe(result=r, blocks=blocks[r.probe])
                    cache.put(keys[r.probe], entries[r.probe])
            if screen_benign and screening is None:
                skip = len(g.decisions())
                screened = screen_prompts(g.url, benign, timeout_s=ep.timeout_s * 2)
                decisions = g.decisions()[skip:]
                _fail_on_guard_errors(decisions)
                screening = BenignScreening(
                    benign_set=benign_digest,
                    refused=tuple(s.prompt_id for s in screened if s.decision == "blocked"),
                    total=len(screened),
                    seconds=round(sum(float(d.get("seconds") or 0.0) for d in decisions), 6),
                )
                benign_cache.put(benign_key, screening)
    results = tuple(entries[p].result for p in mine)
    guarded = RedteamRecord(
        garak_version=version,
        release_digest=base.release_digest,
        model_digest=base.model_digest,
        endpoint=endpoint_label(ep) + " (guarded)",
        probe_set=f"{base.probe_set}+{cfg.guard_probe_set}",
        probes=tuple(probes),
        shard=base.shard,
        settings=base.settings,
        skipped_offline=(),
        results=results,
        cache_hits=hits,
        garak_seconds=round(garak_seconds, 3),
    )
    bare = None
    bare_seconds = None
    if cfg.guard_bare_run:
        start = time.perf_counter()
        bare = execute(dataclasses.replace(base, explicit_probes=tuple(probes), probe_set=guarded.probe_set))
        bare_seconds = time.perf_counter() - start
    return assemble(
        kind=guard.type,
        config=guard.config,
        config_digest=prepared.digest if prepared else None,
        guard_digest=digest,
        python_actions=prepared.python if prepared else (),
        bypass=tuple(bypass),
        guarded=guarded,
        bare=bare,
        blocks=tuple(entries[p].blocks for p in mine),
        screening=screening,
        benign_set=benign_digest,
        guarded_seconds=guarded_seconds,
        bare_seconds=bare_seconds,
    )
