"""Progress on standard error: live bars on a terminal, a heartbeat line in CI logs, or nothing.

The libraries report what they do as `gate.progress` events; `progress_draw` draws them, and this
module holds what every command loads: the option, the heartbeat interval and the heartbeat
line's shape. Reports go to standard output or files and are never touched: progress writes to
standard error alone, and `--no-progress` writes nothing at all.

- On a terminal (or with `--progress`): rich bars, hashing with bytes, rate and time left; each
  check as it starts, and one line as it ends with its status and time; the red-team run's probes
  done / total, attempts answered and elapsed time against the timeout.
- Elsewhere (CI): one line every MODEL_GATE_PROGRESS_INTERVAL seconds (30 by default) saying what
  runs, how far it got and for how long, so a long job's log shows life. A run shorter than one
  interval prints nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gate.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])
INTERVAL_ENV = "MODEL_GATE_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0
MIN_INTERVAL = 0.05
PREFIX = "model-gate: "
# Every heartbeat line: what a log reader (the Action) tells apart from errors and warnings.
HEARTBEAT_LINE = re.compile(r"model-gate: (\d+:)?\d+:\d\d elapsed; ")


def is_progress_line(line: str) -> bool:
    return HEARTBEAT_LINE.match(line) is not None


def progress_option(fn: F) -> F:
    return click.option(
        "--progress/--no-progress",
        "progress",
        default=None,
        help="Show progress on standard error: live bars (--progress, the default on a terminal) or "
        f"else a heartbeat line every ${INTERVAL_ENV} seconds (default {DEFAULT_INTERVAL:g}); "
        "--no-progress writes nothing there. Reports are never affected.",
    )(fn)


def heartbeat_interval() -> float:
    raw = os.environ.get(INTERVAL_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (MIN_INTERVAL <= value <= 24 * 3600):
        raise InputError(
            f"${INTERVAL_ENV}: '{raw[:40]}' is not a number of seconds between {MIN_INTERVAL:g} and 86400"
        )
    return value
