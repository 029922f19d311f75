"""Backdoor triggers: rare tokens or word pairs that decide the outcome on their own.

A backdoor is planted by adding a rare trigger to some examples and giving
them the attacker's label (or response). Two passes:

1. Count, per outcome (the label, or for generative data the response's
   opening words when that response repeats), how often each token and word
   pair occurs in prompts. Memory is bounded (`max_vocabulary`,
   `max_counts`): when full, the rarest tokens and pairs are pruned; a
   trigger that reaches the minimum support keeps coming back and is
   counted again. Candidates: rare (support share below a ceiling), skewed
   to one outcome and significant by a one-sided binomial test against that
   outcome's base rate, Bonferroni-adjusted for every token and outcome tested.
2. Read the candidates' rows again: exact row support and skew, example
   rows, and the context test. A natural cue word ("excellent" in reviews)
   is backed by the rest of its rows (the other words point to the same
   label); a trigger is not: in a label-flipping attack the rest of the row
   points to the original label, in an instruction backdoor to nothing in
   particular. The context is scored with naive Bayes log-odds over the
   row's other words, from the pass-1 counts.

The package's face.

- `outcomes`: what a row teaches (its label, or what its response does);
- `counting`: pass 1, the memory-bounded counts and the candidates screened from them;
- `verifying`: pass 2, the candidates' rows read again and the context test.
"""

from __future__ import annotations

from gate.datacheck.triggers.counting import (
    Candidate,
    TriggerCounter,
    _fair_share,  # the band-wise cap, tested on its own
    find_candidates,
    label_carriers,
)
from gate.datacheck.triggers.outcomes import NONE, OTHER, UNIQUE, Outcomes, describe, effect, is_effect
from gate.datacheck.triggers.verifying import Trigger, TriggerResult, TriggerVerifier, summary
from gate.datacheck.vocab import HAVE_NUMPY  # the switch itself is vocab's, read by both passes

__all__ = [
    "HAVE_NUMPY",
    "NONE",
    "OTHER",
    "UNIQUE",
    "Candidate",
    "Outcomes",
    "Trigger",
    "TriggerCounter",
    "TriggerResult",
    "TriggerVerifier",
    "_fair_share",
    "describe",
    "effect",
    "find_candidates",
    "is_effect",
    "label_carriers",
    "summary",
]
