"""Documentation generated from the code: rule pages and the README's generated sections."""

from __future__ import annotations

import textwrap

from gate.models.finding import Rule


def rule_doc(rule: Rule) -> str:
    """`model-gate explain RULE`: the same sections for every rule, ruff style."""

    def wrap(text: str) -> str:
        return textwrap.fill(text, width=88)

    parts = [
        f"{rule.code} {rule.name}",
        f"check: {rule.check} · default severity: {rule.severity.value}"
        + ("" if rule.waivable else " · cannot be waived")
        + (" · always blocks" if rule.always_blocks else ""),
        "",
        "What it does",
        wrap(rule.summary),
        "",
        "Why it matters",
        wrap(rule.why),
        "",
        "Example",
        wrap(rule.example),
        "",
        "How to fix",
        wrap(rule.fix),
    ]
    if rule.technique:
        parts += ["", "Techniques", ", ".join(rule.technique)]
    return "\n".join(parts)


def rules_table() -> str:
    """The README's rule table."""
    from gate.checks import all_rules

    rows = ["| Code | Name | Check | Severity | What it finds |", "|---|---|---|---|---|"]
    for r in all_rules():
        rows.append(f"| `{r.code}` | `{r.name}` | {r.check} | {r.severity.value} | {r.summary} |")
    return "\n".join(rows)


def checks_table() -> str:
    from gate.checks import all_checks

    rows = ["| Check | What it verifies |", "|---|---|"]
    for c in all_checks():
        rows.append(f"| `{c.id}` | {c.description} |")
    return "\n".join(rows)
