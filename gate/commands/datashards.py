"""`model-gate merge` of `check --shard I/N` reports whose training-data check recorded a state.

Each shard report's training-data result names its state file (`details.state_file`), written
beside the report. The merge checks the states (every shard 1..N once, one split, the same files
and settings), runs the training-data check on the release with the states instead of the rows,
and puts its result and findings in place of the shards': the verdict is the one a single run
over every row gives. The adversarial part of the same reports, when there is one, is merged as
`merge` always did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate.commands.shared import load_report
from gate.errors import InputError
from gate.models.report import CheckResult, Report

CHECK = "training-data"


def _state_path(path: Path, result: CheckResult) -> Path | None:
    details: Any = result.details
    name = details.get("state_file") if isinstance(details, dict) else None
    if name is None:
        return None
    # A name from a report is hostile: one plain file name, looked for beside the report only.
    if not isinstance(name, str) or not name or name != Path(name).name or name.startswith("."):
        raise InputError(f"{path}: checks.training-data.details.state_file: not a plain file name")
    return path.parent / name


def data_shards_release(paths: list[Path]) -> Path | None:
    """When the first report is a training-data shard: the release path it records (the others are
    checked by the merge); else None."""
    rep = load_report(paths[0]) if paths else None
    res = next((c for c in rep.checks if c.id == CHECK), None) if rep else None
    if rep is None or res is None or _state_path(paths[0], res) is None:
        return None
    return Path(rep.release.path)


def merge_data_shards(
    paths: list[Path],
    *,
    policy_ref: str,
    merge_adversarial: Callable[[], Report],
    release: Path | None,
    rows_dir: Path | None,
    link: str,
) -> Report:
    """One report from shard reports holding training-data states (and adversarial slices)."""
    from gate import engine
    from gate.checks.interface import RunOptions
    from gate.datacheck.shard import check_complete, config_digest, read_state
    from gate.policy import config_for, load_policy

    reports = [(p, load_report(p)) for p in paths]
    first_path, first = reports[0]
    states = []
    for p, rep in reports:
        res = next((c for c in rep.checks if c.id == CHECK), None)
        state = _state_path(p, res) if res is not None else None
        if res is None or state is None:
            raise InputError(f"{p}: the report has no training-data shard state (run `check --shard I/N`)")
        if rep.policy.sha256 != first.policy.sha256 or rep.tier.level != first.tier.level:
            raise InputError(f"{p}: judged under another policy or tier than {first_path}")
        if rep.release.digest != first.release.digest:
            raise InputError(f"{p}: a shard of another release than {first_path}")
        states.append((p, read_state(state)))
    policy = load_policy(policy_ref)
    if policy.sha256 != first.policy.sha256:
        raise InputError(
            f"merge: policy '{policy_ref}' (sha256 {policy.sha256[:12]}) is not the one the shards ran "
            f"under ({first.policy.sha256[:12]})",
            hint="Pass the same --policy that the shard runs used.",
        )
    tp = policy.for_tier(first.tier.level)
    check_complete(states, config_digest(config_for(tp, CHECK)))
    root = release if release is not None else Path(first.release.path)
    if not (root / "release.yaml").is_file():
        raise InputError(
            f"merge: the release the shards judged is not at {root}",
            hint="The merge reads the datasets again (digests, quoted rows): give --release DIR.",
        )
    merged = engine.run(
        engine.RunRequest(
            release_dir=root,
            policy=policy,
            only=(CHECK,),
            options=RunOptions(
                data_states=tuple(s for _, s in states), report_dir=rows_dir, sidecar_link=link
            ),
        )
    )
    if merged.release.digest != first.release.digest:
        raise InputError(
            f"merge: the release at {root} is not the one the shards judged (its digest differs)"
        )
    result = next(c for c in merged.checks if c.id == CHECK)
    if any(
        c.id == "adversarial" and isinstance(c.details, dict) and c.details.get("shard") for c in first.checks
    ):
        base = merge_adversarial()
    else:
        base = first
    checks = tuple(result if c.id == CHECK else c for c in base.checks)
    findings = [f for f in base.findings if f.check != CHECK]
    findings += [f for f in merged.findings if f.check == CHECK]
    findings.sort(key=engine.finding_order)
    verdict = engine.verdict_of(findings, checks, tp)
    return base.model_copy(
        update={
            "generated_at": merged.generated_at,
            "verdict": verdict,
            "exit_code": engine.EXIT_FOR[verdict],
            "checks": checks,
            "findings": tuple(findings),
            "artifacts": {
                k: v for k, v in {**base.artifacts, **merged.artifacts}.items() if k != "training-data-state"
            },
        }
    )
