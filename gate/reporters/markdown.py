"""The Markdown report: the body of a GitHub job summary, worth reading on its own.

Order: verdict, findings by check and severity, checks that could not complete, blocking
findings (with their ids) and a copy-paste `waiver new` line for each one a waiver can
cover, the attack success rates, the tier scorecard, the monitoring controls, the baseline,
waivers, then one collapsed section per check. Tables stop at the reporter's row limit ("…
and N more in the HTML report"). `render_limited` keeps the text under a byte budget (GitHub
accepts at most 1 MiB per step summary) by leaving out the least important parts first and
saying what it left out.

Everything from the release is hostile: table cells go through `cell`, identifiers through
`code`, and the <summary> of a collapsed section (where GitHub renders no Markdown) through
gate.escape.html_inline.
"""

from __future__ import annotations

from collections.abc import Sequence

from gate.escape import html_inline
from gate.models.finding import Finding, Rule
from gate.models.report import CheckResult, CheckStatus, Report, Verdict
from gate.reporters import markdown_sections as sections
from gate.reporters.interface import Reporter
from gate.reporters.markdown_sections import (
    CELL_MAX,
    FINDING_COLUMNS,
    ROW_LIMIT,
    cell,
    code,
    finding_row,
    more,
)
from gate.reporters.views import VERDICT_TEXT

__all__ = ["CELL_MAX", "GITHUB_SUMMARY_LIMIT", "MarkdownReporter", "cell", "finding_row", "trim_text"]

ICON = {Verdict.PASS: "✅", Verdict.WARN: "⚠️", Verdict.FAIL: "❌", Verdict.ERROR: "⛔"}
STATUS_ICON = {
    CheckStatus.PASSED: "✅",
    CheckStatus.WARNED: "⚠️",
    CheckStatus.FAILED: "❌",
    CheckStatus.SKIPPED: "⏭️",
    CheckStatus.ERROR: "⛔",
}
GITHUB_SUMMARY_LIMIT = 1024 * 1024
SUMMARY_MAX = 300  # characters of a check's summary in its <summary> line
# What render_limited leaves out first (then rows of the blocking table, the least severe).
CUT_ORDER = ("details", "waivers", "baseline", "controls", "asr", "tier", "waive")


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


class MarkdownReporter(Reporter):
    name = "markdown"
    suffix = ".md"
    uses_rules = True  # which blocking findings a waiver can cover

    def __init__(self, *, rules: Sequence[Rule] = (), row_limit: int = ROW_LIMIT) -> None:
        super().__init__(rules=rules)
        self.row_limit = row_limit

    def render(self, report: Report, *, color: bool = False) -> str:
        parts = self._sections(report)
        return "\n".join(self._head(report) + [line for _, lines, _ in parts for line in lines]) + "\n"

    def render_limited(self, report: Report, max_bytes: int = GITHUB_SUMMARY_LIMIT - 16 * 1024) -> str:
        """The report, cut to fit `max_bytes` of UTF-8, with a note saying what was cut.

        What goes first: per-check details, the waiver table, the baseline, the controls, the
        attack success rates, the tier scorecard and the waiver lines; then rows of the blocking
        table (the worst kept). The verdict, the counts and the checks that could not complete
        always stay.
        """
        full = self.render(report)
        if len(full.encode("utf-8")) <= max_bytes:
            return full
        r = report
        head = self._head(r)
        parts = self._sections(r)
        budget = max_bytes - _size(head) - 1024  # room for the note itself
        total = sum(_size(lines) for _, lines, _ in parts)
        cut: list[str] = []
        dropped: set[str] = set()
        for name in CUT_ORDER:
            if total <= budget:
                break
            for part, lines, what in parts:
                if part == name and lines:
                    total -= _size(lines)
                    dropped.add(name)
                    cut.append(what)
        body: list[str] = []
        for part, lines, _ in parts:
            if part in dropped:
                continue
            if part == "blocking" and total > budget:
                trimmed, left_out = self._trim_blocking(r, budget - (total - _size(lines)))
                cut.append(left_out)
                body += trimmed
            else:
                body += lines
        note = [
            "> [!NOTE]",
            f"> This summary was cut to fit GitHub's {GITHUB_SUMMARY_LIMIT // 1024} KiB limit: left out "
            + "; ".join(cut)
            + ". The HTML and JSON reports have everything.",
            "",
        ]
        text = "\n".join(head + note + body) + "\n"
        if len(text.encode("utf-8")) > max_bytes:  # pathological: a head larger than the budget
            text = trim_text(text, max_bytes)
        return text

    def _trim_blocking(self, r: Report, budget: int) -> tuple[list[str], str]:
        blocking = [f for f in r.findings if f.effective_blocking]
        table = self._blocking_header(blocking)
        budget -= _size(table) + 200  # and the closing line
        shown = 0
        for f in blocking[: self.row_limit]:
            row = finding_row(f)
            if _size([row]) > budget:
                break
            table.append(row)
            budget -= _size([row])
            shown += 1
        table += [*more(len(blocking) - shown, "blocking findings"), ""]
        return table, f"{len(blocking) - shown} of {len(blocking)} blocking findings (the least severe)"

    def _sections(self, r: Report) -> list[tuple[str, list[str], str]]:
        """(name, lines, what a cut would say it left out), in reading order."""
        waived = sum(1 for f in r.findings if f.waiver)
        others = sum(1 for f in r.findings if not f.effective_blocking)
        return [
            ("errors", self._errors(r), "the checks that could not complete"),
            ("blocking", self._blocking(r), "the blocking findings"),
            ("waive", sections.waiver_lines(r, self.find_rule, self.row_limit), "the waiver new lines"),
            ("asr", sections.asr(r, self.row_limit), "the attack success rates"),
            ("tier", sections.tier(r), "the tier scorecard"),
            ("controls", sections.monitoring(r, self.row_limit), "the monitoring controls"),
            ("baseline", self._baseline(r), "the baseline section"),
            ("waivers", self._waivers(r), f"the waiver table ({len(r.waivers)} waivers, {waived} waived)"),
            (
                "details",
                self._check_details(r),
                f"the per-check details ({len(r.checks)} checks, {others} non-blocking findings)",
            ),
            ("tail", self._tail(r), "the footer"),
        ]

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
            f"**Policy:** {code(r.policy.name)} ({code('sha256:' + r.policy.sha256[:12])}) · "
            f"**Release digest:** {code(r.release.digest)}",
            "",
        ]
        if r.partial:
            left = ", ".join(code(c) for c in r.left_out)
            lines += [f"> **Partial run:** `--only` left out {left}; this is no verdict on the release.", ""]
        lines += sections.counts(r)
        for note in r.policy.notes:
            lines.append(f"- ⚠️ {cell(note)}")
        if r.policy.notes:
            lines.append("")
        return lines

    def _errors(self, r: Report) -> list[str]:
        errors = [c for c in r.checks if c.status is CheckStatus.ERROR]
        if not errors:
            return []
        lines = [f"### ⛔ Checks that could not complete ({len(errors)})", ""]
        lines += [f"- {code(c.id)}: {cell(c.summary)}" for c in errors]
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
        lines += sections.limited([finding_row(f) for f in blocking], self.row_limit, "blocking findings")
        lines.append("")
        return lines

    def _baseline(self, r: Report) -> list[str]:
        b = r.baseline
        if b is None:
            return []
        lines = ["### Baseline", "", cell(b.describe()), ""]
        if b.fixed:
            lines += [f"Fixed since the baseline ({len(b.fixed)}):", ""]
            for f in b.fixed[: self.row_limit]:
                title = f": {cell(f.title)}" if f.title else ""
                lines.append(f"- {code(f.id)}{title}")
            lines += [*more(len(b.fixed) - self.row_limit, "fixed findings"), ""]
        return lines

    def _waivers(self, r: Report) -> list[str]:
        waived = [f for f in r.findings if f.waiver]
        if not (r.waivers or waived):
            return []
        lines = ["### Waivers", ""]
        if r.waivers:
            lines += ["| Status | Waiver | Reason | Expires | Findings |", "|---|---|---|---|---|"]
            rows = []
            for w in r.waivers:
                soon = " ⏳ expiring soon" if w.expiring_soon else ""
                rows.append(
                    f"| {w.status.value} | {code(w.path)} | {cell(w.reason)} | "
                    f"{cell(w.expires or '-')}{soon} | {', '.join(code(x) for x in w.findings[:20])} |"
                )
            lines += [*sections.limited(rows, self.row_limit, "waivers"), ""]
        if waived:
            lines += [
                f"Waived findings ({len(waived)}), shown so that nothing accepted is hidden:",
                "",
                "| Severity | Rule | Finding | Waiver | Approvers | Expires | Id |",
                "|---|---|---|---|---|---|---|",
            ]
            rows = []
            for f in waived:
                applied = f.waiver
                assert applied is not None
                rows.append(
                    f"| {f.severity.value} | {code(f.rule.code)} {cell(f.rule.name)} | {cell(f.title)} | "
                    f"{cell(applied.justification)}: {cell(applied.reason)} | "
                    f"{cell(', '.join(applied.approvers))} | {cell(applied.expires)} | {code(f.id)} |"
                )
            lines += [*sections.limited(rows, self.row_limit, "waived findings"), ""]
        return lines

    def _check_details(self, r: Report) -> list[str]:
        lines = ["### Checks", ""]
        by_check: dict[str, list[Finding]] = {}
        for f in r.findings:
            by_check.setdefault(f.check, []).append(f)
        for c in r.checks:
            lines += self._check_section(c, by_check.pop(c.id, []))
        for check_id, fs in by_check.items():  # findings of no check: the engine's own rules
            lines += self._section(f"{code(check_id)}: {len(fs)} findings", fs, None)
        return lines

    def _check_section(self, c: CheckResult, findings: list[Finding]) -> list[str]:
        req = "" if c.required else " (optional)"
        # GitHub renders no Markdown inside <summary>: HTML only, `code` spans as <code>.
        title = (
            f"{STATUS_ICON[c.status]} {code(c.id)}{req}: {html_inline(c.summary, SUMMARY_MAX)} "
            f"<sub>{c.duration_s:.2f}s</sub>"
        )
        return self._section(title, findings, c)

    def _section(self, title: str, findings: list[Finding], c: CheckResult | None) -> list[str]:
        lines = [f"<details><summary>{title}</summary>", ""]
        if c is not None:
            lines.append(f"{cell(c.title)}: **{c.status.value}**{'' if c.required else ' (optional)'}.")
            lines.append("")
        if findings:
            lines.append(FINDING_COLUMNS)
            lines += sections.limited([finding_row(f) for f in findings], self.row_limit, "findings")
        else:
            lines.append("No findings.")
        lines += ["", "</details>", ""]
        return lines

    @staticmethod
    def _tail(r: Report) -> list[str]:
        return [f"<sub>model-gate {cell(r.gate_version)} · generated {cell(r.generated_at)}</sub>"]


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
