"""`model-gate policy`: lint, show and sign policy files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gate.commands.shared import (
    GateGroup,
    handle_errors,
    key_password,
)
from gate.errors import ExitCode
from gate.pipes import echo


@click.group(cls=GateGroup)
def policy() -> None:
    """Work with policy files."""


@policy.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@handle_errors
def policy_lint(paths: tuple[Path, ...]) -> None:
    """Report unknown keys, wrong types and unknown checks or rules, with file and line."""
    from gate.policy import lint

    problems = [p for path in paths for p in lint(path)]
    for p in problems:
        echo(p)
    if problems:
        sys.exit(int(ExitCode.USAGE))
    echo(f"{len(paths)} policy file(s) OK")


@policy.command("show")
@click.argument("ref", default="default")
@click.option("--tier", "tier_name", type=click.Choice(["low", "medium", "high", "critical", "prohibited"]))
@handle_errors
def policy_show(ref: str, tier_name: str | None) -> None:
    """Print the composed policy (after `extends:`), for one tier or all."""
    import json

    from gate.policy import load_policy
    from gate.risk import Tier

    pol = load_policy(ref)
    tiers = [Tier(tier_name)] if tier_name else list(Tier)
    data = {t.value: pol.for_tier(t).model_dump(mode="json", exclude={"tier"}) for t in tiers}
    echo(
        json.dumps(
            {
                "name": pol.name,
                "sha256": pol.sha256,
                "sources": [s.path for s in pol.sources],
                "tiers": data,
            },
            indent=2,
        )
    )


@policy.command("sign")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--key", type=click.Path(path_type=Path), required=True, help="Private key (PEM).")
@handle_errors
def policy_sign(path: Path, key: Path) -> None:
    """Sign a policy file and the trust files it names (writes PATH.sig), for --policy-key."""
    from gate.dsse import load_private_key
    from gate.protected_policy import sign_policy_file

    out = sign_policy_file(path, load_private_key(key, key_password()))
    echo(f"wrote {out}")
