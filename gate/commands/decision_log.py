"""`model-gate decision-log`: read, filter and verify the append-only log of `check` runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gate.commands.shared import (
    GateGroup,
    handle_errors,
)
from gate.errors import GateError
from gate.pipes import echo


@click.group("decision-log", cls=GateGroup)
def decision_log_group() -> None:
    """Read the append-only log of `check` runs."""


@decision_log_group.command("verify")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@handle_errors
def decision_log_verify(path: Path | None) -> None:
    """Check that no line was edited or removed (each line names the sha256 of the one before)."""
    from gate import decision_log

    target = path or decision_log.default_path()
    if not target.is_file():
        raise GateError(f"{target}: no decision log here")
    problems = decision_log.verify_log(target)
    for p in problems:
        echo(p)
    if problems:
        sys.exit(1)
    lines = sum(1 for line in target.read_bytes().splitlines() if line.strip())
    echo(f"{target}: {lines} entries, chain intact")


def _log_entries(path: Path | None) -> tuple[Path, list[dict[str, Any]]]:
    from gate import decision_log

    target = path or decision_log.default_path()
    if not target.is_file():
        raise GateError(f"{target}: no decision log here")
    entries, bad = decision_log.read_entries(target)
    if bad:
        click.echo(
            f"model-gate: warning: {target}: {bad} line(s) are not entries and were left out "
            "(model-gate decision-log verify tells more)",
            err=True,
        )
    return target, entries


def _print_entries(entries: list[dict[str, Any]], fmt: str) -> None:
    import json

    from gate import decision_log

    if fmt == "json":
        echo(json.dumps(entries, indent=2, sort_keys=True))
    elif entries:
        echo(decision_log.table(entries))


LOG_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@decision_log_group.command("show")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--release", metavar="NAME|NAME@VERSION|DIGEST|PATH", help="Only runs of this release.")
@click.option(
    "--verdict",
    "verdicts",
    multiple=True,
    type=click.Choice(["pass", "warn", "fail", "error", "none"]),
    help="Only runs with this verdict (repeat); 'none': runs that judged nothing (bad input).",
)
@click.option("--since", metavar="WHEN", help="From this date or time, or this long ago (7d).")
@click.option("--until", metavar="WHEN", help="Up to this time, or through this date (2025-07-01).")
@LOG_FORMAT
@handle_errors
def decision_log_show(
    path: Path | None,
    release: str | None,
    verdicts: tuple[str, ...],
    since: str | None,
    until: str | None,
    fmt: str,
) -> None:
    """List the runs a decision log recorded, oldest first, filtered by release, verdict and date."""
    import datetime as dt

    from gate import decision_log
    from gate.checks.interface import utc_now
    from gate.timefmt import parse_duration, parse_when

    now = utc_now()

    def when(text: str | None, option: str, end_of_day: bool) -> dt.datetime | None:
        if text is None:
            return None
        raw = text.strip()
        try:
            return now - parse_duration(raw, option)  # a duration counts back from now
        except GateError:
            pass
        moment = parse_when(raw, now, option)
        is_date = len(raw) == 10 and raw[4] == "-" and raw[7] == "-"
        return moment + dt.timedelta(days=1) if end_of_day and is_date else moment

    _, entries = _log_entries(path)
    chosen = decision_log.select(
        entries,
        release=release,
        verdicts=verdicts,
        since=when(since, "--since", False),
        until=when(until, "--until", True),
    )
    _print_entries(chosen, fmt)


@decision_log_group.command("tail")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("-n", "--lines", "count", type=click.IntRange(1), default=10, show_default=True)
@LOG_FORMAT
@handle_errors
def decision_log_tail(path: Path | None, count: int, fmt: str) -> None:
    """Show the last runs a decision log recorded."""
    _, entries = _log_entries(path)
    _print_entries(entries[-count:], fmt)
