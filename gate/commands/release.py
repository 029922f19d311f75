"""Commands about one release folder: `init` (write release.yaml) and `tier` (its risk tier)."""

from __future__ import annotations

from pathlib import Path

import click

from gate.commands.shared import (
    GateCommand,
    handle_errors,
)
from gate.pipes import echo


@click.command(cls=GateCommand)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing release.yaml.")
@handle_errors
def init(path: Path, force: bool) -> None:
    """Write release.yaml from the folder's files.

    TODOs mark what is left to write. Model files (by their bytes), a signature, provenance,
    requirements and lock files, serving manifests, monitoring files and datasets are found and
    declared; `check` blocks on every TODO.
    """
    from gate.init import write_template

    written = write_template(path, force=force)
    echo(f"wrote {written}: fill in the TODOs, then run 'model-gate check {path}'")


@click.command(cls=GateCommand)
@click.argument("release", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def tier(release: Path, fmt: str) -> None:
    """Show the release's risk tier and each factor's contribution."""
    from gate.release import load_manifest
    from gate.risk import score, tables

    loaded = load_manifest(release)
    t = score(loaded.manifest)
    if fmt == "json":
        echo(t.model_dump_json(indent=2))
        return
    echo(f"tier: {t.level.value}   (EU AI Act: {t.eu_ai_act}; factor score {t.score})")
    echo("")
    echo(f"  {'factor':<18} {'value':<20} points")
    for f in t.factors:
        echo(f"  {f.name:<18} {f.value:<20} +{f.points}")
    echo("")
    thresholds = ", ".join(f"{k.value} ≥ {v}" for k, v in tables().tiers.items())
    echo(f"  score thresholds: {thresholds}")
    for line in t.rationale:
        echo(f"  · {line}")
