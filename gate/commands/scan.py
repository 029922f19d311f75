"""`model-gate scan`: the model-file scanner on its own."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gate.commands.shared import (
    GateCommand,
    handle_errors,
)
from gate.errors import CheckError


@click.command(cls=GateCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--policy",
    "policy_ref",
    default="default",
    show_default=True,
    help="Policy whose model-files settings (allowlist extensions) apply.",
)
@handle_errors
def scan(paths: tuple[Path, ...], fmt: str, policy_ref: str) -> None:
    """Scan model files for code that runs when they load, without loading them.

    Exit 0 clean, 1 blocking findings, 2 usage, 3 a file could not be analysed.
    """
    import importlib

    try:
        run_scan = importlib.import_module("gate.scanner.cli").run_scan
    except ImportError:
        raise CheckError(
            "the model-file scanner is not part of this build", hint="Upgrade model-gate."
        ) from None
    sys.exit(run_scan(paths, fmt=fmt, policy_ref=policy_ref))
