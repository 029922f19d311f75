"""Standard output that a reader may close early (`model-gate tier X | head -1`).

When the reader goes away, the rest of the output has nowhere to go, but the command's outcome
still stands: its exit code (a verdict, a lint result) must not turn into an internal error or a
pass. `echo` silences standard output on the first broken pipe and lets the command finish.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null: later writes and the final flush succeed quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no usable stdout at all: nothing left to protect
        pass


def echo(message: Any = None, **kwargs: Any) -> None:
    """click.echo to standard output, tolerant of a reader that closed the pipe."""
    try:
        click.echo(message, **kwargs)
    except BrokenPipeError:
        if kwargs.get("err"):
            return
        silence_stdout()
