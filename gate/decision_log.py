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
    if report.partial:
        # --only: the verdict speaks for the checks that ran; the log must not read as a full one.
        entry["partial"] = True
        entry["left_out"] = list(report.left_out)
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


# --- reading ---------------------------------------------------------------------------------

NO_VERDICT = "none"  # a run that judged nothing (bad input): its entry has verdict null
VERDICTS = ("pass", "warn", "fail", "error", NO_VERDICT)


def read_entries(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The log's entries in order, and how many lines were not JSON objects (skipped)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the decision log: {exc.strerror or exc}") from None
    entries: list[dict[str, Any]] = []
    bad = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            bad += 1
    return entries, bad


def entry_verdict(entry: dict[str, Any]) -> str:
    v = entry.get("verdict")
    return v if isinstance(v, str) and v else NO_VERDICT


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def time_of(entry: dict[str, Any]) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(_text(entry.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def matches_release(entry: dict[str, Any], wanted: str) -> bool:
    """By name, name@version, digest (or its start, 12 characters at least) or path."""
    rel = entry.get("release")
    if not isinstance(rel, dict):
        return False
    name, version = _text(rel.get("name")), _text(rel.get("version"))
    digest, path = _text(rel.get("digest")), _text(rel.get("path"))
    w = wanted.strip()
    if w in (name, f"{name}@{version}", path) and w:
        return True
    bare = w.removeprefix("sha256:")
    return len(bare) >= 12 and digest.removeprefix("sha256:").startswith(bare)


def select(
    entries: list[dict[str, Any]],
    *,
    release: str | None = None,
    verdicts: tuple[str, ...] = (),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        if release is not None and not matches_release(e, release):
            continue
        if verdicts and entry_verdict(e) not in verdicts:
            continue
        if since is not None or until is not None:
            when = time_of(e)
            if when is None or (since is not None and when < since) or (until is not None and when >= until):
                continue
        out.append(e)
    return out


def _cell(value: str) -> str:
    """Release names come from release.yaml: no control characters reach the terminal."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in value)


def table(entries: list[dict[str, Any]]) -> str:
    """One line per run: time, verdict, exit code, release, digest, tier, policy."""
    rows = [("time", "verdict", "exit", "release", "digest", "tier", "policy")]
    for e in entries:
        rel = e.get("release") if isinstance(e.get("release"), dict) else {}
        pol = e.get("policy") if isinstance(e.get("policy"), dict) else {}
        assert isinstance(rel, dict) and isinstance(pol, dict)
        name = _text(rel.get("name"))
        release = f"{name}@{_text(rel.get('version'))}" if name else _text(rel.get("path"))
        digest = _text(rel.get("digest"))
        exit_code = e.get("exit_code")
        rows.append(
            (
                _text(e.get("time")),
                entry_verdict(e) + (" (partial)" if e.get("partial") is True else ""),
                str(exit_code) if isinstance(exit_code, int) else "",
                release,
                f"{digest[:19]}…" if len(digest) > 19 else digest,
                _text(e.get("tier")),
                _text(pol.get("name")) or _text(pol.get("ref")),
            )
        )
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)
