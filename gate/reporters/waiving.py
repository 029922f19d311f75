"""The `model-gate waiver new` command a report offers for a blocking finding: one builder
for every format that prints it (the HTML report, the Markdown summary).

A line is offered only where it can work: for a blocking finding with no waiver whose rule
is waivable in the catalogue and not listed in the policy's `unwaivable_rules` (which the
report records); otherwise the report says why the finding cannot be waived.
"""

from __future__ import annotations

import shlex

from gate.models.finding import Finding, Rule
from gate.models.policy import unwaivable_entry
from gate.models.report import Report

# The JSON report of the run (`check --format json --output report.json`): `waiver new`
# checks the finding id and the rule's waivability against it.
REPORT_FILE = "report.json"
REASON_PLACEHOLDER = "WHY THE RISK IS ACCEPTABLE"


def release_argument(path: str) -> str:
    """The release directory as the reader types it: relative to the repository root (CI's
    checkout, else the working directory; see gate.reporters.sarif) when it lies inside, so a
    summary written on a runner gives the pull request's author a path of their own checkout."""
    from gate.reporters.sarif import release_prefix, repository_root

    prefix = release_prefix(path, repository_root())
    if prefix is None:
        return path
    return prefix or "."


def waiver_command(report: Report, f: Finding) -> str:
    """The command line for one finding, shell-quoted (each format then escapes it)."""
    parts = [
        "model-gate",
        "waiver",
        "new",
        "--release",
        release_argument(report.release.path),
        "--report",
        REPORT_FILE,
        "--finding",
        f.id,
        "--justification",
        "risk_accepted",
        "--reason",
        REASON_PLACEHOLDER,
        "--expires",
        "30d",
    ]
    return " ".join(shlex.quote(p) for p in parts)


def why_not_waivable(report: Report, f: Finding, rule: Rule | None) -> str | None:
    """Why no waiver can cover this finding, or None. `rule`: the finding's rule in the
    caller's catalogue (None: unknown to it, so only the policy's list decides)."""
    if rule is not None and not rule.waivable:
        return "this rule cannot be waived"
    entry = unwaivable_entry(report.policy.unwaivable_rules, f.rule.code, f.rule.name)
    if entry is not None:
        return f"the policy makes this rule unwaivable ({entry})"
    return None


def offers_waiver(report: Report, f: Finding, rule: Rule | None) -> bool:
    """Whether a report offers a `waiver new` line for this finding."""
    return f.effective_blocking and f.waiver is None and why_not_waivable(report, f, rule) is None
