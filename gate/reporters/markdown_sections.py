"""Sections of the Markdown summary that are tables of numbers: findings by check and severity,
attack success rates, the tier scorecard, the monitoring controls; and the block of
`waiver new` lines for the blocking findings.

Text from the report goes through `cell` (a table cell) or `code` (an identifier); a table
longer than the reporter's row limit ends with "… and N more in the HTML report".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gate.escape import code_fence, html_inline, markdown
from gate.escape import text as one_line
from gate.models.finding import Finding, Rule
from gate.models.report import Report
from gate.reporters.text import location_text
from gate.reporters.views import (
    SEVERITIES,
    asr_categories,
    controls,
    count_matrix,
    monitoring_score,
    pct,
    tier_scorecard,
)
from gate.reporters.waiving import REPORT_FILE, offers_waiver, waiver_command, why_not_waivable

CELL_MAX = 600  # characters per table cell: one hostile title must not eat the budget
ROW_LIMIT = 50  # rows per table; the HTML report has them all


def cell(text: str | None, limit: int = CELL_MAX) -> str:
    """Make text safe inside a table cell or list item (gate.escape.markdown)."""
    return markdown(text, limit)


def code(text: str | None, limit: int = 200) -> str:
    """An identifier (finding id, rule code, check id) as <code>: inert in a table cell and in
    HTML (a <summary>), where a Markdown code span would show its backticks."""
    return f"<code>{html_inline(text, limit, code_spans=False)}</code>"


def more(n: int, what: str = "") -> list[str]:
    """The line that ends a cut table (after a blank line: a line right below a table's rows
    would become a row of it)."""
    return ["", f"… and {n} more{' ' + what if what else ''} in the HTML report."] if n > 0 else []


def limited(rows: Sequence[str], limit: int, what: str = "") -> list[str]:
    return [*rows[:limit], *more(len(rows) - limit, what)]


def counts(r: Report) -> list[str]:
    """Findings by check and severity, with the blocking count per check."""
    m = count_matrix(r)
    head = " | ".join(s.value for s in SEVERITIES)
    lines = [
        "### Findings by check and severity",
        "",
        f"| Check | {head} | Blocking |",
        "|---|" + "--:|" * (len(SEVERITIES) + 1),
    ]
    for cid in m.checks:
        nums = " | ".join(str(m.count(cid, s)) for s in SEVERITIES)
        b = m.blocking.get(cid, 0)
        lines.append(f"| {code(cid)} | {nums} | {f'**{b}**' if b else '0'} |")
    totals = " | ".join(str(m.total(s)) for s in SEVERITIES)
    lines += [f"| **total** | {totals} | **{sum(m.blocking.values())}** |", ""]
    return lines


def waiver_lines(r: Report, rule_of: Callable[[str], Rule | None], limit: int) -> list[str]:
    """One copy-paste `model-gate waiver new` line per blocking finding a waiver can cover; the
    others listed with the reason they cannot be waived."""
    blocking = [f for f in r.findings if f.effective_blocking and f.waiver is None]
    if not blocking:
        return []
    offered = [f for f in blocking if offers_waiver(r, f, rule_of(f.rule.code))]
    refused = [f for f in blocking if f not in offered]
    lines = ["### Waive a blocking finding", ""]
    if offered:
        lines += [
            f"Run the finding's line where the release and this run's JSON report (`{REPORT_FILE}`) "
            "are, with your reason; reviewers then sign the waiver (`model-gate waiver sign`).",
            "",
        ]
        # Each comment and command is one printable line: nothing in it can end the block
        # (the fence is longer than any run of backticks) or start a second command.
        body: list[str] = []
        for f in offered[:limit]:
            body.append(f"# {one_line(f.rule.code)} {one_line(f.rule.name)}: {one_line(f.title)[:120]}")
            body.append(one_line(waiver_command(r, f)))
        text = "\n".join(body)
        fence = code_fence(text)
        lines += [f"{fence}sh", text, fence, *more(len(offered) - limit, "waivable findings"), ""]
    if refused:
        lines.append(f"Cannot be waived ({len(refused)}):")
        lines.append("")
        for f in refused[:limit]:
            why = why_not_waivable(r, f, rule_of(f.rule.code)) or "not waivable"
            lines.append(f"- {code(f.id)} {code(f.rule.code)}: {cell(why)}")
        lines += [*more(len(refused) - limit), ""]
    return lines


def asr(r: Report, limit: int) -> list[str]:
    cats = asr_categories(r)
    if not cats:
        return []
    state = {"over": "❌ over", "regressed": "❌ regressed", "ok": "✅"}
    rows = []
    for c in cats:
        change = "-" if c.delta is None else f"{c.delta * 100:+.0f} pt"
        raw = c.raw
        rows.append(
            f"| {code(str(raw.get('category', '?')))} | {cell(str(raw.get('title') or ''))} | "
            f"{cell(str(raw.get('fails')))}/{cell(str(raw.get('total')))} | {pct(c.asr)} | "
            f"{pct(c.low)}–{pct(c.high)} | {pct(c.threshold)} | {cell(str(raw.get('decide_on') or '-'))} | "
            f"{pct(c.baseline)} | {change} | {state[c.state]} |"
        )
    return [
        "### Attack success rate per category",
        "",
        "| Category | Title | Fails/total | ASR | 95% Wilson interval | Threshold | Decided on | "
        "Baseline | Change | |",
        "|---|---|--:|--:|--:|--:|---|--:|--:|---|",
        *limited(rows, limit, "categories"),
        "",
    ]


def tier(r: Report) -> list[str]:
    t = r.tier
    card = tier_scorecard(r)
    lines = [
        f"### Risk tier: {code(t.level.value)}",
        "",
        "| Factor | Value | Points |",
        "|---|---|--:|",
    ]
    lines += [f"| {cell(f.name)} | {cell(f.value)} | +{f.points} |" for f in t.factors]
    lines += [
        f"| **score** | | **{t.score}** → {cell(card.by_score.value)} |",
        "",
        f"{cell(card.floor_text(t.eu_ai_act))}. Tier: **{cell(t.level.value)}**.",
        "",
    ]
    lines += [f"- {cell(line)}" for line in t.rationale]
    return [*lines, ""] if t.rationale else lines


def monitoring(r: Report, limit: int) -> list[str]:
    found = controls(r)
    if not found:
        return []
    mark = {"yes": "✓", "part": "◐", "no": "✗"}
    rows = [
        f"| {code(c.id)} | {cell(str(c.name or ''))} | {cell(str(c.section or ''))} | "
        f"{'required' if c.required else 'optional'} | {mark[c.mark]} {cell(c.status)} | "
        f"{cell('; '.join(c.notes))} |"
        for c in found
    ]
    score = monitoring_score(r)
    scored = f" (score {score:.0%})" if score is not None else ""
    return [
        f"### Monitoring controls{scored}",
        "",
        "| Control | Name | Section | | Status | Evidence |",
        "|---|---|---|---|---|---|",
        *limited(rows, limit, "controls"),
        "",
    ]


def finding_row(f: Finding) -> str:
    state = " (waived)" if f.waiver else ""
    if f.baseline:
        state += f" · {cell(f.baseline)}"
    return (
        f"| {f.severity.value} | {code(f.rule.code)} {cell(f.rule.name)}{state} | {cell(f.title)} | "
        f"{cell(location_text(f))} | {cell(f.mitigation)} | {code(f.id)} |"
    )


FINDING_COLUMNS = "| Severity | Rule | Finding | Location | Fix | Id |\n|---|---|---|---|---|---|"
