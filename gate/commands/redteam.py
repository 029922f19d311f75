"""`model-gate redteam` (the adversarial check alone) and `merge` (shard reports into one verdict)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gate.commands.shared import (
    FORMATS,
    GateCommand,
    emit,
    handle_errors,
    output_plan,
)


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
) -> None:
    """Attack the release's endpoint with garak and judge it (the adversarial check alone).

    With --shard, the report holds one slice for `model-gate merge`; its exit code
    says only whether the slice ran (0) or not (3).
    """
    from gate.redteam.merge import run_redteam
    from gate.redteam.shard import parse_shard

    plan = output_plan(formats, outputs)
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
    )
    emit(report, plan)
    sys.exit(report.exit_code)


@click.command(cls=GateCommand)
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--policy", "policy_ref", default="default", show_default=True, help="The shards' policy.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Report of the last approved release.")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), help="Report format.")
@click.option("--output", "outputs", multiple=True, type=click.Path(path_type=Path), help="Report file.")
@handle_errors
def merge(
    reports: tuple[Path, ...],
    policy_ref: str,
    baseline: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
) -> None:
    """Join the JSON reports of `redteam --shard I/N` runs into one verdict."""
    from gate.redteam.merge import merge_reports

    plan = output_plan(formats, outputs)
    report = merge_reports(list(reports), policy_ref=policy_ref, baseline=baseline)
    emit(report, plan)
    sys.exit(report.exit_code)
