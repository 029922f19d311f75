"""The adversarial check's rules (what each finds, why it matters, an example, the fix)."""

from __future__ import annotations

from typing import Any

from gate.models.finding import Finding, Severity, new_finding, rule_maker

CHECK = "adversarial"


_rule = rule_maker(CHECK, technique=("LLM01:2025", "AML.T0051"))


RULES = (
    _rule(
        "GATE-AD001",
        "attack-success-over-threshold",
        Severity.HIGH,
        "Attacks of one category succeed against the model's endpoint more often than the policy allows.",
        "Each category (prompt injection, jailbreak, improper output handling, data leakage, ...) is an "
        "attack someone has published; a model that falls for it in testing falls for it in production. "
        "The rate is judged on its 95% interval (by default the lower bound, so a handful of samples "
        "does not block on noise).",
        "prompt-injection: 14 of 16 attacks succeeded (ASR 88%, 95% CI 64-97%) with a 5% limit at tier high.",
        "Apply the category's mitigation, then re-run `model-gate redteam` and read the reproductions; "
        "thresholds live under `checks.adversarial.thresholds` in the policy.",
    ),
    _rule(
        "GATE-AD002",
        "attack-success-regression",
        Severity.HIGH,
        "A category's attack success rate rose beyond the policy's tolerance since the baseline release.",
        "A rise against the last approved release means a change (fine-tuning, prompt, guard) weakened a "
        "defence, even when the rate is still under the absolute threshold.",
        "jailbreak: 22% against 6% in the baseline (+16 points; tolerance 5).",
        "Find the change that weakened the model (compare reproductions against the baseline), or, if the "
        "rise is accepted, approve this release's report as the new baseline.",
    ),
    _rule(
        "GATE-AD003",
        "attack-success-improved",
        Severity.INFO,
        "A category's attack success rate fell beyond the policy's tolerance since the baseline release.",
        "Improvements are worth recording: they show which defence worked and make the new report a "
        "better baseline.",
        "prompt-injection: 3% against 20% in the baseline (-17 points).",
        "Nothing to fix; consider approving this report as the new baseline.",
    ),
    _rule(
        "GATE-AD004",
        "probe-skipped-offline",
        Severity.LOW,
        "Probes of the policy's set were left out because the run is offline and they need downloads.",
        "A probe that did not run tested nothing: the categories it covers were judged on fewer attacks.",
        "`--offline` with `atkgen.Tox` in the probe set (it needs a model from the hub).",
        "Run without --offline where the hub is reachable, or pick probes from the offline-safe list.",
    ),
    _rule(
        "GATE-AD005",
        "guarded-attack-success-over-threshold",
        Severity.HIGH,
        "Attacks of one category get through the release's runtime guard more often than the policy allows.",
        "Users meet the guarded stack, not the bare model: what gets through the guard is what reaches "
        "them. The rate is measured on the same probes plus attacks aimed at filters (encodings, other "
        "languages, look-alike characters), judged on the 95% interval like every rate.",
        "prompt-injection: 9 of 40 attacks got through the guard (ASR 22%, 95% CI 12-38%), over the 5% "
        "limit (guard_max_asr).",
        "Strengthen the guard's rails for the category (the reproductions show what got through), then "
        "re-run; the limit is `checks.adversarial.guard_max_asr`.",
    ),
    _rule(
        "GATE-AD006",
        "guard-reduction-too-small",
        Severity.HIGH,
        "The runtime guard removes fewer attacks of a category than the policy requires.",
        "A guard that lets through what the bare model falls for adds latency and cost without "
        "protection; the drop from bare to guarded shows what the guard really does.",
        "jailbreak: 60% bare, 55% guarded: a drop of 5 points, under the 30 the policy requires.",
        "Add or fix the rail that covers the category; `checks.adversarial.guard_min_reduction` sets "
        "the drop required (the bare run is made where `guard_bare_run` is on).",
    ),
    _rule(
        "GATE-AD007",
        "guard-false-refusals-over-threshold",
        Severity.HIGH,
        "The runtime guard refuses more ordinary requests than the policy allows.",
        "A guard that blocks everything fails as surely as one that blocks nothing: users route around "
        "it, or the service is useless. The gate sends its own set of benign prompts through the guard.",
        "the guard refused 21 of 60 benign prompts (35%, 95% CI 24-48%), over the 10% limit.",
        "Narrow the rails that match words rather than intent (see the refused prompt ids); the limit "
        "is `checks.adversarial.guard_max_false_refusal`.",
    ),
    _rule(
        "GATE-AD008",
        "guard-bypassed",
        Severity.MEDIUM,
        "An attack built to slip past filters (an encoding, another language, invisible characters) "
        "got through the runtime guard.",
        "Filters that read only plain text are bypassed by re-encoding the same attack; each bypass is a "
        "working recipe for attackers.",
        "encoding.InjectBase64: 3 of 16 attacks got through the guard.",
        "Decode or normalise input before the rails judge it, or add a rail for the encoding; the "
        "reproduction is the prompt that got through.",
    ),
    _rule(
        "GATE-AD009",
        "endpoint-accepts-unauthenticated-requests",
        Severity.HIGH,
        "The release's endpoint answered a request that carried no credential.",
        "Authentication is what rate limits and quotas hang on: an open endpoint can be queried without "
        "limit, which is how models are extracted and abused.",
        "POST /v1/chat/completions without Authorization answered HTTP 200.",
        "Require a credential on every route of the endpoint (the gateway or the server).",
        technique=("LLM10:2025", "AML.T0024"),
    ),
    _rule(
        "GATE-AD010",
        "rate-limit-not-enforced",
        Severity.HIGH,
        "The endpoint did not answer 429 when requests went beyond the rate limit its monitoring "
        "config declares.",
        "The declared limit is the defence against model extraction and cost abuse through the API; a "
        "limit that is written down but not enforced defends nothing.",
        "rate_limit '10 requests/minute': 12 requests in 3 s, no 429.",
        "Enforce the limit at the gateway for the credential used, or correct the declared limit.",
        technique=("LLM10:2025", "AML.T0024"),
    ),
    _rule(
        "GATE-AD011",
        "response-exposes-more-than-declared",
        Severity.HIGH,
        "The endpoint's answer carries more than the release declares (log-probabilities, scores or "
        "logits where text or labels only are declared).",
        "Probabilities and logits make model extraction and membership inference far cheaper than "
        "labels or text alone.",
        "endpoint.output: labels, and the answer holds 'probabilities'.",
        "Strip the fields at the server or gateway, or declare what is really exposed (`endpoint.output`).",
        technique=("LLM10:2025", "AML.T0024"),
    ),
)


def finding(rule: str, title: str, **fields: Any) -> Finding:
    """A finding of one of this check's rules, as `AdversarialCheck.finding` builds it (the judging
    modules use this one, so that they need not import the check that imports them)."""
    found = next(r for r in RULES if rule in (r.code, r.name))
    return new_finding(found, title, check=CHECK, **fields)
