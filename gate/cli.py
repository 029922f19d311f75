"""The command line: parse options, call the core, render, exit. No logic lives here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from gate import __version__
from gate.errors import CheckError, ExitCode, GateError

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ["text", "json", "markdown", "sarif", "junit"]


def one_line(text: str) -> str:
    """Names and values from hostile files may hold newlines: an error stays on one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _fail(message: str, hint: str | None, code: int) -> None:
    click.echo(f"model-gate: error: {one_line(message)}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn every error into one line and an exit code; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GateError as exc:
            _fail(exc.message, exc.hint, int(exc.exit_code))
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="model-gate")
def main() -> None:
    """model-gate: a security gate for machine-learning model releases.

    Exit codes: 0 pass (warnings allowed), 1 blocked by policy, 2 usage error or
    invalid input (nothing judged), 3 a required check could not complete.
    """


@main.command()
@click.argument("release", type=click.Path(path_type=Path))
@click.option(
    "--policy",
    "policy_ref",
    default="default",
    show_default=True,
    help="Packaged policy name or path to a policy file.",
)
@click.option(
    "--waivers",
    "waiver_dir",
    type=click.Path(path_type=Path),
    help="Directory of signed waivers to apply.",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(FORMATS),
    help="Report format; repeat for several. Default: text.",
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Write the report here; the n-th --output takes the n-th --format.",
)
@click.option("--offline", is_flag=True, help="Never use the network; checks that need it error.")
@click.option("--only", multiple=True, metavar="CHECK", help="Run only these checks.")
@click.option("--skip", multiple=True, metavar="CHECK", help="Leave these checks out.")
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="Report of the last approved release, for regression checks.",
)
@handle_errors
def check(
    release: Path,
    policy_ref: str,
    waiver_dir: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    offline: bool,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    baseline: Path | None,
) -> None:
    """Judge a model release against a policy."""
    from gate import engine
    from gate.checks.interface import RunOptions

    plan = _output_plan(formats, outputs)
    waivers = None
    if waiver_dir is not None:
        from gate.waivers import load_waiver_applier

        waivers = load_waiver_applier(waiver_dir)
    report = engine.run(
        engine.RunRequest(
            release_dir=release,
            policy=policy_ref,
            only=only,
            skip=skip,
            options=RunOptions(offline=offline, baseline=baseline),
            waivers=waivers,
        )
    )
    _emit(report, plan)
    sys.exit(report.exit_code)


def _output_plan(formats: tuple[str, ...], outputs: tuple[Path, ...]) -> list[tuple[str, Path | None]]:
    fmts = list(formats) or ["text"]
    if len(outputs) > len(fmts):
        raise GateError("more --output than --format options: give one --format per --output")
    plan: list[tuple[str, Path | None]] = [
        (f, outputs[i] if i < len(outputs) else None) for i, f in enumerate(fmts)
    ]
    if sum(1 for _, o in plan if o is None) > 1:
        raise GateError("only one report can go to standard output: add --output for the others")
    return plan


def _emit(report: Any, plan: list[tuple[str, Path | None]]) -> None:
    from gate.reporters import get_reporter

    for fmt, out in plan:
        reporter = get_reporter(fmt)
        if out is None:
            click.echo(reporter.render(report, color=use_color(sys.stdout)), nl=False)
        else:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(reporter.render(report), encoding="utf-8")
            except OSError as exc:
                raise GateError(f"{out}: cannot write report: {exc.strerror or exc}") from None


@main.command()
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


@main.command()
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
        click.echo(t.model_dump_json(indent=2))
        return
    click.echo(f"tier: {t.level.value}   (EU AI Act: {t.eu_ai_act}; factor score {t.score})")
    click.echo("")
    click.echo(f"  {'factor':<18} {'value':<20} points")
    for f in t.factors:
        click.echo(f"  {f.name:<18} {f.value:<20} +{f.points}")
    click.echo("")
    thresholds = ", ".join(f"{k.value} ≥ {v}" for k, v in tables().tiers.items())
    click.echo(f"  score thresholds: {thresholds}")
    for line in t.rationale:
        click.echo(f"  · {line}")


@main.command()
@click.argument("rule", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every rule.")
@handle_errors
def explain(rule: str | None, list_all: bool) -> None:
    """Print a rule's documentation (by code, e.g. GATE-RI005, or name)."""
    from gate.checks import all_rules, find_rule
    from gate.docs import rule_doc

    if list_all or not rule:
        for r in all_rules():
            click.echo(f"{r.code}  {r.name:<34} {r.severity.value:<8} {r.check}")
        return
    found = find_rule(rule)
    if found is None:
        raise GateError(f"unknown rule '{rule}'", hint="'model-gate explain --list' lists them.")
    click.echo(rule_doc(found))


@main.group()
def policy() -> None:
    """Work with policy files."""


@policy.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@handle_errors
def policy_lint(paths: tuple[Path, ...]) -> None:
    """Report unknown keys, wrong types and unknown checks or rules, with file and line."""
    from gate.policy import lint

    problems = [p for path in paths for p in lint(path)]
    for p in problems:
        click.echo(p)
    if problems:
        sys.exit(int(ExitCode.USAGE))
    click.echo(f"{len(paths)} policy file(s) OK")


@policy.command("show")
@click.argument("ref", default="default")
@click.option("--tier", "tier_name", type=click.Choice(["low", "medium", "high", "critical", "prohibited"]))
@handle_errors
def policy_show(ref: str, tier_name: str | None) -> None:
    """Print the composed policy (after `extends:`), for one tier or all."""
    import json

    from gate.policy import load_policy
    from gate.risk import Tier

    pol = load_policy(ref)
    tiers = [Tier(tier_name)] if tier_name else list(Tier)
    data = {t.value: pol.for_tier(t).model_dump(mode="json", exclude={"tier"}) for t in tiers}
    click.echo(
        json.dumps(
            {
                "name": pol.name,
                "sha256": pol.sha256,
                "sources": [s.path for s in pol.sources],
                "tiers": data,
            },
            indent=2,
        )
    )


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing release.yaml.")
@handle_errors
def init(path: Path, force: bool) -> None:
    """Write a commented release.yaml to fill in, guessing the model files."""
    from gate.init import write_template

    written = write_template(path, force=force)
    click.echo(f"wrote {written}: fill in the TODOs, then run 'model-gate check {path}'")
