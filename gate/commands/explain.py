"""`model-gate explain`: a rule's documentation."""

from __future__ import annotations

import click

from gate.commands.shared import (
    GateCommand,
    handle_errors,
)
from gate.errors import GateError
from gate.pipes import echo


@click.command(cls=GateCommand)
@click.argument("rule", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every rule.")
@handle_errors
def explain(rule: str | None, list_all: bool) -> None:
    """Print a rule's documentation: by code (GATE-RI005 or RI005), name, or a report's finding id."""
    from gate.checks import all_rules
    from gate.docs import resolve_rule, rule_doc

    if list_all or not rule:
        for r in all_rules():
            echo(f"{r.code}  {r.name:<34} {r.severity.value:<8} {r.check}")
        return
    found, close = resolve_rule(rule)
    if found is None:
        guess = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise GateError(f"unknown rule '{rule}'", hint=f"{guess}'model-gate explain --list' lists them.")
    echo(rule_doc(found))
