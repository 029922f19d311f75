"""Documentation generated from the code: rule pages and the README's generated sections."""

from __future__ import annotations

import re
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


def severity_cell(rule: Rule) -> str:
    """The default severity, with what no policy can change about it."""
    fixed = [
        text
        for on, text in ((rule.always_blocks, "always blocks"), (not rule.waivable, "cannot be waived"))
        if on
    ]
    return rule.severity.value + (f" ({', '.join(fixed)})" if fixed else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rule_table(checks: list[str]) -> str:
    """The rules of `checks` (check ids, or `gate` and `waivers` for the engine's), for a docs page."""
    from gate.checks import all_rules

    rules = [r for r in all_rules() if r.check in checks]
    missing = set(checks) - {r.check for r in rules}
    if missing:
        raise KeyError(f"no rules for {', '.join(sorted(missing))}")
    rows = ["| Code | Name | Severity | What it finds |", "|---|---|---|---|"]
    rows += [f"| `{r.code}` | `{r.name}` | {severity_cell(r)} | {_cell(r.summary)} |" for r in rules]
    return "\n".join(rows)


DOC_RULES = re.compile(r"<!-- BEGIN GENERATED: (rules ([a-z0-9, -]+)) -->")


def doc_rule_sections(text: str) -> dict[str, str]:
    """Generated rule tables a docs page asks for with `<!-- BEGIN GENERATED: rules CHECK[, CHECK] -->`."""
    return {
        m.group(1): rule_table([c.strip() for c in m.group(2).split(",")]) for m in DOC_RULES.finditer(text)
    }


def checks_table() -> str:
    from gate.checks import all_checks

    rows = ["| Check | What it verifies |", "|---|---|"]
    for c in all_checks():
        rows.append(f"| `{c.id}` | {c.description} |")
    return "\n".join(rows)


RULE_REF = re.compile(r"(?:GATE-)?([A-Z]{2}\d{3})(?:-[0-9a-f]{16})?", re.IGNORECASE)


def resolve_rule(text: str) -> tuple[Rule | None, list[str]]:
    """The rule `explain` was asked about, by what a user has at hand.

    A full code (GATE-MF015), a short one (MF015), a rule name (unsafe-pickle-import) or a
    finding id as a report prints it (GATE-DP001-0123456789abcdef). When nothing matches, the
    closest codes and names, for a "did you mean".
    """
    import difflib

    from gate.checks import all_rules, find_rule

    key = text.strip()
    m = RULE_REF.fullmatch(key)
    found = find_rule(f"GATE-{m.group(1).upper()}" if m else key)
    if found is not None:
        return found, []
    rules = all_rules()
    known = [r.code for r in rules] + [r.code.removeprefix("GATE-") for r in rules] + [r.name for r in rules]
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=3, cutoff=0.6)
    return None, [by_lower[c] for c in close]
