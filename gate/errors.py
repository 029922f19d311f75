"""Errors the gate raises on purpose, and the exit codes a pipeline acts on.

Every error carries a one-line reason that names the file (and field where
there is one) plus an optional hint on how to fix it. The CLI prints these and
never a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASS = 0  # passed; warnings allowed
    BLOCKED = 1  # blocked by policy
    USAGE = 2  # usage error or invalid input: nothing was judged
    CHECK_ERROR = 3  # a required check could not complete (fail closed)


class GateError(Exception):
    """Base error. `exit_code` says how the CLI ends when this reaches it."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(GateError):
    """A file the user gave us is missing, malformed or hostile."""


class ManifestError(InputError):
    """release.yaml is invalid."""


class PolicyError(InputError):
    """A policy file is invalid or cannot be composed."""


class CheckError(GateError):
    """A check could not complete. Inside the engine it becomes an `error` result."""

    exit_code = ExitCode.CHECK_ERROR


class ToolMissingError(CheckError):
    """An external tool or optional extra that a check needs is not installed."""
