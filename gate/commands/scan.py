"""`model-gate scan PATH...`: the model-file scanner on its own, on files or directories.

Exit codes: 0 clean (warnings allowed), 1 blocking findings, 2 usage (a path
that does not exist, a bad policy), 3 a file could not be analysed. With
`--format json` the findings are the same objects the check report carries.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from gate.commands.progress import progress_option
from gate.commands.shared import GateCommand, handle_errors
from gate.errors import ExitCode, GateError
from gate.pipes import echo


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
@progress_option
@handle_errors
def scan(paths: tuple[Path, ...], fmt: str, policy_ref: str, progress: bool | None) -> None:
    """Scan model files for code that runs when they load, without loading them.

    Exit 0 clean, 1 blocking findings, 2 usage, 3 a file could not be analysed.
    """
    sys.exit(run_scan(paths, fmt=fmt, policy_ref=policy_ref, progress=progress))


def _files(paths: tuple[Path, ...]) -> tuple[list[tuple[Path, str]], int, list[str]]:
    """(file on disk, display name) for every regular file under the paths; links are not followed.

    Devices, FIFOs and sockets cannot be analysed (reading one may hang): they are errors, not skips.
    """
    out: list[tuple[Path, str]] = []
    special: list[str] = []
    links = 0
    for p in paths:
        if p.is_symlink() or not p.exists():
            if p.is_symlink():
                links += 1
                continue
            raise GateError(f"{p}: no such file or directory")
        if p.is_file():
            out.append((p, str(p)))
            continue
        if not p.is_dir():
            special.append(f"{p}: not a regular file or directory")
            continue
        for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                f = Path(dirpath) / name
                if f.is_symlink():
                    links += 1
                elif f.is_file():
                    out.append((f, str(f)))
                else:
                    special.append(f"{f}: not a regular file")
    return out, links, special


def run_scan(
    paths: tuple[Path, ...] | list[Path],
    fmt: str = "text",
    policy_ref: str = "default",
    progress: bool | None = False,
) -> int:
    """`progress`: as --progress/--no-progress (None: bars on a terminal, else a heartbeat)."""
    import json

    from gate.escape import text
    from gate.scan_policy import SCAN_TIER, Prepared, prepared
    from gate.scanner.interface import AnalysisError
    from gate.scanner.scan import FileInfo, analyse_file, resolve_claims

    # A packaged policy comes precompiled (no pydantic, no YAML): the common case of a clean file
    # answers in the time of the scan itself. A policy file, or anything to report, takes the full
    # load below, which validates the policy and applies its blocking rules.
    policy: Prepared | _FullPolicy = prepared(policy_ref) or _FullPolicy(policy_ref)
    files, links, errors = _files(tuple(paths))
    results = []
    from gate.commands.progress_draw import progress_sink

    with progress_sink(progress) as sink:
        meter = _meter(sink, files)
        for path, display in files:
            size = 0
            try:
                size = path.stat().st_size
                results.append(analyse_file(FileInfo(path, display, size), policy.settings))
            except (AnalysisError, OSError) as exc:
                errors.append(str(exc))
            if meter is not None:
                meter.add(size, files=1)  # the file is judged: all of it counts as done
        if meter is not None:
            meter.finish()
    results = resolve_claims(results)
    findings: list[Any] = []
    if any(r.issues for r in results):
        full = policy if isinstance(policy, _FullPolicy) else _FullPolicy(policy_ref)
        findings = full.findings(results)
    blocking = sum(f.blocking for f in findings)
    code = ExitCode.CHECK_ERROR if errors else (ExitCode.BLOCKED if blocking else ExitCode.PASS)
    if fmt == "json":
        doc: dict[str, Any] = {
            "exit_code": int(code),
            "policy": {"name": policy.name, "sha256": policy.sha256, "tier": SCAN_TIER},
            "allowlist_revision": policy.allowlist_revision,
            "files": [
                {"path": r.path, "formats": r.formats, "bytes_analysed": r.bytes_read} for r in results
            ],
            "symlinks_not_followed": links,
            "errors": errors,
            "findings": [f.model_dump(mode="json") for f in findings],
        }
        echo(json.dumps(doc, indent=2))
    else:
        for f in findings:
            mark = "BLOCK" if f.blocking else "warn "
            echo(f"{mark} {f.rule.code} {f.rule.name} [{f.severity.value}] {text(f.title)}")
            if f.location.detail:
                echo(f"      at {text(f.location.detail)}")
        for e in errors:
            echo(f"ERROR {text(str(e))}")
        echo(
            f"{len(results)} file(s) scanned, {len(findings)} finding(s), {blocking} blocking"
            + (f", {len(errors)} could not be analysed" if errors else "")
            + (f", {links} symlink(s) not followed" if links else "")
        )
    return int(code)


def _meter(sink: Any, files: list[tuple[Path, str]]) -> Any:
    """Counts the bytes scanned for the progress display (None when nobody watches)."""
    if sink is None:
        return None
    from gate.progress import ByteMeter

    total = 0
    for path, _ in files:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return ByteMeter(sink, "scanning", total, len(files))


class _FullPolicy:
    """The policy loaded and validated (pydantic), with the tier section the scan applies; the
    same fields as a precompiled `Prepared`, plus the blocking decisions that need the models."""

    def __init__(self, ref: str) -> None:
        from gate.models.tier import Tier
        from gate.policy import config_for, load_policy
        from gate.scan_policy import SCAN_TIER
        from gate.scanner.allowlist import shipped

        policy = load_policy(ref, validate={"model-files"})
        self.name, self.sha256 = policy.name, policy.sha256
        self.allowlist_revision = shipped().revision
        self.tier_policy = policy.for_tier(Tier(SCAN_TIER))
        self.settings = config_for(self.tier_policy, "model-files").settings()

    def findings(self, results: list[Any]) -> list[Any]:
        from gate.checks.model_files import findings_for
        from gate.engine import decide_blocking

        out = [decide_blocking(f, self.tier_policy) for r in results for f in findings_for(r)]
        out.sort(key=lambda f: (not f.blocking, -f.severity.rank, f.location.path or "", f.id))
        return out
