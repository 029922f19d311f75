"""The Markdown report: the body of a GitHub job summary, worth reading on its own.

Order: verdict and tier, checks that could not complete, blocking findings with their fixes,
waivers, then one collapsed section per check. `render_limited` keeps the text under a byte
budget (GitHub accepts at most 1 MiB per step summary) by cutting the least important parts
first and saying what was cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gate.escape import markdown
from gate.models.finding import Finding
from gate.models.report import CheckResult, CheckStatus, Report, Verdict
from gate.reporters.interface import Reporter
from gate.reporters.text import location_text

ICON = {Verdict.PASS: "✅", Verdict.WARN: "⚠️", Verdict.FAIL: "❌", Verdict.ERROR: "⛔"}
STATUS_ICON = {
    CheckStatus.PASSED: "✅",
    CheckStatus.WARNED: "⚠️",
    CheckStatus.FAILED: "❌",
    CheckStatus.SKIPPED: "⏭️",
    CheckStatus.ERROR: "⛔",
}
VERDICT_TEXT = {
    Verdict.PASS: "passed",
    Verdict.WARN: "passed with warnings",
    Verdict.FAIL: "blocked by policy",
    Verdict.ERROR: "a check could not complete (fail closed)",
}
GITHUB_SUMMARY_LIMIT = 1024 * 1024
CELL_MAX = 600  # characters per table cell: one hostile title must not eat the budget
FINDING_COLUMNS = "| Severity | Rule | Finding | Location | Fix |\n|---|---|---|---|---|"


def cell(text: str | None, limit: int = CELL_MAX) -> str:
    """Make text safe inside a table cell, list item or <summary> (gate.escape.markdown)."""
    return markdown(text, limit)


def finding_row(f: Finding) -> str:
    waived = " (waived)" if f.waiver else ""
    if f.baseline:
        waived += f" · {f.baseline}"
    return (
        f"| {f.severity.value} | `{cell(f.rule.code)}` {cell(f.rule.name)}{waived} | {cell(f.title)} | "
        f"{cell(location_text(f))} | {cell(f.mitigation)} |"
    )


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


class MarkdownReporter(Reporter):
    name = "markdown"
    suffix = ".md"

    def render(self, report: Report, *, color: bool = False) -> str:
        return "\n".join(self._head(report) + self._body(report)) + "\n"

    def render_limited(self, report: Report, max_bytes: int = GITHUB_SUMMARY_LIMIT - 16 * 1024) -> str:
        """The report, cut to fit `max_bytes` of UTF-8, with a note saying what was cut.

        What goes first: per-check details, then rows of the blocking table (the worst kept),
        then the waiver table. Verdict, tier and the counts always stay.
        """
        full = self.render(report)
        if len(full.encode("utf-8")) <= max_bytes:
            return full
        r = report
        head = self._head(r)
        blocking = [f for f in r.findings if f.effective_blocking]
        others = len(r.findings) - len(blocking)
        cut: list[str] = [f"the per-check details ({len(r.checks)} checks, {others} non-blocking findings)"]
        tail = self._tail(r)
        budget = max_bytes - _size(head) - _size(tail) - 1024  # room for the note itself
        waiver_lines = self._waivers(r)
        error_lines = self._errors(r)
        budget -= _size(error_lines)
        if _size(waiver_lines) > budget // 2:
            cut.append(f"the waiver table ({len(r.waivers)} waivers)")
            waiver_lines = []
        budget -= _size(waiver_lines)
        table = self._blocking_header(blocking)
        budget -= _size(table)
        shown = 0
        for f in blocking:
            row = finding_row(f)
            if _size([row]) > budget:
                break
            table.append(row)
            budget -= _size([row])
            shown += 1
        if shown < len(blocking):
            cut.append(f"{len(blocking) - shown} of {len(blocking)} blocking findings (the least severe)")
        note = [
            "> [!NOTE]",
            f"> This summary was cut to fit GitHub's {GITHUB_SUMMARY_LIMIT // 1024} KiB limit: left out "
            + "; ".join(cut)
            + ". The full report (JSON, SARIF) has everything.",
            "",
        ]
        lines = head + note + error_lines + table + ([""] if table else []) + waiver_lines + tail
        text = "\n".join(lines) + "\n"
        if len(text.encode("utf-8")) > max_bytes:  # pathological: a head larger than the budget
            text = trim_text(text, max_bytes)
        return text

    # sections --------------------------------------------------------------------------------

    def _head(self, r: Report) -> list[str]:
        blocking = sum(1 for f in r.findings if f.effective_blocking)
        waived = sum(1 for f in r.findings if f.waiver)
        counts = ", ".join(f"{n} {s}" for s, n in r.counts().items() if n) or "none"
        lines = [
            f"## {ICON[r.verdict]} model-gate: **{r.verdict.value.upper()}** — "
            f"{cell(r.release.name)} {cell(r.release.version)}",
            "",
            f"**Verdict:** {VERDICT_TEXT[r.verdict]} (exit code {r.exit_code}) · "
            f"**Tier:** `{r.tier.level.value}` (EU AI Act: {cell(r.tier.eu_ai_act)}, score {r.tier.score}) · "
            f"**Blocking:** {blocking} · **Findings:** {len(r.findings)} ({counts})"
            + (f" · **Waived:** {waived}" if waived else ""),
            "",
            f"**Policy:** `{cell(r.policy.name)}` (`sha256:{r.policy.sha256[:12]}`) · "
            f"**Release digest:** `{cell(r.release.digest)}`",
            "",
        ]
        if r.partial:
            left = ", ".join(f"`{cell(c)}`" for c in r.left_out)
            lines += [f"> **Partial run:** `--only` left out {left}; this is no verdict on the release.", ""]
        for line in r.tier.rationale:
            lines.append(f"- {cell(line)}")
        for note in r.policy.notes:
            lines.append(f"- ⚠️ {cell(note)}")
        if r.tier.rationale or r.policy.notes:
            lines.append("")
        return lines

    def _errors(self, r: Report) -> list[str]:
        errors = [c for c in r.checks if c.status is CheckStatus.ERROR]
        if not errors:
            return []
        lines = [f"### ⛔ Checks that could not complete ({len(errors)})", ""]
        lines += [f"- `{cell(c.id)}`: {cell(c.summary)}" for c in errors]
        lines.append("")
        return lines

    @staticmethod
    def _blocking_header(blocking: list[Finding]) -> list[str]:
        if not blocking:
            return ["No blocking findings."]
        return [f"### Blocking findings ({len(blocking)})", "", FINDING_COLUMNS]

    def _blocking(self, r: Report) -> list[str]:
        blocking = [f for f in r.findings if f.effective_blocking]
        lines = self._blocking_header(blocking)
        lines += [finding_row(f) for f in blocking]
        lines.append("")
        return lines

    @staticmethod
    def _baseline(r: Report, limit: int = 50) -> list[str]:
        b = r.baseline
        if b is None:
            return []
        lines = ["### Baseline", "", cell(b.describe()), ""]
        if b.fixed:
            lines += [f"Fixed since the baseline ({len(b.fixed)}):", ""]
            for f in b.fixed[:limit]:
                title = f": {cell(f.title)}" if f.title else ""
                lines.append(f"- `{cell(f.id)}`{title}")
            if len(b.fixed) > limit:
                lines.append(f"- … and {len(b.fixed) - limit} more in the JSON report")
            lines.append("")
        return lines

    def _waivers(self, r: Report) -> list[str]:
        waived = [f for f in r.findings if f.waiver]
        if not (r.waivers or waived):
            return []
        lines = ["### Waivers", ""]
        if r.waivers:
            lines += ["| Status | Waiver | Reason | Expires | Findings |", "|---|---|---|---|---|"]
            for w in r.waivers:
                soon = " ⏳ expiring soon" if w.expiring_soon else ""
                lines.append(
                    f"| {w.status.value} | `{cell(w.path)}` | {cell(w.reason)} | "
                    f"{cell(w.expires or '-')}{soon} | {cell(', '.join(w.findings))} |"
                )
            lines.append("")
        if waived:
            lines += [
                f"Waived findings ({len(waived)}), shown so that nothing accepted is hidden:",
                "",
                "| Severity | Rule | Finding | Waiver | Approvers | Expires |",
                "|---|---|---|---|---|---|",
            ]
            for f in waived:
                applied = f.waiver
                assert applied is not None
                lines.append(
                    f"| {f.severity.value} | `{cell(f.rule.code)}` {cell(f.rule.name)} | {cell(f.title)} | "
                    f"{cell(applied.justification)}: {cell(applied.reason)} | "
                    f"{cell(', '.join(applied.approvers))} | {cell(applied.expires)} |"
                )
            lines.append("")
        return lines

    def _check_details(self, r: Report) -> list[str]:
        lines = ["### Checks", ""]
        by_check: dict[str, list[Finding]] = {}
        for f in r.findings:
            by_check.setdefault(f.check, []).append(f)
        for c in r.checks:
            lines += self._check_section(c, by_check.pop(c.id, []))
        for check_id, fs in by_check.items():  # findings of no check: the engine's own rules
            lines += self._section(f"`{cell(check_id)}`: {len(fs)} findings", fs, None)
        return lines

    def _check_section(self, c: CheckResult, findings: list[Finding]) -> list[str]:
        req = "" if c.required else " (optional)"
        title = (
            f"{STATUS_ICON[c.status]} <code>{cell(c.id)}</code>{req}: {cell(c.summary)} "
            f"<sub>{c.duration_s:.2f}s</sub>"
        )
        return self._section(title, findings, c)

    @staticmethod
    def _section(title: str, findings: list[Finding], c: CheckResult | None) -> list[str]:
        lines = [f"<details><summary>{title}</summary>", ""]
        if c is not None:
            lines.append(f"{cell(c.title)}: **{c.status.value}**{'' if c.required else ' (optional)'}.")
            lines.append("")
        if findings:
            lines.append(FINDING_COLUMNS)
            lines += [finding_row(f) for f in findings]
        else:
            lines.append("No findings.")
        lines += ["", "</details>", ""]
        return lines

    @staticmethod
    def _tail(r: Report) -> list[str]:
        return [f"<sub>model-gate {cell(r.gate_version)} · generated {cell(r.generated_at)}</sub>"]

    def _body(self, r: Report) -> list[str]:
        parts: list[Callable[[Report], list[str]]] = [
            self._errors,
            self._blocking,
            self._baseline,
            self._waivers,
            self._check_details,
            self._tail,
        ]
        return [line for part in parts for line in part(r)]


def trim_text(text: str, max_bytes: int = GITHUB_SUMMARY_LIMIT - 16 * 1024) -> str:
    """Cut any Markdown to `max_bytes` of UTF-8 at a line boundary, closing open <details>.

    For text the gate did not render itself (or a report that cannot be cut by structure).
    """
    total = len(text.encode("utf-8"))
    if total <= max_bytes:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    used = 0
    for line in lines:
        size = len(line.encode("utf-8")) + 1
        if used + size > max_bytes:
            break
        kept.append(line)
        used += size
    if not kept:  # one enormous line: cut inside it, on a character boundary
        kept = [text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")]
    while True:
        body = "\n".join(kept)
        opened = body.count("<details") - body.count("</details>")
        dropped = total - len(body.encode("utf-8"))
        out = (
            body
            + "\n"
            + "\n</details>" * max(opened, 0)
            + f"\n\n> [!NOTE]\n> This summary was cut to fit GitHub's {GITHUB_SUMMARY_LIMIT // 1024} KiB "
            f"limit: the last {dropped:,} bytes were left out. The full report has everything.\n"
        )
        if len(out.encode("utf-8")) <= max_bytes or not kept:
            return out
        last = kept.pop()
        if not kept and last:  # shorten the only line rather than drop everything
            half = last.encode("utf-8")[: len(last.encode("utf-8")) // 2].decode("utf-8", "ignore")
            kept = [half] if half else []
