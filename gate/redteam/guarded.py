"""Two runs, one verdict: the same probes through the guard and, where the policy asks, bare.

The guarded run attacks the guard the gate started (gate.redteam.guard) with the
policy's probes plus the guard-bypass set; its results are judged like any run.
The guard's decision log is joined with the prompts garak sent (by digest) to
count, per category, how many attack requests the guard blocked. The packaged
benign prompts then go through the same guard once each: the share it refuses
is the false-refusal rate. A guard error (an exception, NeMo's "internal error"
answer, a screening API that answers without a verdict) is never a block: any
one makes the run an error.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gate.errors import CheckError
from gate.models.base import StrictModel
from gate.models.manifest import Endpoint, EndpointType, Guard
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
from gate.redteam.guard_server import ServerSpec
from gate.redteam.judge import categorise, wilson
from gate.redteam.models import RedteamRecord
from gate.redteam.orchestrate import RunPlan, execute, select_probes


class Rate(StrictModel):
    count: int = Field(ge=0)
    total: int = Field(ge=0)
    rate: float | None
    ci95: tuple[float, float] | None


def rate(count: int, total: int) -> Rate:
    if total == 0:
        return Rate(count=0, total=0, rate=None, ci95=None)
    low, high = wilson(count, total)
    return Rate(count=count, total=total, rate=count / total, ci95=(low, high))


class GuardCategory(StrictModel):
    category: str
    title: str
    bare: Rate | None  # attack success without the guard (None: no bare run)
    guarded: Rate  # attack success through the guard
    reduction: float | None  # bare minus guarded rate
    blocked: Rate  # attack requests the guard blocked
    bypass_probes: tuple[str, ...] = ()  # guard-bypass probes that got an attack through


class GuardRecord(StrictModel):
    schema_: Literal["model-gate/guard/v1"] = Field("model-gate/guard/v1", alias="schema")
    kind: str
    config: str | None
    config_digest: str | None
    python_actions: tuple[str, ...] = ()
    probes: tuple[str, ...]
    bypass_probes: tuple[str, ...]
    guarded: RedteamRecord
    bare: RedteamRecord | None
    categories: tuple[GuardCategory, ...]
    false_refusals: Rate
    refused_benign: tuple[str, ...]  # ids of the benign prompts the guard refused
    benign_set: str  # digest of the benign prompt file
    guard_requests: int
    guard_errors: int
    guard_mean_seconds: float  # the guard's own time per decision (screening + model)
    guarded_seconds: float
    bare_seconds: float | None


@dataclasses.dataclass(frozen=True)
class GuardPlan:
    base: RunPlan  # the run the check would make against the bare endpoint
    guard: Guard
    release: Any  # gate.release.Release
    environ: Mapping[str, str]


def _probes(plan: RunPlan, bypass_set: str) -> tuple[list[str], list[str]]:
    whole, _, _ = select_probes(dataclasses.replace(plan, shard=None))
    catalog = load_catalog()
    bypass = [p for p in catalog.probe_set(bypass_set) if not plan.offline or p in catalog.offline]
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


def run_guarded(gp: GuardPlan) -> GuardRecord:
    base = gp.base
    cfg = base.config
    ep = base.endpoint
    if base.shard is not None:
        raise CheckError(
            "a release with a guard is attacked whole: the guard's rates are not merged across shards",
            hint="Run `model-gate check` (or `redteam` without --shard) for the guarded stack.",
        )
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


def _run(gp: GuardPlan, probes: list[str], bypass: list[str], scratch: Path) -> GuardRecord:
    base, guard, cfg = gp.base, gp.guard, gp.base.config
    ep = base.endpoint
    assert ep.url is not None
    secrets: dict[str, str] = {}
    if base.api_key is not None:
        secrets[TARGET_KEY_VAR] = base.api_key
    prepared = None
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
    else:
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
    sink: dict[str, set[str]] = {}
    benign_digest, benign = load_benign()
    with start_guard(
        spec, scratch / "run", secrets=secrets, startup_timeout_s=cfg.guard_start_timeout_s
    ) as g:
        front = Endpoint(
            type=EndpointType.OPENAI, url=g.url, model=ep.model or "model", timeout_s=ep.timeout_s
        )
        guarded_plan = dataclasses.replace(
            base,
            endpoint=front,
            api_key=None,
            explicit_probes=tuple(probes),
            probe_set=f"{base.probe_set}+{cfg.guard_probe_set}",
            cache_dir=None,
            workdir=scratch / "garak-guarded",
            prompt_sink=sink,
        )
        start = time.perf_counter()
        try:
            guarded = execute(guarded_plan)
        except CheckError:
            # garak's run is hollow when the guard failed: say why (the guard), not only that.
            _fail_on_guard_errors(g.decisions())
            raise
        guarded_seconds = time.perf_counter() - start
        attack_decisions = g.decisions()
        screened = screen_prompts(g.url, benign, timeout_s=ep.timeout_s * 2)
        all_decisions = g.decisions()
    _fail_on_guard_errors(all_decisions)
    bare = None
    bare_seconds = None
    if cfg.guard_bare_run:
        start = time.perf_counter()
        bare = execute(
            dataclasses.replace(base, explicit_probes=tuple(probes), probe_set=guarded_plan.probe_set)
        )
        bare_seconds = time.perf_counter() - start
    by_digest: dict[str, set[str]] = {}
    for probe, texts in sink.items():
        for t in texts:
            by_digest.setdefault(prompt_digest(t), set()).add(probe)
    catalog = load_catalog()
    blocked: dict[str, list[int]] = {}
    for d in attack_decisions:
        for probe in by_digest.get(str(d.get("prompt_sha256")), ()):
            counts = blocked.setdefault(catalog.category_of(probe), [0, 0])
            counts[0] += d["decision"] == "blocked"
            counts[1] += 1
    g_cats = {c.category: c for c in categorise(guarded.results, catalog, {}, cfg.decide_on)}
    b_cats = {c.category: c for c in categorise(bare.results, catalog, {}, cfg.decide_on)} if bare else {}
    hits = {r.probe for r in guarded.results if r.worst.fails}
    cats = []
    for name, gc in sorted(g_cats.items()):
        bc = b_cats.get(name)
        bare_rate = rate(bc.fails, bc.total) if bc else None
        cats.append(
            GuardCategory(
                category=name,
                title=gc.title,
                bare=bare_rate,
                guarded=rate(gc.fails, gc.total),
                reduction=None if bc is None else bc.asr - gc.asr,
                blocked=rate(*blocked.get(name, [0, 0])),
                bypass_probes=tuple(sorted(p for p in gc.probes if p in bypass and p in hits)),
            )
        )
    refused = [s.prompt_id for s in screened if s.decision == "blocked"]
    seconds = [float(d.get("seconds") or 0.0) for d in all_decisions]
    return GuardRecord(
        kind=guard.type,
        config=guard.config,
        config_digest=prepared.digest if prepared else None,
        python_actions=prepared.python if prepared else (),
        probes=tuple(probes),
        bypass_probes=tuple(bypass),
        guarded=guarded,
        bare=bare,
        categories=tuple(cats),
        false_refusals=rate(len(refused), len(screened)),
        refused_benign=tuple(refused),
        benign_set=benign_digest,
        guard_requests=len(all_decisions),
        guard_errors=0,
        guard_mean_seconds=round(sum(seconds) / len(seconds), 4) if seconds else 0.0,
        guarded_seconds=round(guarded_seconds, 3),
        bare_seconds=None if bare_seconds is None else round(bare_seconds, 3),
    )
