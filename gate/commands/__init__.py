"""The command layer: parse options, call the core, render, exit.

One module per command group; each holds its commands and nothing the core needs. Libraries
never import from here (tests/test_import_layers.py holds that).
"""

from __future__ import annotations

import click

from gate import __version__
from gate.commands import (
    attest,
    check,
    decision_log,
    documents,
    explain,
    policy,
    redteam,
    release,
    scan,
    waiver,
)
from gate.commands.shared import GateGroup


@click.group(cls=GateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="model-gate")
def main() -> None:
    """model-gate: a security gate for machine-learning model releases.

    Exit codes: 0 pass (warnings allowed), 1 blocked by policy, 2 usage error or
    invalid input (nothing judged), 3 a required check could not complete.
    """


for _command in (
    check.check,
    scan.scan,
    documents.sbom,
    release.tier,
    explain.explain,
    policy.policy,
    release.init,
    waiver.waiver,
    attest.verify_attestation_cmd,
    decision_log.decision_log_group,
    redteam.redteam,
    redteam.merge,
    documents.evidence,
):
    main.add_command(_command)

__all__ = ["main"]
