"""Documents about a release or a report: `sbom` (CycloneDX ML-BOM) and `evidence` (compliance pack)."""

from __future__ import annotations

from pathlib import Path

import click

from gate.commands.shared import (
    GateCommand,
    handle_errors,
    write_output,
)
from gate.pipes import echo


@click.command(cls=GateCommand)
@click.argument("release", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write the BOM here (default: standard output)."
)
@click.option(
    "--policy",
    "policy_ref",
    default="default",
    show_default=True,
    help="Policy whose `dependencies` settings (osv_url, service) the audit uses.",
)
@click.option(
    "--offline", is_flag=True, help="Audit only against a self-hosted OSV mirror; error without one."
)
@click.option("--no-audit", is_flag=True, help="Leave the vulnerability audit out (the BOM records that).")
@click.option("--validate", is_flag=True, help="Validate the BOM against the CycloneDX 1.6 schema.")
@handle_errors
def sbom(
    release: Path, output: Path | None, policy_ref: str, offline: bool, no_audit: bool, validate: bool
) -> None:
    """Write the release's CycloneDX 1.6 ML bill of materials.

    The model (every file's digest, a model card from release.yaml), its datasets and base model,
    the serving dependencies with purls and their known vulnerabilities (a fresh pip-audit run).
    Exit 0 written, 2 invalid input, 3 the audit could not complete.
    """
    from gate.sbom import sbom_for_release, validate_bom, write_bom

    text = sbom_for_release(release, policy_ref=policy_ref, offline=offline, audit=not no_audit)
    if validate:
        validate_bom(text)
    if output is None:
        echo(text, nl=False)
    else:
        write_bom(output, text)
        click.echo(f"wrote {output}", err=True)


@click.command(cls=GateCommand)
@click.argument("report_path", metavar="REPORT", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("json", "markdown", "oscal")),
    default="markdown",
    show_default=True,
    help="json: the pack; markdown: the coverage matrix for people; oscal: NIST OSCAL assessment results.",
)
@click.option("--output", type=click.Path(path_type=Path), help="Write the pack here instead of stdout.")
@click.option(
    "--decision-log",
    "decision_log_path",
    type=click.Path(path_type=Path),
    help="Link the entries of this decision log that judged the same release digest.",
)
@handle_errors
def evidence(report_path: Path, fmt: str, output: Path | None, decision_log_path: Path | None) -> None:
    """Compliance evidence pack of a JSON report: coverage per framework (never a compliance claim)."""
    from gate.compliance.output import render
    from gate.compliance.pack import build_pack

    text = render(build_pack(report_path, decision_log=decision_log_path), fmt)
    if output is None:
        echo(text, nl=False)
    else:
        write_output(output, text.encode("utf-8"))
