"""The decision log: one JSON line per `check` run, appended, never rewritten.

Each line records when, which release (digest), which policy (digest), the
verdict and which waivers were applied or rejected. Lines are chained: each
carries the sha256 of the line before it, so an edited or deleted line shows
up in `verify_log`. Writes use O_APPEND and one write() per line under an
exclusive lock, so concurrent runs never interleave.

Default location: $MODEL_GATE_DECISION_LOG, else
$XDG_STATE_HOME/model-gate/decisions.jsonl (~/.local/state/... when unset).
Never inside the release: that would change the digest of the next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from gate.errors import InputError
from gate.models.report import Report, WaiverStatus
from gate.timefmt import rfc3339

DECISION_SCHEMA = "https://model-gate.dev/schemas/decision/v1"
ENV_VAR = "MODEL_GATE_DECISION_LOG"
TAIL_BYTES = 1024 * 1024
# CI context worth recording; values only, never secrets.
CI_VARS = (
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_ACTOR",
)


def default_path() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "model-gate" / "decisions.jsonl"


def check_path(path: Path, release_dir: Path | None) -> Path:
    """Refuse a log inside the release before anything runs."""
    inside = release_dir is not None and release_dir.exists()
    if inside and release_dir is not None and path.resolve().is_relative_to(release_dir.resolve()):
        raise InputError(
            f"{path}: the decision log must not be inside the release directory",
            hint="Each appended line would change the release digest; keep the log elsewhere.",
        )
    if path.is_symlink():
        raise InputError(f"{path}: is a symbolic link; the gate never writes the decision log through a link")
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: the decision log is not a regular file")
    return path


def _ci() -> dict[str, str]:
    return {k: v for k in CI_VARS if (v := os.environ.get(k))}


def entry_for(
    report: Report,
    *,
    now: dt.datetime,
    attestation: tuple[str, str] | None = None,
    policy_ref: str | None = None,
) -> dict[str, Any]:
    """What one judged run records."""
    by_status: dict[str, list[dict[str, Any]]] = {s.value: [] for s in WaiverStatus}
    for w in report.waivers:
        item: dict[str, Any] = {"id": w.id, "path": w.path, "findings": list(w.findings)}
        if w.status is WaiverStatus.APPLIED:
            item["approvers"] = list(w.approvers)
            item["expires"] = w.expires
        else:
            item["reason"] = w.reason
        by_status[w.status.value].append(item)
    entry: dict[str, Any] = {
        "schema": DECISION_SCHEMA,
        "time": rfc3339(now),
        "gate_version": report.gate_version,
        "release": {
            "name": report.release.name,
            "version": report.release.version,
            "digest": report.release.digest,
            "path": report.release.path,
        },
        "tier": report.tier.level.value,
        "policy": {
            "name": report.policy.name,
            "source": report.policy.source,
            "sha256": report.policy.sha256,
            "ref": policy_ref,
            "notes": list(report.policy.notes),
        },
        "verdict": report.verdict.value,
        "exit_code": report.exit_code,
        "blocking": [f.id for f in report.findings if f.effective_blocking],
        "waived": [f.id for f in report.findings if f.waiver],
        "waivers": by_status,
        "attestation": {"path": attestation[0], "sha256": attestation[1]} if attestation else None,
    }
    if ci := _ci():
        entry["ci"] = ci
    return entry


def error_entry(
    *, now: dt.datetime, release: str, message: str, exit_code: int, policy_ref: str | None = None
) -> dict[str, Any]:
    """A run that judged nothing (bad input): recorded too, since a forged policy or waiver ends here."""
    from gate import __version__

    entry: dict[str, Any] = {
        "schema": DECISION_SCHEMA,
        "time": rfc3339(now),
        "gate_version": __version__,
        "release": {"path": release},
        "policy": {"ref": policy_ref},
        "verdict": None,
        "exit_code": exit_code,
        "error": message,
    }
    if ci := _ci():
        entry["ci"] = ci
    return entry


def _last_line(fd: int, size: int) -> bytes | None:
    if size == 0:
        return None
    start = max(0, size - TAIL_BYTES)
    tail = os.pread(fd, size - start, start)
    lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1] if lines and lines[-1] else None


def append(path: Path, entry: dict[str, Any]) -> str:
    """Append one line; returns its sha256 (the next line's `prev`)."""
    import fcntl

    from gate.safewrite import open_append

    fd = open_append(path, what="the decision log")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        last = _last_line(fd, size)
        entry = {**entry, "prev": "sha256:" + hashlib.sha256(last).hexdigest() if last else None}
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        # A torn last line (a crash mid-write elsewhere) must not swallow ours.
        lead = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""
        data = lead + line + b"\n"
        written = os.write(fd, data)
        if written != len(data):
            raise InputError(f"{path}: short write to the decision log ({written} of {len(data)} bytes)")
        os.fsync(fd)
    except OSError as exc:
        raise InputError(f"{path}: cannot append to the decision log: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return "sha256:" + hashlib.sha256(line).hexdigest()


def verify_log(path: Path) -> list[str]:
    """Problems in a log: unparseable lines and broken `prev` links. Empty when intact."""
    problems: list[str] = []
    prev: bytes | None = None
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [f"{path}: cannot read: {exc.strerror or exc}"]
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(f"{path}:{n}: not JSON")
            prev = line
            continue
        want = "sha256:" + hashlib.sha256(prev).hexdigest() if prev is not None else None
        if not isinstance(entry, dict) or entry.get("prev") != want:
            problems.append(f"{path}:{n}: prev does not match the line before (edited or removed lines)")
        prev = line
    return problems
