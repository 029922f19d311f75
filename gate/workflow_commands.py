"""GitHub Actions workflow commands: a report's findings as annotations, step outputs, and the
job summary."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gate.escape import printable, workflow_data, workflow_property
from gate.models.finding import Finding, Severity
from gate.models.report import CheckStatus, Report

MAX_ANNOTATIONS = 10  # per kind and step: GitHub drops the rest silently
MAX_MESSAGE = 4000


escape_data = workflow_data
escape_property = workflow_property


def command(kind: str, message: str, **props: str | int | None) -> str:
    """One workflow command line, e.g. `::error file=a.py,line=3,title=T::message`.

    Message and properties are release text: invisible characters become visible escapes
    (gate.escape.printable), then GitHub's percent-encoding keeps them on one line.
    """
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "…"
    parts = [f"{k}={escape_property(printable(str(v)))}" for k, v in props.items() if v not in (None, "")]
    head = f"::{kind}" + (" " + ",".join(parts) if parts else "")
    return f"{head}::{escape_data(printable(message, newlines=True))}"


@dataclass(frozen=True)
class Annotation:
    kind: str  # error | warning | notice
    message: str
    title: str
    file: str | None = None
    line: int | None = None

    def render(self) -> str:
        return command(self.kind, self.message, file=self.file, line=self.line, title=self.title)


def _finding_annotation(kind: str, f: Finding, prefix: str | None) -> Annotation:
    path = f.location.path or "release.yaml"
    file = f"{prefix}/{path}" if prefix else path
    message = f.title
    if f.location.detail:
        message += f" ({f.location.detail})"
    if f.mitigation:
        message += f"\nFix: {f.mitigation}"
    if f.waiver is not None:
        message += f"\nWaived by {f.waiver.id} until {f.waiver.expires}: {f.waiver.reason}"
    title = f"{'waived: ' if f.waiver else ''}{f.rule.code} {f.rule.name} ({f.severity.value})"
    return Annotation(kind, message, title, file, f.location.line if f.location.path else None)


def pick_annotations(
    report: Report, prefix: str | None, report_path: str = "", limit: int = MAX_ANNOTATIONS
) -> list[Annotation]:
    """The annotations for a report: worst first, at most `limit` of each kind, then a notice.

    Errors: checks that could not complete (they block: fail closed), then blocking findings by
    severity. Warnings: non-blocking findings of severity low and above, waived ones included.
    """
    worst_first = sorted(report.findings, key=lambda f: -f.severity.rank)  # stable: engine order
    errors: list[Annotation] = [
        Annotation(
            "error",
            f"check {c.id} could not complete: {c.summary}",
            f"model-gate: {c.id} could not complete",
            f"{prefix}/release.yaml" if prefix else "release.yaml",
        )
        for c in report.checks
        if c.status is CheckStatus.ERROR
    ]
    errors += [_finding_annotation("error", f, prefix) for f in worst_first if f.effective_blocking]
    warnings = [
        _finding_annotation("warning", f, prefix)
        for f in worst_first
        if not f.effective_blocking and f.severity > Severity.INFO
    ]
    out = errors[:limit] + warnings[:limit]
    more_e, more_w = max(0, len(errors) - limit), max(0, len(warnings) - limit)
    if more_e or more_w:
        parts = []
        if more_e:
            parts.append(f"{more_e} more error{'s' if more_e != 1 else ''}")
        if more_w:
            parts.append(f"{more_w} more warning{'s' if more_w != 1 else ''}")
        where = f" ({report_path})" if report_path else ""
        out.append(
            Annotation(
                "notice",
                f"{' and '.join(parts)} are in the job summary and the full report{where}; "
                f"GitHub shows at most {limit} of each kind per step.",
                "model-gate: more findings",
            )
        )
    return out


# outputs and summary ------------------------------------------------------------------------


def set_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append step outputs in the multi-line-safe `name<<DELIMITER` form."""
    with path.open("a", encoding="utf-8") as fh:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            if delimiter in value:  # pragma: no cover - a uuid4 collision
                raise ValueError("output value contains its delimiter")
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def write_summary(path: Path, markdown: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(markdown)
