"""Kept for `from gate.cli import main`: the commands live in gate.commands."""

from gate.commands import main
from gate.commands.shared import summary_line

__all__ = ["main", "summary_line"]
