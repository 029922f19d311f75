"""The guard's record: per-probe counts (what is cached and merged) and the rates built from them.

`assemble` turns the parts of a guarded run into its record: garak's results
through the guard (and bare), the guard's blocks per probe and the benign
screening. One run and `model-gate merge` of shards both build it here, so a
sharded run's record is the one a single run gives.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gate.models.base import StrictModel
from gate.redteam.catalog import load_catalog
from gate.redteam.judge import categorise, wilson
from gate.redteam.models import ProbeResult, RedteamRecord


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


class ProbeBlocks(StrictModel):
    """What the guard did to one probe's distinct prompts (the unit cached and merged)."""

    probe: str
    screened: int = Field(ge=0)  # distinct prompts of the probe the guard decided on
    blocked: int = Field(ge=0)
    seconds: float = Field(ge=0)  # the guard's own time on them, summed


class GuardedProbe(StrictModel):
    """A guarded cache entry: the probe's result through the guard, and the guard's blocks."""

    result: ProbeResult
    blocks: ProbeBlocks
    cached: bool = False


class BenignScreening(StrictModel):
    """The benign prompts through the guard (a cache entry, and shard 1's part of a merge)."""

    benign_set: str
    refused: tuple[str, ...]
    total: int = Field(ge=0)
    seconds: float = Field(ge=0)
    cached: bool = False


class GuardRecord(StrictModel):
    schema_: Literal["model-gate/guard/v1"] = Field("model-gate/guard/v1", alias="schema")
    kind: str
    config: str | None
    config_digest: str | None
    guard_digest: str = ""  # the guard's part of the cache key (kind, config bytes, policy settings)
    python_actions: tuple[str, ...] = ()
    probes: tuple[str, ...]  # the whole set through the guard, before sharding
    bypass_probes: tuple[str, ...]
    shard: tuple[int, int] | None = None
    guarded: RedteamRecord
    bare: RedteamRecord | None
    probe_blocks: tuple[ProbeBlocks, ...] = ()  # this run's (or shard's) probes, in order
    categories: tuple[GuardCategory, ...]
    false_refusals: Rate
    refused_benign: tuple[str, ...]  # ids of the benign prompts the guard refused
    benign_set: str  # digest of the benign prompt file
    benign_screened: bool = True  # False: a shard other than the first (benign prompts not sent)
    benign_seconds: float = 0.0  # the guard's own time on the benign prompts, summed
    guard_requests: int
    guard_errors: int
    guard_mean_seconds: float  # the guard's own time per decision (screening + model)
    guarded_seconds: float
    bare_seconds: float | None
    cache_hits: int = 0


def assemble(
    *,
    kind: str,
    config: str | None,
    config_digest: str | None,
    guard_digest: str,
    python_actions: tuple[str, ...],
    bypass: tuple[str, ...],
    guarded: RedteamRecord,
    bare: RedteamRecord | None,
    blocks: tuple[ProbeBlocks, ...],
    screening: BenignScreening | None,
    benign_set: str,
    guarded_seconds: float,
    bare_seconds: float | None,
) -> GuardRecord:
    """The guard's record from its parts: one run's, or a merge of shards' (then `guarded` and
    `bare` are the merged records, `blocks` every shard's, `screening` shard 1's)."""
    catalog = load_catalog()
    blocked: dict[str, list[int]] = {}
    for b in blocks:
        counts = blocked.setdefault(catalog.category_of(b.probe), [0, 0])
        counts[0] += b.blocked
        counts[1] += b.screened
    g_cats = {c.category: c for c in categorise(guarded.results, catalog, {}, "point")}
    b_cats = {c.category: c for c in categorise(bare.results, catalog, {}, "point")} if bare else {}
    hits = {r.probe for r in guarded.results if r.worst.fails}
    cats = []
    for name, gc in sorted(g_cats.items()):
        bc = b_cats.get(name)
        cats.append(
            GuardCategory(
                category=name,
                title=gc.title,
                bare=rate(bc.fails, bc.total) if bc else None,
                guarded=rate(gc.fails, gc.total),
                reduction=None if bc is None else bc.asr - gc.asr,
                blocked=rate(*blocked.get(name, [0, 0])),
                bypass_probes=tuple(sorted(p for p in gc.probes if p in bypass and p in hits)),
            )
        )
    refused = screening.refused if screening else ()
    total = screening.total if screening else 0
    decisions = sum(b.screened for b in blocks) + total
    seconds = sum(b.seconds for b in blocks) + (screening.seconds if screening else 0.0)
    return GuardRecord(
        kind=kind,
        config=config,
        config_digest=config_digest,
        guard_digest=guard_digest,
        python_actions=python_actions,
        probes=guarded.probes,
        bypass_probes=bypass,
        shard=guarded.shard,
        guarded=guarded,
        bare=bare,
        probe_blocks=blocks,
        categories=tuple(cats),
        false_refusals=rate(len(refused), total),
        refused_benign=tuple(refused),
        benign_set=benign_set,
        benign_screened=screening is not None,
        benign_seconds=screening.seconds if screening else 0.0,
        guard_requests=decisions,
        guard_errors=0,
        guard_mean_seconds=round(seconds / decisions, 4) if decisions else 0.0,
        guarded_seconds=round(guarded_seconds, 3),
        bare_seconds=None if bare_seconds is None else round(bare_seconds, 3),
        cache_hits=guarded.cache_hits,
    )


class GuardMergeError(ValueError):
    """Shard reports whose guard parts do not make one run."""


def merge_guard(shards: list[GuardRecord], guarded: RedteamRecord) -> GuardRecord:
    """One guard record from the shards' (in shard order), around the merged guarded record."""
    first = shards[0]
    for g in shards[1:]:
        for f in ("kind", "config", "config_digest", "guard_digest", "probes", "bypass_probes", "benign_set"):
            if getattr(g, f) != getattr(first, f):
                raise GuardMergeError(f"the guard's {f} differs between shards: shards of different runs")
        if (g.bare is None) != (first.bare is None):
            raise GuardMergeError("some shards attacked the bare model and some did not")
    screened = [g for g in shards if g.benign_screened]
    one = screened[0] if len(screened) == 1 else None
    if one is None or (one.shard is not None and one.shard[0] != 1):
        raise GuardMergeError("the benign prompts must have been screened once, by shard 1")
    bare = None
    if first.bare is not None:
        bares = [g.bare for g in shards if g.bare is not None]
        bare = first.bare.model_copy(
            update={
                "shard": None,
                "results": tuple(sorted((r for b in bares for r in b.results), key=lambda r: r.probe)),
                "cache_hits": sum(b.cache_hits for b in bares),
                "garak_seconds": round(sum(b.garak_seconds for b in bares), 3),
            }
        )
    blocks = tuple(sorted((b for g in shards for b in g.probe_blocks), key=lambda b: b.probe))
    fr = one.false_refusals
    screening = BenignScreening(
        benign_set=one.benign_set,
        refused=one.refused_benign,
        total=fr.total,
        seconds=one.benign_seconds,
    )
    bare_seconds = [g.bare_seconds for g in shards if g.bare_seconds is not None]
    return assemble(
        kind=first.kind,
        config=first.config,
        config_digest=first.config_digest,
        guard_digest=first.guard_digest,
        python_actions=first.python_actions,
        bypass=first.bypass_probes,
        guarded=guarded,
        bare=bare,
        blocks=blocks,
        screening=screening,
        benign_set=first.benign_set,
        guarded_seconds=sum(g.guarded_seconds for g in shards),
        bare_seconds=sum(bare_seconds) if bare_seconds else None,
    )
