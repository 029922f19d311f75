"""Read garak's report.jsonl and hitlog, and refuse anything short of a complete run.

garak exits 0 when attacks succeed, when a probe is unknown, when a key is
missing and when nothing ran, so its exit code says nothing. The gate reads the
report itself and raises `ReportError` (a check error, exit 3) when:

- the file is missing, too large, not JSON lines, or a row has the wrong shape;
- there is no `init` row, or no `completion` row (the run did not finish);
- a requested probe, or one of its expected detectors, has no `eval` row;
- an `eval` row has `total_evaluated: 0`;
- failed generations (`nones`) exceed the policy's limit;
- the report holds results for a probe nobody asked for (a stale or foreign file).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gate.errors import CheckError
from gate.redteam.models import (
    AttemptRow,
    CompletionRow,
    DetectorResult,
    EvalRow,
    GarakRow,
    HitRow,
    InitRow,
    PluginCacheRow,
    ProbeResult,
    Reproduction,
)

MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_TEXT_CHARS = 2000  # of a reproduction's prompt or output kept in reports


class ReportError(CheckError):
    """garak's report cannot be trusted to say the release is safe."""


@dataclass
class ParsedReport:
    path: Path
    garak_version: str = ""
    run_id: str = ""
    complete: bool = False
    attempts: int = 0
    evals: dict[str, dict[str, EvalRow]] = field(default_factory=dict)
    primary: dict[str, list[str]] = field(default_factory=dict)  # probe -> detectors garak queued


def _lines(path: Path, max_bytes: int) -> Iterator[tuple[int, bytes]]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReportError(f"{path}: garak wrote no report ({exc.strerror or exc})") from None
    if size > max_bytes:
        raise ReportError(f"{path}: report is {size} bytes, over the {max_bytes}-byte limit")
    with path.open("rb") as fh:
        n = 0
        while True:
            line = fh.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            n += 1
            if len(line) > MAX_LINE_BYTES:
                raise ReportError(f"{path}:{n}: line longer than {MAX_LINE_BYTES} bytes")
            if line.strip():
                yield n, line


def _json(path: Path, n: int, line: bytes) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"{path}:{n}: not a JSON object ({str(exc)[:80]})") from None
    if not isinstance(row, dict):
        raise ReportError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
    return row


def _row(model: type[BaseModel], path: Path, n: int, row: dict[str, Any]) -> Any:
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "row"
        raise ReportError(f"{path}:{n}: {row.get('entry_type', '?')} row: {where}: {err['msg']}") from None


def parse_report(path: Path, *, max_bytes: int) -> ParsedReport:
    """Read every row of report.jsonl into typed rows; shape errors raise ReportError."""
    out = ParsedReport(path=path)
    completion: CompletionRow | None = None
    for n, line in _lines(path, max_bytes):
        row = _json(path, n, line)
        kind = row.get("entry_type")
        if not isinstance(kind, str):
            _row(GarakRow, path, n, row)  # raises: entry_type missing or not a string
            continue
        if kind == "init":
            init: InitRow = _row(InitRow, path, n, row)
            if out.run_id:
                raise ReportError(f"{path}:{n}: a second init row (two runs in one report)")
            out.garak_version, out.run_id = init.garak_version, init.run
        elif kind == "attempt":
            _row(AttemptRow, path, n, row)
            out.attempts += 1
        elif kind == "eval":
            ev: EvalRow = _row(EvalRow, path, n, row)
            per = out.evals.setdefault(ev.probe, {})
            if ev.detector in per:
                raise ReportError(f"{path}:{n}: a second eval row for {ev.probe} / {ev.detector}")
            per[ev.detector] = ev
        elif kind == "plugin_cache":
            pc: PluginCacheRow = _row(PluginCacheRow, path, n, row)
            probes = pc.plugin_cache.get("probes")
            if isinstance(probes, dict):
                for name, meta in probes.items():
                    if isinstance(meta, dict) and isinstance(meta.get("primary_detector"), str):
                        out.primary[str(name).removeprefix("probes.")] = [meta["primary_detector"]]
        elif kind == "completion":
            completion = _row(CompletionRow, path, n, row)
        # Other rows (start_run setup, payload_init, probe_summary, digest) carry nothing we judge.
    if not out.run_id:
        raise ReportError(f"{path}: no init row: not a garak report, or garak stopped before it began")
    if completion is None:
        raise ReportError(f"{path}: no completion row: the garak run did not finish (crashed or was stopped)")
    if completion.run != out.run_id:
        raise ReportError(f"{path}: completion row belongs to run {completion.run}, not {out.run_id}")
    out.complete = True
    return out


def check_complete(
    rep: ParsedReport,
    requested: Iterable[str],
    expected_detectors: dict[str, list[str]],
    *,
    max_nones_ratio: float,
) -> None:
    """Fail closed on every way a finished report can still be hollow."""
    wanted = list(requested)
    stray = sorted(set(rep.evals) - set(wanted))
    if stray:
        raise ReportError(f"{rep.path}: results for probes that were not requested: {', '.join(stray)}")
    missing = [p for p in wanted if p not in rep.evals]
    if missing:
        raise ReportError(
            f"{rep.path}: no eval row for {len(missing)} requested probe(s): {', '.join(missing)} "
            "(unknown to this garak, failed to load, or produced nothing)"
        )
    for probe in wanted:
        per = rep.evals[probe]
        want = set(expected_detectors.get(probe, [])) | set(rep.primary.get(probe, []))
        absent = sorted(want - set(per))
        if absent:
            raise ReportError(
                f"{rep.path}: probe {probe}: detector(s) {', '.join(absent)} produced no eval row "
                "(a detector garak could not load, e.g. a model download that failed offline)"
            )
        for det, ev in per.items():
            processed = ev.total_evaluated + ev.nones
            if ev.total_evaluated == 0:
                raise ReportError(
                    f"{rep.path}: {probe} / {det}: 0 outputs evaluated ({ev.nones} failed generations): "
                    "an empty run is not a pass"
                )
            if processed and ev.nones / processed > max_nones_ratio:
                raise ReportError(
                    f"{rep.path}: {probe} / {det}: {ev.nones} of {processed} generations failed, over the "
                    f"policy's limit of {max_nones_ratio:.0%}"
                )


def _text(value: Any) -> str:
    """The text of a garak Message/Conversation as logged in the hitlog."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict) and isinstance(value.get("text"), str):
        text = value["text"]
    elif isinstance(value, dict) and isinstance(value.get("turns"), list):
        parts = []
        for turn in value["turns"][-1:]:
            content = turn.get("content") if isinstance(turn, dict) else None
            if isinstance(content, dict) and isinstance(content.get("text"), str):
                parts.append(content["text"])
        text = "\n".join(parts)
    else:
        text = ""
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + " …[truncated]"


def parse_hitlog(path: Path, *, max_bytes: int, per_probe: int) -> dict[str, list[Reproduction]]:
    """Up to `per_probe` reproductions per probe. A missing hitlog means no hits."""
    out: dict[str, list[Reproduction]] = {}
    if not path.exists():
        return out
    for n, line in _lines(path, max_bytes):
        hit: HitRow = _row(HitRow, path, n, _json(path, n, line))
        kept = out.setdefault(hit.probe, [])
        if len(kept) < per_probe:
            kept.append(
                Reproduction(
                    probe=hit.probe,
                    detector=hit.detector,
                    prompt=_text(hit.prompt),
                    output=_text(hit.output),
                    score=float(hit.score),
                )
            )
    return out


def probe_results(
    rep: ParsedReport, hits: dict[str, list[Reproduction]], probes: Iterable[str]
) -> list[ProbeResult]:
    out = []
    for probe in probes:
        per = rep.evals[probe]
        out.append(
            ProbeResult(
                probe=probe,
                detectors=tuple(
                    DetectorResult(
                        detector=d,
                        passed=e.passed,
                        fails=e.fails,
                        nones=e.nones,
                        total_evaluated=e.total_evaluated,
                    )
                    for d, e in sorted(per.items())
                ),
                reproductions=tuple(hits.get(probe, [])),
            )
        )
    return out


def _last_user_text(prompt: Any) -> str | None:
    """The full text of the last turn of a garak prompt (a Conversation), untruncated."""
    if isinstance(prompt, dict) and isinstance(prompt.get("turns"), list) and prompt["turns"]:
        turn = prompt["turns"][-1]
        content = turn.get("content") if isinstance(turn, dict) else None
        if isinstance(content, dict) and isinstance(content.get("text"), str):
            return str(content["text"])
    return None


def attempt_prompts(path: Path, *, max_bytes: int) -> dict[str, set[str]]:
    """Every prompt garak sent, by probe: what the guard's decision log is joined with."""
    out: dict[str, set[str]] = {}
    for n, line in _lines(path, max_bytes):
        row = _json(path, n, line)
        if row.get("entry_type") != "attempt":
            continue
        attempt: AttemptRow = _row(AttemptRow, path, n, row)
        text = _last_user_text(row.get("prompt"))
        if text is not None:
            out.setdefault(attempt.probe_classname, set()).add(text)
    return out
