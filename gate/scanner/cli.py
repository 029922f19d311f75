"""`model-gate scan PATH...`: the model-file scanner on its own, on files or directories.

Exit codes: 0 clean (warnings allowed), 1 blocking findings, 2 usage (a path
that does not exist, a bad policy), 3 a file could not be analysed. With
`--format json` the findings are the same objects the check report carries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from gate.errors import ExitCode, GateError

TIER = "low"  # outside a release there is no deployment context: the policy's baseline section applies


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


def run_scan(paths: tuple[Path, ...] | list[Path], fmt: str = "text", policy_ref: str = "default") -> int:
    from gate.checks.model_files import findings_for
    from gate.engine import decide_blocking
    from gate.policy import config_for, load_policy
    from gate.risk import Tier
    from gate.scanner.allowlist import shipped
    from gate.scanner.interface import AnalysisError
    from gate.scanner.scan import FileInfo, analyse_file, resolve_claims

    policy = load_policy(policy_ref, validate={"model-files"})
    tp = policy.for_tier(Tier(TIER))
    cfg = config_for(tp, "model-files")
    settings = cfg.settings()
    files, links, errors = _files(tuple(paths))
    results = []
    for path, display in files:
        try:
            size = path.stat().st_size
            results.append(analyse_file(FileInfo(path, display, size), settings))
        except (AnalysisError, OSError) as exc:
            errors.append(str(exc))
    findings = []
    for r in resolve_claims(results):
        findings += [decide_blocking(f, tp) for f in findings_for(r)]
    findings.sort(key=lambda f: (not f.blocking, -f.severity.rank, f.location.path or "", f.id))
    blocking = sum(f.blocking for f in findings)
    code = ExitCode.CHECK_ERROR if errors else (ExitCode.BLOCKED if blocking else ExitCode.PASS)
    if fmt == "json":
        doc: dict[str, Any] = {
            "exit_code": int(code),
            "policy": {"name": policy.name, "sha256": policy.sha256, "tier": TIER},
            "allowlist_revision": shipped().revision,
            "files": [
                {"path": r.path, "formats": r.formats, "bytes_analysed": r.bytes_read} for r in results
            ],
            "symlinks_not_followed": links,
            "errors": errors,
            "findings": [f.model_dump(mode="json") for f in findings],
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        for f in findings:
            mark = "BLOCK" if f.blocking else "warn "
            click.echo(f"{mark} {f.rule.code} {f.rule.name} [{f.severity.value}] {f.title}")
            if f.location.detail:
                click.echo(f"      at {f.location.detail}")
        for e in errors:
            click.echo(f"ERROR {e}")
        click.echo(
            f"{len(results)} file(s) scanned, {len(findings)} finding(s), {blocking} blocking"
            + (f", {len(errors)} could not be analysed" if errors else "")
            + (f", {links} symlink(s) not followed" if links else "")
        )
    return int(code)
