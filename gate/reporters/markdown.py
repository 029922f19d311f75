"""The Markdown report: the body of a GitHub job summary, worth reading on its own."""

from __future__ import annotations

from gate.models.finding import Finding
from gate.models.report import CheckStatus, Report, Verdict
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


def cell(text: str | None) -> str:
    """Make text safe inside a table cell: no pipes, no newlines, no raw HTML."""
    return (
        (text or "")
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


class MarkdownReporter(Reporter):
    name = "markdown"
    suffix = ".md"

    def render(self, report: Report, *, color: bool = False) -> str:
        r = report
        lines: list[str] = []
        add = lines.append
        add(
            f"## {ICON[r.verdict]} model-gate: **{r.verdict.value.upper()}** — "
            f"{cell(r.release.name)} {cell(r.release.version)}"
        )
        add("")
        add(
            f"**Tier:** `{r.tier.level.value}` (EU AI Act: {r.tier.eu_ai_act}, score {r.tier.score}) · "
            f"**Policy:** `{cell(r.policy.name)}` (`sha256:{r.policy.sha256[:12]}`) · "
            f"**Release digest:** `{r.release.digest}`"
        )
        add("")
        for line in r.tier.rationale:
            add(f"- {cell(line)}")
        for note in r.policy.notes:
            add(f"- ⚠️ {cell(note)}")
        add("")
        blocking = [f for f in r.findings if f.effective_blocking]
        if blocking:
            add(f"### Blocking findings ({len(blocking)})")
            add("")
            add("| Severity | Rule | Finding | Location | Fix |")
            add("|---|---|---|---|---|")
            for f in blocking:
                add(self._row(f))
            add("")
        else:
            add("No blocking findings.")
            add("")
        waived = [f for f in r.findings if f.waiver]
        if r.waivers or waived:
            add("### Waivers")
            add("")
            add("| Status | Waiver | Reason | Findings |")
            add("|---|---|---|---|")
            for w in r.waivers:
                add(
                    f"| {w.status.value} | `{cell(w.path)}` | {cell(w.reason)} | "
                    f"{cell(', '.join(w.findings))} |"
                )
            add("")
        other = [f for f in r.findings if not f.effective_blocking]
        if other:
            add("<details><summary>Other findings (" + str(len(other)) + ")</summary>")
            add("")
            add("| Severity | Rule | Finding | Location | Fix |")
            add("|---|---|---|---|---|")
            for f in other:
                add(self._row(f))
            add("")
            add("</details>")
            add("")
        add("<details><summary>Checks</summary>")
        add("")
        add("| | Check | Required | Summary | Time |")
        add("|---|---|---|---|---|")
        for c in r.checks:
            add(
                f"| {STATUS_ICON[c.status]} | `{c.id}` | {'yes' if c.required else 'no'} | "
                f"{cell(c.summary)} | {c.duration_s:.2f}s |"
            )
        add("")
        add("</details>")
        add("")
        add(f"<sub>model-gate {r.gate_version} · exit code {r.exit_code}</sub>")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _row(f: Finding) -> str:
        waived = " (waived)" if f.waiver else ""
        return (
            f"| {f.severity.value} | `{f.rule.code}` {f.rule.name}{waived} | {cell(f.title)} | "
            f"{cell(location_text(f))} | {cell(f.mitigation)} |"
        )
