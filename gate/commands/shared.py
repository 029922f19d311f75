"""What every command shares: one-line errors and exit codes, help listing, report output."""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gate.errors import ExitCode, GateError, InputError
from gate.pipes import echo, silence_stdout
from gate.saferead import read_bounded

if TYPE_CHECKING:
    from gate.models.report import Report
    from gate.reporters.interface import Reporter

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ["text", "json", "markdown", "sarif", "junit", "html"]


def one_line(text: str) -> str:
    """Names and values from hostile files may hold newlines or workflow commands: an error
    stays one printable line (gate.escape)."""
    from gate.escape import text as printable_line

    return printable_line(text)


def _fail(message: str, hint: str | None, code: int) -> None:
    click.echo(f"model-gate: error: {one_line(message)}", err=True)
    if hint:
        click.echo(f"  hint: {one_line(hint)}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn every error into one line and an exit code; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GateError as exc:
            _fail(exc.message, exc.hint, int(exc.exit_code))
        except BrokenPipeError:
            # The reader closed standard output (`| head -1`). Commands print through pipes.echo,
            # which lets them finish with their own exit code; output that did not (click's own)
            # ends here: quietly, and never with 0, since the command's outcome was not reached.
            silence_stdout()
            sys.exit(1)
        except KeyboardInterrupt:
            _fail("interrupted", None, int(ExitCode.CHECK_ERROR))
        except RecursionError:
            _fail("input nested too deeply", None, int(ExitCode.USAGE))
        except MemoryError:
            _fail("out of memory while reading the input", None, int(ExitCode.USAGE))
        except Exception as exc:
            if os.environ.get("MODEL_GATE_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {exc}",
                "Set MODEL_GATE_DEBUG=1 for a traceback, and please report it.",
                int(ExitCode.CHECK_ERROR),
            )

    return wrapper  # type: ignore[return-value]


def use_color(stream: Any) -> bool:
    if os.environ.get("NO_COLOR") is not None:
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def summary_line(help_text: str | None) -> str:
    """A command's first paragraph on one line: the listing shows it whole, never cut mid-sentence."""
    if not help_text:
        return ""
    first = inspect.cleandoc(help_text).split("\n\n", 1)[0]
    return " ".join(first.split())


class GateCommand(click.Command):
    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or summary_line(self.help)


class GateGroup(click.Group):
    command_class = GateCommand
    group_class = type  # subgroups (waiver, policy, decision-log) are GateGroups too

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or summary_line(self.help)


def key_password() -> bytes | None:
    pw = os.environ.get("MODEL_GATE_KEY_PASSWORD")
    return pw.encode() if pw else None


def output_plan(formats: tuple[str, ...], outputs: tuple[Path, ...]) -> list[tuple[str, Path | None]]:
    fmts = list(formats) or ["text"]
    if len(outputs) > len(fmts):
        raise GateError("more --output than --format options: give one --format per --output")
    plan: list[tuple[str, Path | None]] = [
        (f, outputs[i] if i < len(outputs) else None) for i, f in enumerate(fmts)
    ]
    if sum(1 for _, o in plan if o is None) > 1:
        raise GateError("only one report can go to standard output: add --output for the others")
    from gate.safewrite import refuse_link

    for _, out in plan:
        if out is not None:
            refuse_link(out, "the report")  # now, not after the whole run
    return plan


def sarif_all_rules_option(fn: F) -> F:
    """`--sarif-all-rules`, for every command that can write SARIF."""
    return click.option(
        "--sarif-all-rules",
        is_flag=True,
        help="SARIF: describe every rule of the catalogue, not only the rules the results name.",
    )(fn)


def reporter_for(fmt: str, *, sarif_all_rules: bool = False) -> Reporter:
    """A format's reporter, given the rule catalogue if the format describes rules."""
    from gate.reporters import get_reporter, reporter_class

    options: dict[str, Any] = {"all_rules": True} if fmt == "sarif" and sarif_all_rules else {}
    if reporter_class(fmt).uses_rules:
        from gate.checks import all_rules

        return get_reporter(fmt, rules=all_rules(), **options)
    return get_reporter(fmt, **options)


def emit(report: Any, plan: list[tuple[str, Path | None]], *, sarif_all_rules: bool = False) -> None:
    for fmt, out in plan:
        reporter = reporter_for(fmt, sarif_all_rules=sarif_all_rules)
        if out is None:
            from gate.reporters.text import TextReporter, terminal_width

            # The terminal report fits the terminal; files keep the default width.
            kw = {"width": terminal_width()} if isinstance(reporter, TextReporter) else {}
            echo(reporter.render(report, color=use_color(sys.stdout), **kw), nl=False)
        else:
            from gate.safewrite import write_file

            write_file(out, reporter.render(report), what="the report")


def write_output(path: Path, data: bytes) -> None:
    from gate.safewrite import write_file

    write_file(path, data)


@dataclass(frozen=True)
class Sidecar:
    """Where checks write the files a report links (the training data's rows, a shard's state)."""

    directory: Path | None
    link: str  # how the report names the directory: "" when beside the report file
    why_not: str | None  # for the checks: why nothing is written, when so


ROWS_DIR_ENV = "MODEL_GATE_ROWS_DIR"
DEFAULT_ROWS_DIR = "model-gate-rows"


def sidecar_dir(explicit: Path | None, plan: list[tuple[str, Path | None]], release: Path) -> Sidecar:
    """--rows-dir (never inside the release), else beside the first report file, else
    $MODEL_GATE_ROWS_DIR or ./model-gate-rows (nowhere when that lies inside the release)."""
    beside = next((o.parent for _, o in plan if o is not None), None)
    if explicit is not None:
        if release.exists() and explicit.resolve().is_relative_to(release.resolve()):
            raise GateError(
                f"--rows-dir {explicit} is inside the release directory",
                hint="The gate writes nothing into what it judges: name a directory outside it.",
            )
        same = beside is not None and explicit.resolve() == beside.resolve()
        return Sidecar(explicit, "" if same else str(explicit), None)
    if beside is not None:
        return Sidecar(beside, "", None)
    default = Path(os.environ.get(ROWS_DIR_ENV) or DEFAULT_ROWS_DIR)
    if release.exists() and default.resolve().is_relative_to(release.resolve()):
        why = (
            f"the default directory {default} lies inside the release, which the gate never writes "
            "into: give --rows-dir DIR or --output FILE outside it"
        )
        return Sidecar(None, "", why)
    return Sidecar(default, str(default), None)


REPORT_MAX_BYTES = 256 * 1024 * 1024


def load_report(path: Path) -> Report:
    """A JSON report from a file, validated; a one-line reason naming the file and field if not."""
    from pydantic import ValidationError

    from gate.models.report import Report

    raw = read_bounded(path, REPORT_MAX_BYTES, "report")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not a JSON report: {str(exc)[:80]}") from None
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{path}: not a model-gate report: {where}: {err['msg']}") from None
