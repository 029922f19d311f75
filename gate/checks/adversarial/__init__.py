"""Check `adversarial`: garak attacks the release's endpoint; the policy judges the rates.

garak runs as a subprocess (gate.redteam.runner) against the endpoint that
release.yaml declares. The gate reads garak's report itself and fails closed
(gate.redteam.report), computes attack success rates with Wilson intervals per
category (gate.redteam.judge), compares them with the policy's thresholds and
with the last approved release's report, and reports each failing category
with its technique ids and reproductions.

The package's modules: `rules`, `config` (the policy's settings), `check` (the run),
`baseline`, `judging` (a record's rates and findings), `guard` (the guard in the loop) and
`live` (the endpoint's live controls).
"""

from __future__ import annotations

from gate.checks.adversarial.baseline import BASELINE_MAX_BYTES, BASELINE_NAME, load_baseline
from gate.checks.adversarial.check import AdversarialCheck, model_digest
from gate.checks.adversarial.config import AdversarialConfig
from gate.checks.adversarial.guard import guard_summary, judge_guard
from gate.checks.adversarial.judging import judge_record
from gate.checks.adversarial.live import judge_live
from gate.checks.adversarial.rules import CHECK, RULES

__all__ = [
    "BASELINE_MAX_BYTES",
    "BASELINE_NAME",
    "CHECK",
    "RULES",
    "AdversarialCheck",
    "AdversarialConfig",
    "guard_summary",
    "judge_guard",
    "judge_live",
    "judge_record",
    "load_baseline",
    "model_digest",
]
