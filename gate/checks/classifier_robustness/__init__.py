"""Check `classifier-robustness`: evasion attacks on the release's classifier, judged by policy.

The one check that executes model content, and only inside the boundary `gate.robustness`
draws: an ONNX graph of standard operators, run by onnxruntime in a child process with limits
and no network, after the model-files check passed in the same run (the engine enforces that
through `runs_after`; the check also refuses any file model-files reported on). It measures
clean accuracy on the release's evaluation set, then robust accuracy under each L∞ budget the
policy names: gradient attacks (FGSM, PGD with restarts) where the graph translates to torch,
Square (black-box, with its query budget reported) where it does not. An example counts as
robust only if no attack flips it. Results are cached by model, evaluation set and settings.

The package's face.

- `rules`: the rules and their documentation;
- `config`: the policy settings;
- `inputs`: what will run, read once from verified bytes, and the job and cache key;
- `check`: the check, which keeps the execution boundary and runs the child (or the cache);
- `judge`: clean and robust accuracy per threat model, intervals, findings.
"""

from __future__ import annotations

from gate.checks.classifier_robustness.check import ClassifierRobustnessCheck
from gate.checks.classifier_robustness.config import (
    BUDGET_KEY,
    KIND_OF_TASK,
    ClassifierRobustnessConfig,
    budget_key,
)
from gate.checks.classifier_robustness.inputs import classifier_file
from gate.checks.classifier_robustness.judge import judge
from gate.checks.classifier_robustness.rules import CHECK, RULES, TECHNIQUE

__all__ = [
    "BUDGET_KEY",
    "CHECK",
    "KIND_OF_TASK",
    "RULES",
    "TECHNIQUE",
    "ClassifierRobustnessCheck",
    "ClassifierRobustnessConfig",
    "budget_key",
    "classifier_file",
    "judge",
]
