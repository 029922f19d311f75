"""Rules the engine itself raises, about how checks ran rather than what they found."""

from __future__ import annotations

from gate.models.finding import Rule, Severity

REQUIRED_CHECK_SKIPPED = Rule(
    code="GATE-GA001",
    name="required-check-skipped",
    check="gate",
    severity=Severity.HIGH,
    summary="A check that the policy requires at this tier did not run.",
    why="A gate that silently drops a required check passes releases nobody reviewed. "
    "Leaving a check out with --skip or --only, or a check finding nothing to check, "
    "must be a decision the policy records, not an accident of the command line.",
    example="`model-gate check ./release --skip model-signature` under a policy that "
    "requires model-signature at the release's tier.",
    fix="Run the check, or list it under `allow_skip` for this tier in the policy "
    "(reviewed like any other policy change).",
    waivable=False,
)

OPTIONAL_CHECK_INCOMPLETE = Rule(
    code="GATE-GA002",
    name="optional-check-incomplete",
    check="gate",
    severity=Severity.MEDIUM,
    summary="A check the policy lists as optional at this tier could not complete.",
    why="What the check would have judged is optional at this tier, so its absence does not "
    "decide the verdict (a required check that cannot complete fails closed, exit 3). But a "
    "check that silently did not run looks like one that passed: the report says so, with "
    "the reason, and the verdict is at least 'warn'.",
    example="At tier low, offline, the dependency audit cannot reach its vulnerability source.",
    fix="Fix the cause given in the finding (install the tool, give the check its data or "
    "network), or leave the check out with `--skip CHECK`. A policy that needs the answer "
    "lists the check under `fail_closed` (or `required`) for the tier.",
    waivable=False,
)

UNTRUSTED_BASELINE = Rule(
    code="GATE-GA003",
    name="untrusted-baseline",
    check="gate",
    severity=Severity.LOW,
    summary="The policy blocks on new findings only, but the baseline given with --baseline is not "
    "trusted: every blocking finding blocks.",
    why="A baseline decides which findings stop blocking, so whoever can write it can hide any "
    "finding by listing its id. An unsigned report, a verdict for another release line, a stale "
    "one, or one changed after it was signed is shown for information only.",
    example="A pull request passes `--baseline report.json`, a report it wrote itself that lists "
    "the ids of the findings it introduces.",
    fix="Give the signed verdict that `model-gate check --attest` wrote on the base branch for the "
    "same release name, signed by one of the policy's `baseline.signers`, no older than "
    "`baseline.max_age_days`.",
    waivable=False,
)

WAIVER_REJECTED = Rule(
    code="GATE-WV001",
    name="waiver-rejected",
    check="waivers",
    severity=Severity.LOW,
    summary="A waiver given with --waivers was not applied; the findings it names still count.",
    why="A rejected waiver is either a mistake (expired, signed by the wrong key, made for "
    "another build) or an attempt to pass a release nobody approved. Either way the reviewers "
    "need to see it, with the reason, next to the findings that stay blocking.",
    example="A waiver whose signature no longer verifies because its expiry date was edited "
    "after the reviewer signed it.",
    fix="Read the reason in the report's waiver section. Ask the reviewers for a new waiver "
    "for this release (`model-gate waiver new` and `waiver sign`), or fix the finding.",
    waivable=False,
)

WAIVER_UNUSED = Rule(
    code="GATE-WV002",
    name="waiver-matches-no-finding",
    check="waivers",
    severity=Severity.INFO,
    summary="A valid waiver names findings that this release does not have.",
    why="Stale waivers pile up and hide which risks are really accepted; one that matches "
    "nothing may also mean the finding it was meant for changed its id.",
    example="A waiver for GATE-RI005 on model/old_code.py after the file was removed.",
    fix="Delete the waiver, or issue one for the finding ids in the current report.",
    waivable=False,
)

WAIVER_EXPIRING = Rule(
    code="GATE-WV003",
    name="waiver-expiring-soon",
    check="waivers",
    severity=Severity.LOW,
    summary="An applied waiver expires within the policy's warning window.",
    why="When the waiver expires the finding blocks again, typically in the middle of a "
    "release: renew it or fix the finding before then.",
    example="A waiver expiring in 3 days under a policy with `warn_days: 14`.",
    fix="Fix the finding, or ask the reviewers for a new waiver within the policy's limits.",
    waivable=False,
)

WAIVER_RULES: tuple[Rule, ...] = (WAIVER_REJECTED, WAIVER_UNUSED, WAIVER_EXPIRING)

ENGINE_RULES: tuple[Rule, ...] = (
    REQUIRED_CHECK_SKIPPED,
    OPTIONAL_CHECK_INCOMPLETE,
    UNTRUSTED_BASELINE,
    *WAIVER_RULES,
)
