"""`model-gate redteam` (the adversarial check alone) and `merge` (shard reports into one verdict)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gate.commands.progress import progress_option
from gate.commands.shared import (
    FORMATS,
    GateCommand,
    emit,
    handle_errors,
    load_report,
    output_plan,
    sarif_all_rules_option,
    sidecar_dir,
)
from gate.errors import InputError

if TYPE_CHECKING:
    from gate.models.report import Report
    from gate.policy import Policy
    from gate.progress import Sink

CHECK = "adversarial"


@click.command(cls=GateCommand)
@click.argument("release", type=click.Path(path_type=Path))
@click.option("--policy", "policy_ref", default="default", show_default=True, help="Packaged policy or path.")
@click.option(
    "--broad", is_flag=True, help="Run the policy's broad probe set (releases) instead of the fast one."
)
@click.option("--shard", metavar="I/N", help="Run only the I-th of N deterministic slices of the probe set.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Report of the last approved release.")
@click.option("--offline", is_flag=True, help="Only probes that need no downloads.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (outside the release).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached probe results.")
@click.option("--parallel", type=click.IntRange(1, 64), help="Attempts sent to the endpoint at once.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep garak's raw report and output here.")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), help="Report format.")
@click.option("--output", "outputs", multiple=True, type=click.Path(path_type=Path), help="Report file.")
@sarif_all_rules_option
@progress_option
@handle_errors
def redteam(
    release: Path,
    policy_ref: str,
    broad: bool,
    shard: str | None,
    baseline: Path | None,
    offline: bool,
    cache_dir: Path | None,
    no_cache: bool,
    parallel: int | None,
    workdir: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    sarif_all_rules: bool,
    progress: bool | None,
) -> None:
    """Attack the release's endpoint with garak and judge it (the adversarial check alone).

    With --shard, the report holds one slice for `model-gate merge`; its exit code
    says only whether the slice ran (0) or not (3).
    """
    from gate.commands.progress_draw import progress_sink
    from gate.redteam.shard import parse_shard

    plan = output_plan(formats, outputs)
    with progress_sink(progress) as sink:
        report = run_redteam(
            release,
            policy_ref=policy_ref,
            broad=broad,
            shard=parse_shard(shard) if shard else None,
            offline=offline,
            baseline=baseline,
            cache_dir=cache_dir,
            no_cache=no_cache,
            parallel=parallel,
            workdir=workdir,
            progress=sink,
        )
    emit(report, plan, sarif_all_rules=sarif_all_rules)
    sys.exit(report.exit_code)


@click.command(cls=GateCommand)
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--policy", "policy_ref", default="default", show_default=True, help="The shards' policy.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Report of the last approved release.")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), help="Report format.")
@click.option("--output", "outputs", multiple=True, type=click.Path(path_type=Path), help="Report file.")
@sarif_all_rules_option
@click.option(
    "--release",
    "release_dir",
    type=click.Path(path_type=Path),
    help="Training-data shards: the release they judged (default: the path their reports record).",
)
@click.option(
    "--rows-dir",
    "rows_dir",
    type=click.Path(path_type=Path),
    help="Training-data shards: where the merged lists of suspicious rows go (as for check).",
)
@handle_errors
def merge(
    reports: tuple[Path, ...],
    policy_ref: str,
    baseline: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    sarif_all_rules: bool,
    release_dir: Path | None,
    rows_dir: Path | None,
) -> None:
    """Join the JSON reports of `redteam --shard I/N` or `check --shard I/N` runs into one verdict."""
    from gate.commands.datashards import data_shards_release, merge_data_shards

    plan = output_plan(formats, outputs)
    paths = list(reports)
    recorded = data_shards_release(paths)
    if recorded is not None:
        sidecar = sidecar_dir(rows_dir, plan, release_dir or recorded)
        report = merge_data_shards(
            paths,
            policy_ref=policy_ref,
            merge_adversarial=lambda: merge_reports(paths, policy_ref=policy_ref, baseline=baseline),
            release=release_dir,
            rows_dir=sidecar.directory,
            link=sidecar.link,
        )
    else:
        report = merge_reports(paths, policy_ref=policy_ref, baseline=baseline)
    emit(report, plan, sarif_all_rules=sarif_all_rules)
    sys.exit(report.exit_code)


def redteam_policy(policy: Policy) -> Policy:
    """The same policy (same digest, same settings), with only the tier and adversarial checks required."""
    tiers = {
        t: tp.model_copy(update={"required": ("risk-tier", CHECK), "optional": (), "allow_skip": ()})
        for t, tp in policy.tiers.items()
    }
    return dataclasses.replace(policy, tiers=tiers)


def run_redteam(
    release: Path,
    *,
    policy_ref: str,
    broad: bool,
    shard: tuple[int, int] | None,
    offline: bool,
    baseline: Path | None,
    cache_dir: Path | None,
    no_cache: bool,
    parallel: int | None,
    workdir: Path | None,
    progress: Sink | None = None,
) -> Report:
    from gate import engine
    from gate.checks.interface import CacheOptions, RedteamOptions, RunOptions
    from gate.policy import config_for, load_policy
    from gate.release import load_manifest
    from gate.risk import score

    policy = load_policy(policy_ref)
    probe_set: str | None = None
    if broad:
        tier = score(load_manifest(release).manifest).level
        probe_set = config_for(policy.for_tier(tier), CHECK).broad_probe_set
    redteam = RedteamOptions(probe_set=probe_set, shard=shard, parallel_attempts=parallel or None)
    return engine.run(
        engine.RunRequest(
            release_dir=release,
            policy=redteam_policy(policy),
            options=RunOptions(
                offline=offline,
                baseline=baseline,
                workdir=workdir,
                redteam=redteam,
                cache=CacheOptions(cache_dir=cache_dir, no_cache=no_cache),
            ),
            progress=progress,
        )
    )


def merge_reports(paths: list[Path], *, policy_ref: str, baseline: Path | None) -> Report:
    """Join shard reports of one release into one report, judged as `check` judges one."""
    from pydantic import ValidationError

    from gate.checks.adversarial import AdversarialCheck, judge_record, load_baseline
    from gate.engine import assemble_report, check_status, decide_blocking
    from gate.models.report import CheckResult, CheckStatus
    from gate.policy import config_for, load_policy
    from gate.redteam.models import RedteamRecord
    from gate.redteam.shard import shard_of

    if not paths:
        raise InputError("merge: give at least one shard report")
    shards: list[tuple[Path, Report, RedteamRecord]] = []
    guards: list[dict[str, Any] | None] = []
    for p in paths:
        rep = load_report(p)
        found = [c for c in rep.checks if c.id == CHECK]
        if not found:
            raise InputError(f"{p}: the report has no adversarial check result")
        res = found[0]
        if res.status is CheckStatus.ERROR:
            raise InputError(f"{p}: the adversarial check did not complete in this shard: {res.summary}")
        details = dict(res.details)
        guards.append(details.pop("guard", None))  # a guarded run's guard part, merged below
        try:
            rec = RedteamRecord.model_validate(details)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "(top level)"
            raise InputError(f"{p}: checks.adversarial.details.{where}: {err['msg']}") from None
        shards.append((p, rep, rec))
    first_path, first, base = shards[0]
    same = ("garak_version", "release_digest", "model_digest", "endpoint", "probe_set", "probes", "settings")
    for p, rep, rec in shards[1:]:
        for f in same:
            if getattr(rec, f) != getattr(base, f):
                raise InputError(f"{p}: {f} differs from {first_path}: shards of different runs")
        if rep.policy.sha256 != first.policy.sha256 or rep.tier.level != first.tier.level:
            raise InputError(f"{p}: judged under another policy or tier than {first_path}")
    n_values = {rec.shard[1] if rec.shard else 1 for _, _, rec in shards}
    if len(n_values) != 1:
        raise InputError(f"merge: shards of different splits (N = {sorted(n_values)})")
    n = n_values.pop()
    seen: dict[int, Path] = {}
    for p, _, rec in shards:
        i = rec.shard[0] if rec.shard else 1
        if i in seen:
            raise InputError(f"{p}: shard {i}/{n} given twice (also {seen[i]})")
        seen[i] = p
        if list(rec.shard_probes) != shard_of(base.probes, i, n):
            raise InputError(f"{p}: shard {i}/{n} does not hold the probes that slice should")
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if missing:
        raise InputError(
            f"merge: shard(s) {', '.join(f'{i}/{n}' for i in missing)} missing: every shard is needed"
        )

    policy = load_policy(policy_ref)
    if policy.sha256 != first.policy.sha256:
        raise InputError(
            f"merge: policy '{policy_ref}' (sha256 {policy.sha256[:12]}) is not the one the shards ran "
            f"under ({first.policy.sha256[:12]})",
            hint="Pass the same --policy that the shard runs used.",
        )
    tp = policy.for_tier(first.tier.level)
    cfg = config_for(tp, CHECK)
    results = sorted((r for _, _, rec in shards for r in rec.results), key=lambda r: r.probe)
    merged = base.model_copy(
        update={
            "shard": None,
            "results": tuple(results),
            "cache_hits": sum(rec.cache_hits for _, _, rec in shards),
            "garak_seconds": round(sum(rec.garak_seconds for _, _, rec in shards), 3),
        }
    )
    # A baseline next to the release is looked for beside the release path the shards recorded.
    baseline_rates, source = load_baseline(baseline, Path(first.release.path))
    outcome = judge_record(merged, cfg, baseline_rates, source)
    if any(g is not None for g in guards):
        _merge_guards(paths, shards, guards, merged, cfg, outcome)
    findings = [decide_blocking(f, tp) for f in outcome.findings]
    result = CheckResult(
        id=CHECK,
        title=AdversarialCheck.title,
        status=check_status(findings, tp),
        required=CHECK in tp.required,
        duration_s=round(sum(c.duration_s for _, rep, _ in shards for c in rep.checks if c.id == CHECK), 4),
        summary=f"merged {n} shard(s): " + outcome.summary,
        details=outcome.details,
    )
    return assemble_report(
        generated_at=max(rep.generated_at for _, rep, _ in shards),
        release=first.release,
        tier=first.tier,
        policy=first.policy,
        tp=tp,
        checks=(*(c for c in first.checks if c.id != CHECK), result),
        findings=findings,
    )


def _merge_guards(
    paths: list[Path],
    shards: list[tuple[Path, Report, Any]],
    guards: list[dict[str, Any] | None],
    merged: Any,
    cfg: Any,
    outcome: Any,
) -> None:
    """Shards of a guarded run: the guard's record rebuilt from theirs and judged as one run's."""
    from pydantic import ValidationError

    from gate.checks.adversarial import guard_summary, judge_guard
    from gate.redteam.guard_record import GuardMergeError, GuardRecord, merge_guard

    records = []
    for (p, _, rec), g in zip(shards, guards, strict=True):
        if g is None:
            raise InputError(f"{p}: a shard without the guard, merged with shards of a guarded run")
        try:
            records.append(GuardRecord.model_validate({**g, "guarded": rec.model_dump(by_alias=True)}))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "(top level)"
            raise InputError(f"{p}: checks.adversarial.details.guard.{where}: {err['msg']}") from None
    order = sorted(range(len(records)), key=lambda k: (records[k].shard or (1, 1))[0])
    try:
        one = merge_guard([records[k] for k in order], merged)
    except GuardMergeError as exc:
        raise InputError(f"merge: {exc} ({', '.join(str(p) for p in paths)})") from None
    outcome.findings += judge_guard(one, cfg, line=None)
    outcome.details["guard"] = one.model_dump(mode="json", by_alias=True, exclude={"guarded"})
    outcome.summary += "; " + guard_summary(one)
